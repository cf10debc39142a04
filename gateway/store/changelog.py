"""The admin change log: one row per configuration entity created, updated or deleted."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.store.models import ChangeLogEntry
from gateway.store.types import utcnow

Action = Literal["create", "update", "delete"]
EntityType = Literal["account", "role", "identity_provider"]

# Values under these keys are replaced by a fingerprint: the log shows that a
# secret changed without becoming a second place the secret can leak from.
SECRET_KEYS = frozenset({"client_secret"})


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    actor: str
    at: datetime
    action: Action
    entity_type: str
    entity_key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def redact(value: Any) -> Any:
    """A copy of `value` with secret values replaced by `sha256:<first 12 hex>`."""
    if isinstance(value, Mapping):
        return {
            k: _fingerprint(v) if k in SECRET_KEYS and isinstance(v, str) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _fingerprint(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def record_change(
    session: Session,
    *,
    actor: str,
    action: Action,
    entity_type: EntityType,
    entity_key: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    at: datetime | None = None,
) -> None:
    """Add a change-log row to the caller's transaction: it commits with the change."""
    session.add(
        ChangeLogEntry(
            actor=actor,
            at=at or utcnow(),
            action=action,
            entity_type=entity_type,
            entity_key=entity_key,
            before=redact(before) if before is not None else None,
            after=redact(after) if after is not None else None,
        )
    )


def changes(
    engine: Engine,
    *,
    entity_type: str | None = None,
    entity_key: str | None = None,
    limit: int = 100,
) -> list[Change]:
    """The newest changes first."""
    query = select(ChangeLogEntry)
    if entity_type is not None:
        query = query.where(ChangeLogEntry.entity_type == entity_type)
    if entity_key is not None:
        query = query.where(ChangeLogEntry.entity_key == entity_key)
    query = query.order_by(ChangeLogEntry.id.desc()).limit(limit)
    with Session(engine) as session:
        return [
            Change(
                id=row.id,
                actor=row.actor,
                at=row.at,
                action=row.action,  # type: ignore[arg-type]  # CHECK constraint holds it to Action
                entity_type=row.entity_type,
                entity_key=row.entity_key,
                before=row.before,
                after=row.after,
            )
            for row in session.scalars(query)
        ]
