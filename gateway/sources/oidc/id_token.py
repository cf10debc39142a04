"""ID token (JWS compact JWT) validation, stricter than authlib 1.9's `parse_id_token`.

* Algorithms come from a fixed allow-list, never from the provider's discovery
  document: `none` and every HMAC algorithm are refused before any key is looked at.
* The key comes only from the provider's published key set, chosen by `kid`; the
  token's `jku`, `x5u`, `jwk` and `x5c` headers are ignored and `crit` is refused.
* `iss` must equal the provider's issuer, `aud` must contain one of our client ids,
  and an `azp` (or a second audience) must name one of our client ids as well.
* `exp` is required and past-due tokens are `ExpiredTokenException`; `nbf` honoured;
  `iat` is required, never in the future, and not older than the caller allows.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.sources.oidc.jwks import compatible
from gateway.sts.errors import ExpiredTokenException, InvalidIdentityToken

ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
MAX_TOKEN_LENGTH = 20000  # botocore's clientTokenType maximum
MAX_KID_LENGTH = 256

if TYPE_CHECKING:
    from gateway.sources.oidc.jwks import PublicKey


@dataclass(frozen=True, slots=True)
class Unverified:
    """A token split and decoded, not yet trusted: only routing may read it."""

    token: str
    header: Mapping[str, Any]
    claims: Mapping[str, Any]

    @property
    def alg(self) -> str:
        return str(self.header["alg"])

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def _b64json(segment: str, what: str) -> Mapping[str, Any]:
    try:
        padded = segment + "=" * (-len(segment) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
        value = json.loads(raw, parse_constant=_not_json)
    except (binascii.Error, ValueError) as exc:
        raise InvalidIdentityToken(
            "The web identity token is not a well-formed JWT.", detail=f"{what}: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise InvalidIdentityToken("The web identity token is not a well-formed JWT.",
                                   detail=f"{what} is not a JSON object")
    return value


def peek(token: str) -> Unverified:
    """Split and decode a compact JWS; check the header's shape (no trust yet)."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidIdentityToken("The web identity token is too long.")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise InvalidIdentityToken(
            "The web identity token is not a signed JWT (compact JWS with three parts)."
        )
    header = _b64json(parts[0], "header")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        # `none`, HS256 keyed with the provider's public key, and anything exotic.
        raise InvalidIdentityToken(
            "The token's signing algorithm is not allowed (RS*, PS* or ES* only).",
            detail=f"alg={alg!r}",
        )
    if "crit" in header:
        raise InvalidIdentityToken("The token has critical header parameters this gateway "
                                   "does not understand.", detail=f"crit={header['crit']!r}")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or len(kid) > MAX_KID_LENGTH):
        raise InvalidIdentityToken("The token's key id is malformed.")
    if not parts[2]:
        raise InvalidIdentityToken("The web identity token has no signature.")
    claims = _b64json(parts[1], "payload")
    return Unverified(token, header, claims)


def verify_signature(token: Unverified, key: PublicKey) -> None:
    """The signature over header and payload, with the header's (allowed) algorithm only.

    `peek` already split the token and checked its header, so only joserfc's algorithm
    is called here: its full `deserialize_compact` would parse and check it all again,
    which took as long as the RSA verification itself.
    """
    from joserfc.errors import JoseError  # on first use, like jwks.py
    from joserfc.jws import JWSRegistry

    if not compatible(token.alg, key):
        raise InvalidIdentityToken("The token's signature is not valid.",
                                   detail=f"a {type(key).__name__} cannot verify {token.alg}")
    header_and_payload, _, signature = token.token.rpartition(".")
    try:
        raw = base64.b64decode(signature + "=" * (-len(signature) % 4), altchars=b"-_",
                               validate=True)
        valid = JWSRegistry.algorithms[token.alg].verify(
            header_and_payload.encode("ascii"), raw, key
        )
    except (binascii.Error, JoseError, ValueError, UnicodeEncodeError) as exc:
        raise InvalidIdentityToken(
            "The token's signature is not valid.", detail=f"{type(exc).__name__}: {exc}"
        ) from None
    if not valid:
        raise InvalidIdentityToken("The token's signature is not valid.",
                                   detail="signature does not verify")


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> int | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise InvalidIdentityToken(f"The token has no '{name}' claim.")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        # 1e400 parses as infinity (found by tests/fuzz): not a time either.
        raise InvalidIdentityToken(f"The token's '{name}' claim is not a number.")
    return int(value)


def audiences(claims: Mapping[str, Any]) -> tuple[str, ...]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        return tuple(aud)
    raise InvalidIdentityToken("Incorrect token audience", detail=f"aud={aud!r}")


def check_claims(
    claims: Mapping[str, Any],
    *,
    issuers: Collection[str],
    client_ids: Collection[str],
    now: datetime,
    skew: int,
    max_age: int,
    nonce: str | None = None,
) -> None:
    """Every registered-claim rule (OpenID Connect Core §3.1.3.7 and RFC 8725)."""
    if claims.get("iss") not in issuers:
        raise InvalidIdentityToken("The token's issuer is not the configured provider.",
                                   detail=f"iss={claims.get('iss')!r}")
    aud = audiences(claims)
    if not any(a in client_ids for a in aud):
        raise InvalidIdentityToken("Incorrect token audience", detail=f"aud={list(aud)!r}")
    azp = claims.get("azp")
    # The authorized party is the client the token was issued to; with several audiences
    # it must be present, and it must always be one of ours (the aud check authlib 1.9
    # skips when azp is present).
    if (azp is not None or len(aud) > 1) and (not isinstance(azp, str) or azp not in client_ids):
        raise InvalidIdentityToken("Incorrect token audience",
                                       detail=f"azp={azp!r} is not a configured client id")
    current = int(now.timestamp())
    exp = _number(claims, "exp", required=True)
    assert exp is not None
    if current >= exp + skew:
        # AWS's wording, including its missing space.
        raise ExpiredTokenException(
            f"Token expired: current date/time {current} must be before the expiration "
            f"date/time{exp}"
        )
    nbf = _number(claims, "nbf", required=False)
    if nbf is not None and current + skew < nbf:
        raise InvalidIdentityToken("The token is not valid yet (nbf is in the future).")
    iat = _number(claims, "iat", required=True)
    assert iat is not None
    if iat > current + skew:
        raise InvalidIdentityToken("The token was issued in the future (iat).",
                                   detail=f"iat={iat} now={current}")
    if current - iat > max_age + skew:
        raise ExpiredTokenException(f"Token too old: {current - iat}")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 1 <= len(sub) <= 255:
        raise InvalidIdentityToken("The token's 'sub' claim is missing or malformed.")
    if nonce is not None and claims.get("nonce") != nonce:
        raise InvalidIdentityToken("The token's nonce does not match this sign-in.",
                                   detail="nonce missing or replayed")
