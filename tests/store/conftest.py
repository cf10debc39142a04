"""One store suite, every backend: each test taking `engine` runs once per backend.

SQLite always runs (a temporary file per test, copied from one migrated template).
PostgreSQL runs when GATEWAY_TEST_POSTGRES_URL is set: each test module gets its own
schema (search_path points at it, dropped afterwards), emptied before every test;
migration tests get a fresh empty schema of their own.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.engine import make_url

from gateway.store.db import make_engine
from gateway.store.migrate import upgrade
from gateway.store.models import Base

POSTGRES_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]
DEMO_CONFIG = Path(__file__).resolve().parents[2] / "gateway" / "demo_config.yaml"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test: migrating once keeps the suite fast."""
    path = tmp_path_factory.mktemp("template") / "gateway.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def _postgres_schema() -> Iterator[Engine]:
    """An engine whose search_path is a new schema, dropped on exit."""
    schema = f"gw_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def _postgres_module_schema() -> Iterator[Engine]:
    """A migrated schema per test module; `engine` empties it before each test."""
    with _postgres_schema() as engine:
        upgrade(engine)
        yield engine


@pytest.fixture
def empty_engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database (no tables) of the parametrized backend."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
        yield engine
        engine.dispose()
        return
    with _postgres_schema() as engine:
        yield engine


@pytest.fixture
def engine(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine on an empty database migrated to the newest revision."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        shutil.copy(template, tmp_path / "gateway.db")
        engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("_postgres_module_schema")
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield engine


@pytest.fixture(scope="session")
def demo_text() -> str:
    return DEMO_CONFIG.read_text()


def dump_database(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: to prove that something wrote nothing."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(select(table)).all()
            result[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return result


@contextmanager
def selects(engine: Engine, keep: Callable[[str], bool] = lambda _: True) -> Iterator[list[str]]:
    """The SELECTs run on `engine` meanwhile (those `keep` accepts), as they run."""
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and keep(statement):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def reads_a_table_whole(statement: str) -> bool:
    """A SELECT with no WHERE from a role or rule table: what reading the whole
    configuration (`read_config`) does, and a one-role write must not."""
    return "WHERE" not in statement.upper() and bool(
        re.search(r"\bFROM (roles|role_policies|role_tags|mapping_rules)\b", statement))


def whole_table_reads(engine: Engine) -> AbstractContextManager[list[str]]:
    """The SELECTs run on `engine` meanwhile that read a role or rule table whole."""
    return selects(engine, reads_a_table_whole)
