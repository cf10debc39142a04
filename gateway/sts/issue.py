"""Minting credentials for a role, with the audit event written before anyone sees them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from gateway import metrics
from gateway.identity import FederatedIdentity
from gateway.store import audit
from gateway.store.snapshot import Role
from gateway.sts.credentials import Credentials, SessionClaims, mint, packed_policy_size_percent
from gateway.sts.errors import ServiceUnavailable, StsError, Throttling
from gateway.sts.keyring import Keyring

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, for audit events."""

    request_id: str
    source_ip: str | None
    user_agent: str | None


def issue(
    engine: Engine,
    keyring: Keyring,
    claims: SessionClaims,
    *,
    action: str,
    origin: Origin,
    detail: dict[str, object] | None = None,
) -> tuple[Credentials, int | None]:
    """Mint `claims`; the issuance is durable in the audit trail before this returns."""
    packed = packed_policy_size_percent(claims)  # raises PackedPolicyTooLarge
    credentials = mint(keyring, claims)
    try:
        _record_issued(engine, claims, credentials, action, origin, detail)
    except audit.AuditUnavailable as exc:
        # Neither the database nor the local spool took the record: nothing is handed out.
        raise ServiceUnavailable(detail=f"audit trail unavailable: {exc}") from exc
    metrics.CREDENTIALS_ISSUED.labels(action).inc()
    return credentials, packed


def _record_issued(
    engine: Engine,
    claims: SessionClaims,
    credentials: Credentials,
    action: str,
    origin: Origin,
    detail: dict[str, object] | None,
) -> None:
    audit.record(
        engine,
        audit.AuditEvent(
            event_type="credentials.issued",
            outcome="success",
            request_id=origin.request_id,
            principal_arn=claims.arn,
            role_arn=claims.role_arn,
            account=claims.account,
            provider=claims.provider,
            subject=claims.subject,
            access_key_id=credentials.access_key_id,
            session_id=claims.session_id,
            source_ip=origin.source_ip,
            user_agent=origin.user_agent,
            detail={
                "action": action,
                "expires_at": claims.expires_at,
                "chain_depth": claims.chain_depth,
                "session_policy": bool(claims.policy),
                "tags": [k for k, _ in claims.tags],
                **(detail or {}),
            },
        ),
    )


def refuse(
    engine: Engine,
    error: StsError,
    *,
    action: str,
    origin: Origin,
    principal_arn: str | None = None,
    role_arn: str | None = None,
    provider: str | None = None,
    subject: str | None = None,
    access_key_id: str | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    """Record a refusal durably; the caller then answers with `error`."""
    if isinstance(error, Throttling) and not error.audit:
        metrics.CREDENTIALS_REFUSED.labels(action, error.code).inc()
        return
    event = audit.AuditEvent(
        event_type="credentials.refused",
        outcome="failure",
        request_id=origin.request_id,
        principal_arn=principal_arn,
        role_arn=role_arn,
        provider=provider,
        subject=subject,
        access_key_id=access_key_id,
        source_ip=origin.source_ip,
        user_agent=origin.user_agent,
        error_code=error.code,
        detail={"action": action, "message": error.message,
                "why": error.detail, **(detail or {})},
    )
    try:
        audit.record(engine, event)
    except audit.AuditUnavailable as exc:
        # The caller refuses anyway (fail closed); an unrecordable refusal must not turn
        # the answer into another error, so it goes to the log in full instead.
        log.error("refusal not recorded (%s): %r", exc, event)
    metrics.CREDENTIALS_REFUSED.labels(action, error.code).inc()


def federated_claims(
    identity: FederatedIdentity,
    role: Role,
    *,
    session_name: str,
    duration: int,
    now: datetime,
    policy: str | None = None,
) -> SessionClaims:
    """The session a federated sign-in gets for `role`."""
    issued = int(now.timestamp())
    return SessionClaims(
        account=role.account_id,
        role_arn=role.arn,
        role_id=role.role_id,
        session_name=session_name,
        issued_at=issued,
        expires_at=issued + duration,
        source_identity=identity.source_identity,
        policy=policy,
        tags=tuple(identity.session_tags.items()),
        transitive_tag_keys=identity.transitive_tag_keys,
        chain_depth=0,
        provider=identity.issuer,
        subject=identity.subject,
    )
