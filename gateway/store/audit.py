"""The audit trail: every issuance, refusal, sign-in and configuration change.

An event is committed before `record` returns, so a caller that records and
then hands out credentials can never hand out credentials without a record.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, String, select
from sqlalchemy.orm import Session

from gateway.store.models import AuditEventRow
from gateway.store.types import utcnow

Outcome = Literal["success", "failure"]

# Conventional event types; others are allowed, these are the ones the gateway emits.
CREDENTIALS_ISSUED = "credentials.issued"
CREDENTIALS_REFUSED = "credentials.refused"
SIGNIN = "signin"
SIGNIN_REFUSED = "signin.refused"
CONFIG_CHANGE = "config.change"

# Column widths: text coming from clients is cut to fit rather than refused,
# because losing an audit record over a long user agent would be worse.
_LIMITS: dict[str, int] = {
    c.name: c.type.length
    for c in AuditEventRow.__table__.columns
    if isinstance(c.type, String) and c.type.length is not None
}


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit record; `id` and `at` are filled in when it is stored."""

    event_type: str
    outcome: Outcome
    request_id: str | None = None
    principal_arn: str | None = None
    role_arn: str | None = None
    account: str | None = None
    provider: str | None = None
    subject: str | None = None
    access_key_id: str | None = None
    session_id: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    error_code: str | None = None
    detail: dict[str, Any] | None = None
    at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Equality filters (None = any) and a half-open time window [since, until)."""

    event_type: str | None = None
    outcome: Outcome | None = None
    request_id: str | None = None
    principal_arn: str | None = None
    role_arn: str | None = None
    account: str | None = None
    provider: str | None = None
    subject: str | None = None
    access_key_id: str | None = None
    session_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


_EQUALITY_FILTERS = tuple(f.name for f in fields(AuditFilter) if f.name not in ("since", "until"))
_EVENT_FIELDS = tuple(f.name for f in fields(AuditEvent))


def _row(event: AuditEvent) -> AuditEventRow:
    values: dict[str, Any] = {}
    for name in _EVENT_FIELDS:
        if name == "id":
            continue
        value = getattr(event, name)
        limit = _LIMITS.get(name)
        if isinstance(value, str) and limit is not None and len(value) > limit:
            value = value[:limit]
        values[name] = value
    values["at"] = event.at or utcnow()
    return AuditEventRow(**values)


def _event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(**{name: getattr(row, name) for name in _EVENT_FIELDS})


def record(target: Session | Engine, event: AuditEvent) -> AuditEvent:
    """Store `event` durably and return it with its id and time.

    Given a Session, the event joins it and the session is COMMITTED, along with
    whatever else it holds: an audit record must not wait on the caller's outcome.
    """
    row = _row(event)
    if isinstance(target, Session):
        target.add(row)
        target.commit()
    else:
        with Session(target, expire_on_commit=False) as session, session.begin():
            session.add(row)
    return _event(row)


def recent(
    engine: Engine, filters: AuditFilter | None = None, limit: int = 100
) -> list[AuditEvent]:
    """The newest events first, at most `limit` of them, matching every filter."""
    filters = filters or AuditFilter()
    query = select(AuditEventRow)
    for name in _EQUALITY_FILTERS:
        value = getattr(filters, name)
        if value is not None:
            query = query.where(getattr(AuditEventRow, name) == value)
    if filters.since is not None:
        query = query.where(AuditEventRow.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEventRow.at < filters.until)
    query = query.order_by(AuditEventRow.at.desc(), AuditEventRow.id.desc()).limit(limit)
    with Session(engine) as session:
        return [_event(row) for row in session.scalars(query)]
