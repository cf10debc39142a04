"""SAML responses posted to AssumeRoleWithSAML: the browser sign-in's validation, unsolicited.

Recipient and Audience must name this gateway (its ACS URL and entity id), the
principal ARN must be a configured SAML provider whose metadata key signed the
response, InResponseTo is not checked (these are unsolicited by nature) and the
replay cache applies. Refusals are the STS errors AWS answers with.
"""

from __future__ import annotations

from datetime import datetime

from flask import request

from gateway.identity import FederatedIdentity
from gateway.sources import web_identity
from gateway.sources.saml.errors import SamlRefusal
from gateway.sources.saml.service import accept_for_sts, service
from gateway.store.snapshot import IdentityProvider, Snapshot
from gateway.sts.errors import Throttling

_SCOPE = "saml-sts"


def identity_from_response(
    saml_response_b64: str, snapshot: Snapshot, *, principal_arn: str, now: datetime
) -> tuple[FederatedIdentity, IdentityProvider]:
    """Validate a base64 SAML response for AssumeRoleWithSAML; raise the STS error AWS would."""
    svc = service()
    client = request.remote_addr
    try:
        svc.check_budget(_SCOPE, client)
    except SamlRefusal as exc:
        raise Throttling(detail=exc.code) from None
    try:
        identity, provider = accept_for_sts(svc, snapshot, saml_response_b64,
                                            principal_arn=principal_arn, now=now)
    except SamlRefusal as exc:
        svc.spend_budget(_SCOPE, client)
        raise exc.sts_error() from None
    web_identity.count_subject("sts", identity)
    return identity, provider
