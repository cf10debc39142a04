"""Login with Amazon access tokens: token-info (its `aud` must be our client id), then
the profile the token grants, which must be the token's user."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from gateway.iam.context import web_identity_keys
from gateway.identity import FederatedIdentity
from gateway.sources.oidc import claims as claim_rules
from gateway.sources.oidc import http
from gateway.sources.oidc.discovery import metadata
from gateway.store.snapshot import IdentityProvider
from gateway.sts.errors import ExpiredTokenException, IDPRejectedClaim, InvalidIdentityToken

PROVIDER_ID = "www.amazon.com"


def identity_from_access_token(
    provider: IdentityProvider, token: str, *, now: datetime
) -> FederatedIdentity:
    """Validate a Login with Amazon access token and read the profile it grants."""
    if not token or len(token) > 4096 or not token.isprintable():
        raise InvalidIdentityToken("The Amazon access token is malformed.")
    meta = metadata(provider, need=())
    info = http.get_json(
        meta.endpoint("introspection_endpoint"), what=PROVIDER_ID,
        params={"access_token": token},
    )
    if not info.ok:
        error = info.body.get("error")
        if error == "invalid_token" and "expired" in str(info.body.get("error_description")):
            raise ExpiredTokenException("Token expired: the Amazon access token has expired")
        raise IDPRejectedClaim(
            f"{PROVIDER_ID}: {PROVIDER_ID} responded with HTTP {info.status}",
            detail=f"{error}: {info.body.get('error_description')}"[:300],
        )
    aud: Any = info.body.get("aud")
    if not isinstance(aud, str) or aud not in provider.client_ids:
        raise InvalidIdentityToken("Incorrect token audience", detail=f"aud={aud!r}")
    remaining = info.body.get("exp")
    if isinstance(remaining, int) and remaining <= 0:
        raise ExpiredTokenException("Token expired: the Amazon access token has expired")
    user_id = info.body.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise IDPRejectedClaim(f"{PROVIDER_ID}: token-info named no user")
    profile = http.get_json(
        meta.endpoint("userinfo_endpoint"), what=PROVIDER_ID,
        headers={"Authorization": f"Bearer {token}"},
    )
    if not profile.ok:
        raise IDPRejectedClaim(f"{PROVIDER_ID}: {PROVIDER_ID} responded with HTTP "
                               f"{profile.status}")
    if profile.body.get("user_id") != user_id:
        raise IDPRejectedClaim(f"{PROVIDER_ID}: the profile is not the token's user")
    claims = {k: v for k, v in profile.body.items() if k in ("name", "email", "postal_code")}
    claims.update({"sub": user_id, "user_id": user_id, "app_id": aud})
    return FederatedIdentity(
        provider=provider.name,
        kind="amazon",
        issuer=PROVIDER_ID,
        subject=user_id,
        subject_type="oidc",
        audience=(aud,),
        # Amazon verifies the addresses of its customers.
        attributes=claim_rules.attributes(claims, email_is_verified=True),
        upstream_id="sha256:" + hashlib.sha256(token.encode()).hexdigest()[:32],
        condition_keys=web_identity_keys(PROVIDER_ID, claims),
        session_name=claim_rules.session_name(claims.get("email"), user_id),
    )
