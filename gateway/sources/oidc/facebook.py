"""Facebook user access tokens: Graph `debug_token` with our app token, then `/me`.

The token must be valid, unexpired, and issued to one of our app ids (a token from
another app is the classic Facebook-login account takeover); the profile must be the
same user the token belongs to.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from gateway.iam.context import web_identity_keys
from gateway.identity import FederatedIdentity
from gateway.sources.oidc import claims as claim_rules
from gateway.sources.oidc import http
from gateway.sources.oidc.discovery import metadata
from gateway.store.snapshot import IdentityProvider
from gateway.sts.errors import (
    ExpiredTokenException,
    IDPCommunicationError,
    IDPRejectedClaim,
    InvalidIdentityToken,
)

PROVIDER_ID = "graph.facebook.com"
PROFILE_FIELDS = "id,name,email"


def _app_token(provider: IdentityProvider) -> tuple[str, str]:
    if not provider.client_ids or not provider.client_secret:
        raise IDPCommunicationError(
            f"{PROVIDER_ID}: the gateway has no app id and secret for {provider.name}"
        )
    return provider.client_ids[0], provider.client_secret


def identity_from_access_token(
    provider: IdentityProvider, token: str, *, now: datetime
) -> FederatedIdentity:
    """Validate a Facebook user access token and read the profile it grants."""
    if not token or len(token) > 4096 or not token.isprintable():
        raise InvalidIdentityToken("The Facebook access token is malformed.")
    app_id, secret = _app_token(provider)
    meta = metadata(provider, need=())
    reply = http.get_json(
        meta.endpoint("introspection_endpoint"), what=PROVIDER_ID,
        params={"input_token": token, "access_token": f"{app_id}|{secret}"},
    )
    if not reply.ok:
        raise IDPRejectedClaim(
            f"{PROVIDER_ID}: {PROVIDER_ID} responded with HTTP {reply.status}",
            detail=str(reply.body.get("error"))[:300],
        )
    data: Any = reply.body.get("data")
    if not isinstance(data, dict):
        raise IDPCommunicationError(f"{PROVIDER_ID}: debug_token answered without data")
    if str(data.get("app_id")) not in provider.client_ids:
        raise InvalidIdentityToken("Incorrect token audience",
                                   detail=f"token belongs to app {data.get('app_id')!r}")
    expires_at = data.get("expires_at")
    current = int(now.timestamp())
    if isinstance(expires_at, int) and 0 < expires_at <= current:
        raise ExpiredTokenException(
            f"Token expired: current date/time {current} must be before the expiration "
            f"date/time{expires_at}"
        )
    if data.get("is_valid") is not True:
        raise IDPRejectedClaim(f"{PROVIDER_ID}: the access token is not valid (revoked?)",
                               detail=str(data.get("error"))[:300])
    if data.get("type", "USER") != "USER" or not isinstance(data.get("user_id"), str):
        raise InvalidIdentityToken("The Facebook token is not a user access token.")
    user_id: str = data["user_id"]
    # appsecret_proof: Graph refuses a token lifted from another app even for /me.
    proof = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
    profile = http.get_json(
        meta.endpoint("userinfo_endpoint"), what=PROVIDER_ID,
        params={"fields": PROFILE_FIELDS, "access_token": token, "appsecret_proof": proof},
    )
    if not profile.ok:
        raise IDPRejectedClaim(f"{PROVIDER_ID}: {PROVIDER_ID} responded with HTTP "
                               f"{profile.status}")
    if str(profile.body.get("id")) != user_id:
        raise IDPRejectedClaim(f"{PROVIDER_ID}: the profile is not the token's user")
    claims = {k: v for k, v in profile.body.items() if k in ("name", "email")}
    claims.update({"sub": user_id, "id": user_id, "app_id": str(data["app_id"])})
    return FederatedIdentity(
        provider=provider.name,
        kind="facebook",
        issuer=PROVIDER_ID,
        subject=user_id,
        subject_type="oidc",
        audience=(str(data["app_id"]),),
        # Facebook only shares addresses the person has confirmed.
        attributes=claim_rules.attributes(claims, email_is_verified=True),
        auth_time=None,
        upstream_id="sha256:" + hashlib.sha256(token.encode()).hexdigest()[:32],
        condition_keys=web_identity_keys(PROVIDER_ID, claims),
        session_name=claim_rules.session_name(claims.get("email"), user_id),
    )
