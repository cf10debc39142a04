"""The start-up schema check: Alembic's answer, without loading Alembic when nothing is due."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from gateway import _database
from gateway.settings import Settings
from gateway.store import migrate
from gateway.store.db import make_engine


def test_the_head_is_the_one_alembic_finds_in_the_scripts() -> None:
    alembic_head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert migrate.head_revision() == alembic_head is not None


def test_the_revision_is_read_at_every_step(empty_engine: Engine) -> None:
    assert migrate.current_revision(empty_engine) is None
    migrate.upgrade(empty_engine, "0002")
    assert migrate.current_revision(empty_engine) == "0002"
    assert not migrate.is_up_to_date(empty_engine)
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    assert migrate.is_up_to_date(empty_engine)


def test_an_old_sqlite_database_is_migrated_at_start(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/var/gateway.db")
    migrate.upgrade(engine, "0001")
    assert "saml_sp_keys" not in inspect(engine).get_table_names()
    started = _database(Settings.from_env({"GATEWAY_VAR_DIR": str(tmp_path / "var")}))
    assert migrate.current_revision(started) == migrate.head_revision()
    assert "saml_sp_keys" in inspect(started).get_table_names()


CHECK = """
import sys
from gateway import _database
from gateway.settings import Settings
_database(Settings.from_env({"GATEWAY_VAR_DIR": sys.argv[1]}))
print(sorted({m.split(".")[0] for m in sys.modules} & {"alembic", "mako", "pygments"}))
"""


def test_a_worker_finding_the_schema_current_does_not_load_alembic(tmp_path: Path) -> None:
    var = tmp_path / "var"
    migrate.upgrade(make_engine(f"sqlite:///{var}/gateway.db"))
    loaded = subprocess.run(
        [sys.executable, "-c", CHECK, str(var)], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
    # The same start on a database that needs migrating does load it: the check is real.
    fresh = tmp_path / "fresh"
    loaded = subprocess.run(
        [sys.executable, "-c", CHECK, str(fresh)], capture_output=True, text=True, check=True
    ).stdout
    assert "alembic" in loaded
