"""Engines, sessions and transactions for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_S = 5
# Any constant shared by every process; names the advisory lock serializing config writes.
_CONFIG_LOCK_KEY = 0x6761_7465_7761_7901


def normalize_url(url: str | URL) -> URL:
    """Pick psycopg 3 for plain PostgreSQL URLs (SQLAlchemy would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine configured for the gateway's access pattern on either backend.

    SQLite: WAL (readers never block the writer), foreign keys enforced, a busy
    timeout instead of immediate "database is locked", and BEGIN emitted by us so
    that reads inside a transaction are repeatable. PostgreSQL: psycopg 3.
    Both: connections are pinged before use, so a restarted server costs no error.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    if "connect_timeout" not in parsed.query:
        # A database host that does not answer must not hold requests for minutes.
        kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    return create_engine(parsed, **kwargs)


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    database = url.database or ""
    memory = database in ("", ":memory:") or "mode=memory" in str(url)
    if memory:
        # One shared connection, otherwise every checkout sees a new empty database.
        kwargs.setdefault("poolclass", StaticPool)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
    elif not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module: it skips BEGIN before SELECT
        # and DDL, which breaks repeatable reads and transactional migrations.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                # With WAL, NORMAL is durable across application crashes and much faster.
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads
        # and then writes can fail with SQLITE_BUSY, which the busy timeout cannot fix.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to `engine`; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A write transaction: commit on success, roll back on any exception.

    On SQLite the write lock is taken at BEGIN, so a read-modify-write cannot be
    interleaved with another writer. On PostgreSQL, callers that read then write
    configuration should also call `lock_config`.
    """
    with session_factory(engine)() as session:
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


def lock_config(session: Session) -> None:
    """Serialize configuration writers for the rest of this transaction.

    SQLite needs nothing more (`transaction` already holds the only write lock);
    PostgreSQL takes a transaction-scoped advisory lock, released at commit.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CONFIG_LOCK_KEY})
