"""JWTs (gateway.sources.oidc, web_identity): any token, header, claim set or key set is
turned into an identity or refused with an STS error (`InvalidIdentityToken`,
`ExpiredTokenException`, `IDPRejectedClaim`, `IDPCommunicationError`); nothing else.

The claims path runs exactly what follows a valid signature in
`gateway.sources.oidc.tokens.identity_from_jwt`: an IdP (or an attacker holding one of
its keys) chooses every claim.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from joserfc.jwk import ECKey, RSAKey

from gateway.sources.oidc import claims as claim_rules
from gateway.sources.oidc import google
from gateway.sources.oidc.id_token import Unverified, check_claims, peek, verify_signature
from gateway.sources.oidc.jwks import parse_key_set
from gateway.store.snapshot import IdentityProvider
from gateway.sts.errors import StsError
from tests.fuzz.strategies import JSON, WORD, key, mixed, often

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
ISSUER = "https://idp.example.com"
CLIENT = "client-1"
RSA = RSAKey.generate_key(2048)
EC = ECKey.generate_key("P-256")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def provider(kind: str) -> IdentityProvider:
    return IdentityProvider(
        name="idp", kind=kind, account_id="111111111111",  # type: ignore[arg-type]
        arn="arn:aws:iam::111111111111:oidc-provider/idp.example.com",
        federated_principal="idp.example.com", display_name=None, metadata_url=None,
        metadata_xml=None, issuer=ISSUER, client_ids=(CLIENT,), client_secret=None,
        scopes=(), endpoints={},
        options={"hosted_domains": ("example.com",)} if kind == "google" else {}, rules=(),
    )


numbers = st.one_of(st.integers(T - 10**6, T + 10**6), st.integers(), st.floats(),
                    st.sampled_from([T, T - 60, T + 3600, 10**20, -(10**20), True, "123"]))


claim_sets = st.fixed_dictionaries(
    {"iss": often(ISSUER, JSON), "aud": often(CLIENT, mixed([CLIENT], [CLIENT, "other"])),
     "sub": often("user-1", mixed("x" * 300, "")), "exp": often(T + 3600, numbers),
     "iat": often(T - 60, numbers)},
    optional={
        "azp": mixed(CLIENT), "nbf": numbers, "auth_time": numbers, "nonce": WORD,
        "email": mixed("a@example.com"), "email_verified": mixed(True, "true", False),
        "preferred_username": mixed("alice smith"), "groups": mixed(["a", "b"]),
        "hd": mixed("example.com"), "jti": WORD,
        claim_rules.TAGS_CLAIM: st.one_of(
            st.fixed_dictionaries({}, optional={
                "principal_tags": st.dictionaries(key("team"), mixed(["x"], ["x", "y"])),
                "transitive_tag_keys": mixed(["team"])}),
            JSON),
        claim_rules.SOURCE_IDENTITY_CLAIM: mixed("alice"),
    },
).flatmap(lambda base: st.dictionaries(key("extra", "name", "amr"), JSON, max_size=3)
          .map(lambda extra: {**extra, **base}))


@given(claims=claim_sets, kind=st.sampled_from(["oidc", "google", "facebook", "amazon"]))
def test_any_claims_after_a_valid_signature_become_an_identity_or_an_sts_error(
    claims: dict[str, Any], kind: str,
) -> None:
    idp = provider(kind)
    try:
        check_claims(claims, issuers=(ISSUER,), client_ids=idp.client_ids, now=NOW, skew=120,
                     max_age=86400)
        if kind == "google":
            google.check(idp, claims)
        identity = claim_rules.from_id_token(
            idp, claims, "header.payload.signature", issuer=ISSUER,
            condition_provider="idp.example.com",
            email_is_verified=claim_rules.verified(claims) or kind == "facebook",
        )
    except StsError as exc:
        event(f"refused: {exc.code}")
        assert 400 <= exc.status < 500
        return
    event("accepted")
    assert identity.subject == claims["sub"]
    assert 2 <= len(identity.session_name) <= 64


headers = st.one_of(
    st.fixed_dictionaries({"alg": mixed("RS256", "ES256", "none", "HS256", "PS512")},
                          optional={"kid": mixed("k1", "x" * 300), "typ": WORD,
                                    "crit": JSON, "jku": WORD}),
    JSON,
)


def _segment(value: Any) -> str:
    try:
        return b64url(json.dumps(value).encode())
    except (TypeError, ValueError):
        return b64url(repr(value).encode())


tokens = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from([".", "eyJ", "==", "-", "_", "+", "/", "a"]), max_size=30)
    .map("".join),
    st.tuples(headers, JSON | claim_sets, st.binary(max_size=300)).map(
        lambda parts: f"{_segment(parts[0])}.{_segment(parts[1])}.{b64url(parts[2])}"),
)


@given(token=tokens)
def test_any_token_is_peeked_or_refused_and_never_verifies_by_accident(token: str) -> None:
    try:
        unverified = peek(token)
    except StsError as exc:
        assert exc.code == "InvalidIdentityToken"
        return
    for public in (RSA, EC):
        try:
            verify_signature(unverified, public)
        except StsError as exc:
            assert exc.code == "InvalidIdentityToken"
        else:
            raise AssertionError("a random signature verified")


@given(document=st.one_of(
    JSON,
    st.fixed_dictionaries({"keys": st.lists(st.one_of(
        st.just(RSA.as_dict(private=False)), st.just(EC.as_dict(private=False)),
        st.dictionaries(key("kty", "kid", "use", "alg", "n", "e", "crv", "x", "y", "d"),
                        mixed("RSA", "EC", "sig", "enc", "RS256", "P-256", "AQAB", "", "k1")),
        JSON), max_size=4)})))
def test_any_key_set_parses_or_is_a_communication_error(document: Any) -> None:
    if not isinstance(document, dict):
        return
    try:
        by_kid, unnamed, _ = parse_key_set(document)
    except StsError as exc:
        assert exc.code == "IDPCommunicationError"
        return
    for public in [*by_kid.values(), *unnamed]:
        assert isinstance(public, RSAKey | ECKey)


def test_the_generators_reach_acceptance() -> None:
    """A well-formed token peeks, so the fuzzers explore past the first check."""
    token = f"{_segment({'alg': 'RS256', 'kid': 'k1'})}.{_segment({'sub': 'x'})}.{b64url(b'x')}"
    assert isinstance(peek(token), Unverified)


BASE = {"iss": ISSUER, "aud": CLIENT, "sub": "user-1", "exp": T + 3600, "iat": T - 60}


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "NaN", "Infinity"])
def test_found_non_finite_times_are_an_invalid_token_not_a_crash(literal: str) -> None:
    """A forged token reached int(inf) before any signature check: a 500 per request."""
    payload = json.dumps(BASE).replace(f'"exp": {T + 3600}', f'"exp": {literal}')
    token = f"{_segment({'alg': 'RS256'})}.{b64url(payload.encode())}.{b64url(b'x')}"
    with pytest.raises(StsError) as caught:
        check_claims(peek(token).claims, issuers=(ISSUER,), client_ids=(CLIENT,), now=NOW,
                     skew=120, max_age=86400)
    assert caught.value.code == "InvalidIdentityToken"
    with pytest.raises(StsError):
        check_claims({**BASE, "iat": float("inf")}, issuers=(ISSUER,), client_ids=(CLIENT,),
                     now=NOW, skew=120, max_age=86400)


def test_found_an_auth_time_no_calendar_holds_is_unknown_not_a_crash() -> None:
    identity = claim_rules.from_id_token(
        provider("oidc"), {**BASE, "auth_time": 10**20}, "h.p.s", issuer=ISSUER,
        condition_provider="idp.example.com", email_is_verified=False)
    assert identity.auth_time is None
