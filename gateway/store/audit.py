"""The audit trail: every issuance, refusal, sign-in and configuration change.

An event is durable before `record` returns, so a caller that records and then
hands out credentials can never hand out credentials without a record: committed
to the database (concurrent events of a process share one commit, `audit_writer`)
or, while the database is away and the process has a spool, fsynced to the spool
and moved into the database when it is back (`audit_spool`). If neither takes it,
`record` raises `AuditUnavailable` (a SQLAlchemyError: the app answers 503).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, String, select
from sqlalchemy.orm import Session

from gateway.store.audit_spool import Spool
from gateway.store.audit_writer import AuditUnavailable, AuditWriter
from gateway.store.models import AuditEventRow
from gateway.store.types import utcnow

__all__ = [
    "AuditEvent",
    "AuditFilter",
    "AuditUnavailable",
    "by_id",
    "oldest_first",
    "open_writer",
    "recent",
    "record",
    "spooled_files",
]

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


def _values(event: AuditEvent) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _EVENT_FIELDS:
        if name == "id":
            continue
        value = getattr(event, name)
        if isinstance(value, str):
            limit = _LIMITS.get(name)
            if limit is not None and len(value) > limit:
                value = value[:limit]
        values[name] = value
    values["at"] = event.at or utcnow()
    return values


def _event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(**{name: getattr(row, name) for name in _EVENT_FIELDS})


# One writer per engine in this process; gone with the engine.
_writers: weakref.WeakKeyDictionary[Engine, AuditWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def open_writer(engine: Engine, spool_dir: Path | None = None) -> AuditWriter:
    """The writer `record` uses for `engine`; with `spool_dir`, events outlive a DB outage.

    Call once per process at start-up: it also starts moving spools left behind by
    processes that died into the database.
    """
    with _writers_lock:
        writer = _writers.get(engine)
        if writer is None or (spool_dir is not None and writer.spool is None):
            writer = AuditWriter(engine, Spool(spool_dir) if spool_dir else None)
            _writers[engine] = writer
        return writer


def _writer(engine: Engine) -> AuditWriter:
    writer = _writers.get(engine)
    return writer if writer is not None else open_writer(engine)


def spooled_files(engine: Engine) -> int:
    """Spool files under this process's spool directory not yet moved into the database."""
    writer = _writers.get(engine)
    return len(writer.spool.files()) if writer is not None and writer.spool else 0


def record(target: Session | Engine, event: AuditEvent) -> AuditEvent:
    """Store `event` durably and return it with its time, and its id once in the database.

    Given an Engine, the event goes through the process's group-commit writer; `id` is
    None when it was spooled. Given a Session, the event joins it and the session is
    COMMITTED, along with whatever else it holds: an audit record must not wait on the
    caller's outcome.
    """
    values = _values(event)
    if isinstance(target, Session):
        row = AuditEventRow(**values)
        target.add(row)
        target.commit()
        return _event(row)
    id_ = _writer(target).write(values)
    return AuditEvent(**values, id=id_)


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


def by_id(engine: Engine, event_id: int) -> AuditEvent | None:
    """One event by its id, or None."""
    with Session(engine) as session:
        row = session.get(AuditEventRow, event_id)
        return _event(row) if row is not None else None


def oldest_first(engine: Engine, filters: AuditFilter, limit: int = 1000) -> list[AuditEvent]:
    """The oldest events first, at most `limit`, matching every filter (a trail reads
    forwards in time from where it starts)."""
    query = select(AuditEventRow)
    for name in _EQUALITY_FILTERS:
        value = getattr(filters, name)
        if value is not None:
            query = query.where(getattr(AuditEventRow, name) == value)
    if filters.since is not None:
        query = query.where(AuditEventRow.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEventRow.at < filters.until)
    query = query.order_by(AuditEventRow.at, AuditEventRow.id).limit(limit)
    with Session(engine) as session:
        return [_event(row) for row in session.scalars(query)]
