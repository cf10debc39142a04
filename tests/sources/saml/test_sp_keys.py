"""The SP's key pairs: made once, stored wrapped, rolled over current → next."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.sources.saml import sp_keys
from gateway.store import migrate
from gateway.store.db import make_engine
from gateway.store.models import SamlSpKey

MASTER = os.urandom(32)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    migrate.upgrade(engine)
    return engine


def test_keys_are_generated_once_and_stored_wrapped(engine: Engine) -> None:
    first = sp_keys.load(engine, MASTER, "gw.example.test")
    again = sp_keys.load(engine, MASTER, "gw.example.test")
    assert (first.current.kid, first.next.kid) == (again.current.kid, again.next.kid)
    assert first.current.kid != first.next.kid
    with Session(engine) as session:
        rows = session.scalars(select(SamlSpKey)).all()
    assert len(rows) == 2
    for row in rows:
        assert b"PRIVATE KEY" not in row.wrapped_key
        assert "BEGIN CERTIFICATE" in row.certificate
    with pytest.raises(InvalidTag):
        sp_keys.load(engine, os.urandom(32), "gw.example.test")


def test_rotation_promotes_next_and_keeps_the_old_key_for_decryption(engine: Engine) -> None:
    before = sp_keys.load(engine, MASTER, "gw.example.test")
    promoted = sp_keys.rotate(engine, MASTER, "gw.example.test")
    after = sp_keys.load(engine, MASTER, "gw.example.test")
    assert promoted == before.next.kid == after.current.kid
    assert after.next.kid not in (before.current.kid, before.next.kid)
    assert [k.kid for k in after.retired] == [before.current.kid]
    assert len(after.decryption_keys) == 3
