"""Schema migrations, run in process with the scripts shipped in the package.

Alembic is imported only to migrate. Checking that a database is at the newest
revision reads the scripts' revision ids and the `alembic_version` table directly:
every gunicorn worker checks at start-up, and importing Alembic (with Mako and
Pygments) would cost each of them ~10 MB of resident memory it never uses again.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Select, column, inspect, select, table

from gateway.store.db import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config built in code: users need no alembic.ini."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Bring the schema up to `revision` (default: the newest), in one transaction
    where the backend allows it (PostgreSQL and, through our BEGIN, SQLite)."""
    from alembic import command

    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)
    finally:
        if engine is not engine_or_url:
            engine.dispose()


@cache
def head_revision() -> str | None:
    """The newest revision the shipped scripts know (the one no script revises)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        revision, down = _revision_ids(script)
        revisions.add(revision)
        revised.update(down)
    heads = revisions - revised
    if len(heads) > 1:
        raise RuntimeError(f"the migration scripts have several heads: {sorted(heads)}")
    return heads.pop() if heads else None


def _revision_ids(script: Path) -> tuple[str, tuple[str, ...]]:
    """`revision` and `down_revision` as the script assigns them (literals, by convention)."""
    found: dict[str, Any] = {}
    for node in ast.parse(script.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, value = node.target.id, node.value
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            name, value = node.targets[0].id, node.value
        else:
            continue
        if name in ("revision", "down_revision") and value is not None:
            found[name] = ast.literal_eval(value)
    if not isinstance(found.get("revision"), str):
        raise RuntimeError(f"{script.name}: no revision id")
    down = found.get("down_revision")
    return found["revision"], (down,) if isinstance(down, str) else tuple(down or ())


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, None for an empty database."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        query: Select[Any] = select(column("version_num")).select_from(table(VERSION_TABLE))
        versions = connection.execute(query).all()
    if len(versions) > 1:
        raise RuntimeError(f"the database is at several revisions: {[v[0] for v in versions]}")
    return str(versions[0][0]) if versions else None


def is_up_to_date(engine: Engine) -> bool:
    """True when the database is at the newest shipped revision."""
    return current_revision(engine) == head_revision()
