"""SAML responses posted to AssumeRoleWithSAML.

PLACEHOLDER until the SAML service provider work lands: every response is refused.
"""

from __future__ import annotations

from datetime import datetime

from gateway.identity import FederatedIdentity
from gateway.store.snapshot import IdentityProvider, Snapshot
from gateway.sts.errors import InvalidIdentityToken


def identity_from_response(
    saml_response_b64: str, snapshot: Snapshot, *, principal_arn: str, now: datetime
) -> tuple[FederatedIdentity, IdentityProvider]:
    """Validate a base64 SAML response for AssumeRoleWithSAML; raise the STS error AWS would."""
    raise InvalidIdentityToken("SAML assertion validation is not available yet.")
