"""Engine settings and the transaction helper."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from gateway.store.db import SQLITE_BUSY_TIMEOUT_MS, make_engine, normalize_url, transaction
from gateway.store.models import Account


def test_plain_postgresql_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_sqlite_engine_uses_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'dir' / 'g.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
    assert (tmp_path / "sub" / "dir" / "g.db").exists()  # parent directories are created
    engine.dispose()


def test_in_memory_sqlite_keeps_one_database_across_checkouts() -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0


def test_transaction_commits_on_success(engine: Engine) -> None:
    with transaction(engine) as session:
        session.add(Account(id="111111111111", alias="one"))
    with transaction(engine) as session:
        assert session.get(Account, "111111111111") is not None


def test_transaction_rolls_back_everything_on_error(engine: Engine) -> None:
    with pytest.raises(RuntimeError), transaction(engine) as session:
        session.add(Account(id="111111111111", alias="one"))
        session.flush()
        raise RuntimeError("boom")
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Account)) == 0


def test_sqlite_write_transactions_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    from sqlalchemy import event

    from gateway.store.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    upgrade(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with transaction(engine) as session:
        session.add(Account(id="111111111111"))
    # Deferred BEGIN would let a read-then-write fail with SQLITE_BUSY under contention.
    assert statements[0] == "BEGIN IMMEDIATE"
    with engine.connect() as conn:
        conn.execute(select(Account.id)).all()
    assert statements[-2:] == ["BEGIN DEFERRED", statements[-1]]
    engine.dispose()
