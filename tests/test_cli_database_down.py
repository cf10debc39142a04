"""Every `gateway` command that needs the database, run while it is down or refuses writes.

Each prints one line saying what failed and exits non-zero: no traceback, nothing printed
on standard output (no admin link whose audit record was never written), nothing written.
The database is a real PostgreSQL: first an address nothing listens on, then a database
that answers reads but refuses writes, as a standby does after a failover.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import RedisServer, free_port
from tests.faults.postgres import Postgres, running_cluster

GATEWAY = str(Path(sys.executable).with_name("gateway"))
DEMO = Path(__file__).resolve().parent.parent / "gateway" / "demo_config.yaml"
PREFIX = "cli-db-down:"

# Every command that reads or writes the database (policy validate/simulate do not).
NEEDS_DATABASE = [
    ("db", "upgrade"),
    ("config", "import", str(DEMO)),
    ("config", "export", "-"),
    ("keys", "rotate"),
    ("keys", "rotate-saml"),
    ("keys", "list"),
    ("admin", "link"),
    ("serve",),
]
# The commands that write: against a database refusing writes.
WRITES = [
    ("admin", "link"),
    ("keys", "rotate"),
    ("keys", "rotate-saml"),
    ("config", "import", "CHANGED"),
]


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    yield from running_cluster()


def run(
    tmp_path: Path, database_url: str, redis_url: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_VAR_DIR=str(tmp_path / "var"),
        GATEWAY_MASTER_KEY="22" * 32,
        GATEWAY_DATABASE_URL=database_url,
        GATEWAY_REDIS_URL=redis_url,
        GATEWAY_REDIS_PREFIX=PREFIX,
        GATEWAY_BIND=f"127.0.0.1:{free_port()}",
    )
    return subprocess.run([GATEWAY, *args], env=env, capture_output=True, text=True, timeout=120)


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    assert result.stdout == "", "nothing may be printed for use"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gateway: ") and "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("args", NEEDS_DATABASE, ids=" ".join)
def test_an_unreachable_database_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, redis_server: RedisServer, args: tuple[str, ...]
) -> None:
    # Nothing listens on this port: connections are refused, as when PostgreSQL is down.
    url = f"postgresql+psycopg://gateway:secret-pw@127.0.0.1:{free_port()}/gateway"
    result = run(tmp_path, url, redis_server.url, *args)
    assert_one_clear_line(result, "cannot reach the database", "GATEWAY_DATABASE_URL")
    assert "secret-pw" not in result.stderr


def test_a_database_refusing_writes_is_one_line_per_command_and_nothing_is_written(
    tmp_path: Path, redis_server: RedisServer, postgres: Postgres
) -> None:
    url = postgres.new_database()
    redis_url = redis_server.url
    assert run(tmp_path, url, redis_url, "db", "upgrade").returncode == 0
    assert run(tmp_path, url, redis_url, "config", "import", str(DEMO)).returncode == 0
    assert run(tmp_path, url, redis_url, "keys", "rotate").returncode == 0
    keys_before = run(tmp_path, url, redis_url, "keys", "list").stdout
    changed = tmp_path / "changed.yaml"
    changed.write_text(DEMO.read_text().replace("alias: acme-prod", "alias: acme-production"))
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(
        f"host=127.0.0.1 port={postgres.port} user=postgres dbname=postgres", autocommit=True
    ) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    for args in WRITES:
        args = tuple(str(changed) if a == "CHANGED" else a for a in args)
        result = run(tmp_path, url, redis_url, *args)
        assert_one_clear_line(result, "read-only transaction", "nothing was written")
    # Reads still work, and show that nothing was written.
    assert run(tmp_path, url, redis_url, "keys", "list").stdout == keys_before
    exported = run(tmp_path, url, redis_url, "config", "export", "-")
    assert exported.returncode == 0 and "acme-production" not in exported.stdout
    # The link whose audit record could not be written was withdrawn from Redis.
    assert redis_server.client().keys(f"{PREFIX}admin:link:*") == []
