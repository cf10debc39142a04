"""The keyring's durable home: signing keys in the database, wrapped by the master key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gateway.store.db import lock_config, session_factory, transaction
from gateway.store.models import SigningKey
from gateway.store.types import utcnow
from gateway.sts.keyring import Key, Keyring, unwrap_key, wrap_key


@dataclass(frozen=True)
class KeyInfo:
    """What `gateway keys list` shows; never the key material."""

    kid: str
    created_at: datetime
    activated_at: datetime
    deactivated_at: datetime | None
    retired: bool

    @property
    def state(self) -> str:
        if self.retired:
            return "retired"
        return "active" if self.deactivated_at is None else "verifying"


def load_keyring(engine: Engine, master_key: bytes) -> Keyring:
    """Every unretired key, unwrapped; creates the first key on a new database."""
    with session_factory(engine)() as session:
        rows = session.scalars(
            select(SigningKey).where(SigningKey.retired.is_(False))
            .order_by(SigningKey.activated_at.desc())
        ).all()
    active = [r for r in rows if r.deactivated_at is None]
    if not active:
        ensure_active_key(engine, master_key)
        return load_keyring(engine, master_key)
    newest = active[0]
    # Two racing first starts can both insert an active key: the newest wins and the
    # other is treated as superseded, still opening what it sealed.
    older = [
        Key(r.kid, unwrap_key(master_key, r.wrapped_key, r.kid), r.created_at,
            r.deactivated_at or newest.activated_at)
        for r in rows if r is not newest
    ]
    active_key = Key(newest.kid, unwrap_key(master_key, newest.wrapped_key, newest.kid),
                     newest.created_at)
    return Keyring(active_key, older)


def ensure_active_key(engine: Engine, master_key: bytes) -> None:
    """Create an active key unless one exists (first start)."""
    with transaction(engine) as session:
        lock_config(session)
        exists = session.scalar(
            select(SigningKey.kid).where(
                SigningKey.deactivated_at.is_(None), SigningKey.retired.is_(False)
            )
        )
        if exists is None:
            _insert(session, Key.generate(utcnow()), master_key)


def rotate(engine: Engine, master_key: bytes) -> KeyInfo:
    """Make a new active key; the previous one keeps verifying, keys past use retire."""
    now = utcnow()
    with transaction(engine) as session:
        lock_config(session)
        rows = session.scalars(select(SigningKey)).all()
        for row in rows:
            if row.retired:
                continue
            if row.deactivated_at is None:
                row.deactivated_at = now
            key = Key(row.kid, b"\0" * 32, row.created_at, row.deactivated_at)
            if key.retirable(now):
                row.retired = True
        new = _insert(session, Key.generate(now, avoid=[r.kid for r in rows]), master_key)
    return _info(new)


def list_keys(engine: Engine) -> list[KeyInfo]:
    """Every key, newest first."""
    with session_factory(engine)() as session:
        rows = session.scalars(select(SigningKey).order_by(SigningKey.activated_at.desc())).all()
        return [_info(r) for r in rows]


def _insert(session: Session, key: Key, master_key: bytes) -> SigningKey:
    row = SigningKey(
        kid=key.kid,
        wrapped_key=wrap_key(master_key, key),
        created_at=key.created_at,
        activated_at=key.created_at,
        deactivated_at=None,
        retired=False,
    )
    session.add(row)
    session.flush()
    return row


def _info(row: SigningKey) -> KeyInfo:
    return KeyInfo(row.kid, row.created_at, row.activated_at, row.deactivated_at, row.retired)
