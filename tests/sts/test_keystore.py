"""Signing keys persist wrapped by the master key, rotate, and keep verifying."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.store.db import make_engine, session_factory
from gateway.store.migrate import upgrade
from gateway.store.models import SigningKey
from gateway.sts import keystore
from gateway.sts.keyring import KeyUnwrapError

MASTER = bytes(range(32))


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/k.db")
    upgrade(engine)
    return engine


def test_first_load_creates_one_active_key_stored_wrapped(engine) -> None:  # type: ignore[no-untyped-def]
    ring = keystore.load_keyring(engine, MASTER)
    again = keystore.load_keyring(engine, MASTER)
    assert ring.active.kid == again.active.kid and ring.active.secret == again.active.secret
    with session_factory(engine)() as session:
        stored = session.scalars(select(SigningKey)).all()
    assert len(stored) == 1
    assert ring.active.secret not in stored[0].wrapped_key, "key material stored in clear"


def test_rotation_keeps_the_old_key_verifying(engine) -> None:  # type: ignore[no-untyped-def]
    before = keystore.load_keyring(engine, MASTER)
    info = keystore.rotate(engine, MASTER)
    after = keystore.load_keyring(engine, MASTER)
    assert after.active.kid == info.kid != before.active.kid
    assert before.active.kid in after
    states = {k.kid: k.state for k in keystore.list_keys(engine)}
    assert states == {info.kid: "active", before.active.kid: "verifying"}


def test_wrong_master_key_cannot_unwrap(engine) -> None:  # type: ignore[no-untyped-def]
    keystore.load_keyring(engine, MASTER)
    with pytest.raises(KeyUnwrapError):
        keystore.load_keyring(engine, bytes(32))
