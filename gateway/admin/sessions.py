"""Live role sessions, read from the audit trail, and revoking them one by one.

Credentials are stateless (sealed tokens), so the gateway has no table of sessions: the
`credentials.issued` audit events are the list. A session is live while its credentials
have not expired, were issued after the role's revoke-sessions time and are not revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.state.revocations import Revocations, RevocationStateUnknown
from gateway.store import audit, names
from gateway.store.snapshot import Role

CREDENTIALS_REVOKED = "credentials.revoked"
MAX_LISTED = 500


@dataclass(frozen=True, slots=True)
class LiveSession:
    access_key_id: str
    principal_arn: str | None
    subject: str | None
    provider: str | None
    issued: datetime
    expires_at: int
    source_ip: str | None
    action: str
    revoked: bool | None  # None: the revocation list could not be read

    @property
    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, self.issued.tzinfo)


def _expires_at(event: audit.AuditEvent) -> int | None:
    value = (event.detail or {}).get("expires_at")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def live_sessions(
    engine: Engine, role: Role, revocations: Revocations, now: datetime
) -> list[LiveSession]:
    """Newest first: sessions of `role` that would still be honoured."""
    since = now - timedelta(seconds=names.MAX_SESSION_DURATION)
    events = audit.recent(
        engine,
        audit.AuditFilter(event_type=audit.CREDENTIALS_ISSUED, role_arn=role.arn, since=since),
        limit=MAX_LISTED,
    )
    cutoff = role.revoke_sessions_before
    sessions: list[LiveSession] = []
    for event in events:
        expires_at = _expires_at(event)
        if not event.access_key_id or expires_at is None or expires_at <= now.timestamp():
            continue
        if event.at is None:
            continue
        if cutoff is not None and int(event.at.timestamp()) < cutoff.timestamp():
            continue  # refused by the role's revoke-sessions time
        try:
            revoked: bool | None = revocations.is_revoked(event.access_key_id)
        except RevocationStateUnknown:
            revoked = None
        if revoked:
            continue
        sessions.append(LiveSession(
            access_key_id=event.access_key_id, principal_arn=event.principal_arn,
            subject=event.subject, provider=event.provider, issued=event.at,
            expires_at=expires_at, source_ip=event.source_ip,
            action=str((event.detail or {}).get("action", "")), revoked=revoked,
        ))
    return sessions


def issued_event(engine: Engine, access_key_id: str) -> audit.AuditEvent | None:
    """The issuance record of an access key id (the only trusted source of its expiry)."""
    found = audit.recent(
        engine,
        audit.AuditFilter(event_type=audit.CREDENTIALS_ISSUED, access_key_id=access_key_id),
        limit=1,
    )
    return found[0] if found else None


def revoke_session(
    engine: Engine, revocations: Revocations, role: Role, access_key_id: str, *,
    actor: str, request_id: str | None, source_ip: str | None,
) -> audit.AuditEvent | None:
    """Revoke one session of `role`; None when no such live session was issued for it."""
    event = issued_event(engine, access_key_id)
    expires_at = _expires_at(event) if event is not None else None
    if event is None or event.role_arn != role.arn or expires_at is None:
        return None
    revocations.revoke(access_key_id, expires_at)
    return audit.record(engine, _revoked(
        event, access_key_id, expires_at, actor=actor, request_id=request_id,
        source_ip=source_ip, role_arn=role.arn, account=role.account_id,
    ))


def record_revoked(
    engine: Engine, revoked: list[tuple[str, int]], *, actor: str,
    request_id: str | None, source_ip: str | None, provider: str | None,
    subject: str | None, detail: dict[str, object],
) -> None:
    """Audit sessions revoked elsewhere (SAML logout), each in the shape of `revoke_session`.

    `revoked` holds (access key id, expiry) pairs. Each event is named from its issuance
    record, so the admin trail finds it with the sign-in it belongs to; `provider` and
    `subject` stand in when that record cannot be read (the database is away: the events
    are then spooled like any other, and no further lookup waits on it).
    """
    readable = True
    for access_key_id, expires_at in revoked:
        issued = None
        if readable:
            try:
                issued = issued_event(engine, access_key_id)
            except SQLAlchemyError:
                readable = False
        audit.record(engine, _revoked(
            issued, access_key_id, expires_at, actor=actor, request_id=request_id,
            source_ip=source_ip, provider=provider, subject=subject, detail=detail,
        ))


def _revoked(
    issued: audit.AuditEvent | None, access_key_id: str, expires_at: int, *, actor: str,
    request_id: str | None, source_ip: str | None, role_arn: str | None = None,
    account: str | None = None, provider: str | None = None, subject: str | None = None,
    detail: dict[str, object] | None = None,
) -> audit.AuditEvent:
    """One `credentials.revoked` event: who held the session, and who ended it."""
    return audit.AuditEvent(
        event_type=CREDENTIALS_REVOKED, outcome="success", request_id=request_id,
        principal_arn=issued.principal_arn if issued else None,
        role_arn=role_arn or (issued.role_arn if issued else None),
        account=account or (issued.account if issued else None),
        provider=issued.provider if issued else provider,
        subject=issued.subject if issued else subject,
        access_key_id=access_key_id,
        session_id=issued.session_id if issued else None, source_ip=source_ip,
        detail={"actor": actor, "expires_at": expires_at, "scope": "session", **(detail or {})},
    )
