"""Web identity tokens (OIDC ID tokens, Google, Facebook, Amazon) for token exchange.

PLACEHOLDER until the OpenID Connect work lands: every token is refused.
"""

from __future__ import annotations

from datetime import datetime

from gateway.identity import FederatedIdentity
from gateway.store.snapshot import IdentityProvider, Snapshot
from gateway.sts.errors import InvalidIdentityToken


def identity_from_token(
    token: str, snapshot: Snapshot, *, provider_id: str | None, now: datetime
) -> tuple[FederatedIdentity, IdentityProvider]:
    """Validate `token` against the configured providers; raise the STS error AWS would."""
    raise InvalidIdentityToken("Web identity token validation is not available yet.")
