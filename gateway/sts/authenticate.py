"""Authenticate a request signed with this gateway's temporary credentials.

The order matters for the answer a client gets: a malformed signature or scope
first, then the credentials themselves (`InvalidClientTokenId`, `ExpiredToken`),
then the clock and the signature. The secret is derived from the access key id
only after the session token has opened for that id, so a forged access key id
never reaches the HMAC comparison. No database or Redis read happens here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from gateway.sts.credentials import (
    MissingSessionToken,
    SessionClaims,
    derive_secret_access_key,
    open_session_token,
)
from gateway.sts.errors import ExpiredToken
from gateway.sts.keyring import Keyring
from gateway.sts.sigv4 import (
    MAX_SKEW,
    SignedRequest,
    VerifiedRequest,
    check_scope,
    parse_request,
    verify_signature,
)


class Caller(NamedTuple):
    """A verified request and the session that signed it."""

    request: VerifiedRequest
    claims: SessionClaims

    @property
    def access_key_id(self) -> str:
        return self.request.access_key_id


def authenticate(
    req: SignedRequest,
    keyring: Keyring,
    *,
    service: str,
    now: datetime,
    regions: frozenset[str] | None = None,
    max_skew: timedelta = MAX_SKEW,
) -> Caller:
    """Verify `req` and open its session; raises the `StsError` AWS would answer with."""
    parts = parse_request(req)
    check_scope(parts, service=service, regions=regions)
    if parts.security_token is None:
        raise MissingSessionToken(detail="temporary access key id without X-Amz-Security-Token")
    claims = open_session_token(keyring, parts.access_key_id, parts.security_token)
    if claims.expired(now):
        raise ExpiredToken(detail=f"session {claims.session_id} expired at {claims.expires_at}")
    secret = derive_secret_access_key(keyring, parts.access_key_id)
    verified = verify_signature(req, parts, secret=secret, now=now, max_skew=max_skew)
    return Caller(verified, claims)
