"""The audit spool against a real PostgreSQL that is stopped, restarted, and comes back.

While the database is away, audit events are fsynced to a local spool and moved into the
database once it answers, exactly once, including the spool of a process that was
killed mid-write. When neither the database nor the spool can take an issuance's
event, the credentials are refused with 503 in each protocol's own shape.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError
from sqlalchemy import Engine, text

from gateway.devtools.emulators import Emulators
from gateway.store import audit
from gateway.store.audit_spool import read_rows
from gateway.store.db import make_engine
from gateway.store.migrate import upgrade
from tests.conftest import LiveServer, RedisServer
from tests.faults.exchange import (
    GRANT,
    ID_TOKEN,
    assume,
    id_token,
    issued_events,
    rfc8693,
    sts_client,
)
from tests.faults.postgres import Postgres
from tests.faults.served import gateway_env, new_port, prepare, world_yaml
from tests.sources.oidc.world import OIDC_READER


@pytest.fixture
def engine(postgres: Postgres) -> Iterator[Engine]:
    url = postgres.new_database()
    upgrade(url)
    engine = make_engine(url)
    yield engine
    if not postgres.running():
        postgres.start()
    audit.open_writer(engine).close()
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        yield request.getfixturevalue("engine")
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    upgrade(engine)
    yield engine
    audit.open_writer(engine).close()
    engine.dispose()


def _event(n: int) -> audit.AuditEvent:
    return audit.AuditEvent(
        event_type=audit.CREDENTIALS_ISSUED,
        outcome="success",
        request_id=f"req-{n}",
        access_key_id=f"ASIA{n:016d}",
        subject="alice",
        detail={"n": n},
    )


def _keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT access_key_id FROM audit_events ORDER BY id"))
        return [key for (key,) in rows]


def _wait(check: object, what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_events_spooled_while_the_database_is_down_reach_it_once_back(
    engine: Engine,
    postgres: Postgres,
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    audit.open_writer(engine, spool)
    assert audit.record(engine, _event(0)).id is not None
    postgres.stop()
    spooled = [audit.record(engine, _event(n)) for n in range(1, 6)]
    # Durable before each call returned: on disk, with the times the callers were given.
    assert [e.id for e in spooled] == [None] * 5
    on_disk = [row for path in spool.glob("*.jsonl") for row in read_rows(path)]
    assert [(r["access_key_id"], r["at"]) for r in on_disk] == [
        (e.access_key_id, e.at) for e in spooled
    ]
    assert audit.spooled_files(engine) == 1
    postgres.start()
    _wait(lambda: not list(spool.glob("*.jsonl")), "the spool to drain")
    assert _keys(engine) == [f"ASIA{n:016d}" for n in range(6)]
    stored = {e.access_key_id: e.at for e in audit.recent(engine)}
    assert all(stored[e.access_key_id] == e.at for e in spooled), "times kept exactly"
    # The database answers again: the next event goes straight to it.
    assert audit.record(engine, _event(6)).id is not None


def test_a_database_restart_between_two_events_costs_neither_spool_nor_error(
    engine: Engine,
    postgres: Postgres,
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    audit.open_writer(engine, spool)
    assert audit.record(engine, _event(1)).id is not None
    postgres.stop()
    postgres.start()
    # The writer's kept connection died with the server; it reconnects and stores.
    assert audit.record(engine, _event(2)).id is not None
    assert not list(spool.glob("*.jsonl"))
    assert _keys(engine) == [f"ASIA{n:016d}" for n in (1, 2)]


KILLED_WRITER = """
import os, signal, sys
from datetime import UTC, datetime
from pathlib import Path
from gateway.store.audit_spool import Spool
spool = Spool(Path(sys.argv[1]))
rows = [dict(event_type="credentials.issued", outcome="success", request_id=f"req-{n}",
             access_key_id=f"ASIA{n:016d}", subject="alice", detail={"n": n},
             at=datetime.fromisoformat(sys.argv[2]) if n == 1 else datetime.now(UTC))
        for n in (1, 2, 3)]
spool.append(rows)
os.write(spool._fd, b'{"event_type": "credentials.issued", "access_key_id": "ASIA-TORN')
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_spool_of_a_killed_process_is_drained_once_without_its_torn_line(
    any_engine: Engine,
    tmp_path: Path,
) -> None:
    engine = any_engine
    spool = tmp_path / "spool"
    # Event 1 is in the database already: a drain cut short after its commit.
    first = audit.record(engine, _event(1))
    assert first.at is not None
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(spool), first.at.isoformat()], timeout=60
    )
    assert killed.returncode == -9
    [orphan] = spool.glob("*.jsonl")
    assert not orphan.read_bytes().endswith(b"\n")
    audit.open_writer(engine, spool)  # a process starting: it takes the orphan
    _wait(lambda: not orphan.exists(), "the orphaned spool to drain")
    assert sorted(_keys(engine)) == [f"ASIA{n:016d}" for n in (1, 2, 3)]


def test_issuance_is_refused_when_neither_database_nor_spool_takes_the_event(
    postgres: Postgres,
    redis_server: RedisServer,
    emulators: Emulators,
    tmp_path: Path,
) -> None:
    url = postgres.new_database()
    upgrade(url)
    env = gateway_env(tmp_path / "var", redis_server.url, new_port(), GATEWAY_DATABASE_URL=url)
    app = prepare(env, world_yaml(emulators))
    # A full or read-only disk: here a file where the spool directory would go.
    (tmp_path / "var").mkdir(exist_ok=True)
    (tmp_path / "var" / "audit-spool").write_text("not a directory")
    server = LiveServer(app)
    engine = make_engine(url)
    try:
        token = id_token(emulators)
        issued = {rfc8693(server.url, token)}
        postgres.stop()
        answer = requests.post(
            f"{server.url}/api/v1/token",
            timeout=30,
            data={
                "grant_type": GRANT,
                "subject_token": token,
                "subject_token_type": ID_TOKEN,
                "audience": OIDC_READER,
            },
        )
        assert answer.status_code == 503
        assert answer.json()["error"] == "temporarily_unavailable"
        assert "credentials" not in answer.json()
        with pytest.raises(ClientError) as refused:
            assume(sts_client(server.url), token)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
        postgres.start()
        issued.add(rfc8693(server.url, token))
        assert set(issued_events(engine, issued).values()) == {1}
    finally:
        server.stop()
        engine.dispose()


REMOVED_WHILE_OPEN = """
import shutil, sys
from datetime import UTC, datetime
from pathlib import Path
from gateway.store.audit_spool import Spool
directory = Path(sys.argv[1])
spool = Spool(directory)
def rows(numbers):
    return [dict(event_type="credentials.issued", outcome="success", request_id=f"req-{n}",
                 access_key_id=f"ASIA{n:016d}", subject="alice", detail={"n": n},
                 at=datetime.now(UTC)) for n in numbers]
spool.append(rows((1, 2)))
shutil.rmtree(directory.parent)  # GATEWAY_VAR_DIR removed, the open spool file with it
spool.append(rows((3, 4)))
"""


def test_a_spool_file_deleted_while_open_is_carried_over_with_every_event(
    any_engine: Engine,
    tmp_path: Path,
) -> None:
    """Events acknowledged as durable must not go on into a file nobody can find."""
    spool = tmp_path / "var" / "audit-spool"
    done = subprocess.run(
        [sys.executable, "-c", REMOVED_WHILE_OPEN, str(spool)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "was deleted while in use" in done.stderr
    [carried] = spool.glob("*.jsonl")
    assert [row["access_key_id"] for row in read_rows(carried)] == [
        f"ASIA{n:016d}" for n in (1, 2, 3, 4)
    ]
    audit.open_writer(any_engine, spool)  # a process starting: it drains what was left
    _wait(lambda: not carried.exists(), "the carried-over spool to drain")
    assert sorted(_keys(any_engine)) == [f"ASIA{n:016d}" for n in (1, 2, 3, 4)]


def test_logout_revocations_with_the_database_away_are_spooled_one_event_each(
    tmp_path: Path,
) -> None:
    """The issuance records cannot be read: the logout's own names stand in, and each
    revoked credential still gets its event, fsynced to the spool."""
    from gateway.admin.sessions import record_revoked
    from tests.conftest import free_port

    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone")
    spool = tmp_path / "spool"
    audit.open_writer(engine, spool)
    try:
        record_revoked(
            engine,
            [("ASIA0000000000000001", 1_900_000_000), ("ASIA0000000000000002", 1_900_000_100)],
            actor="saml-logout", request_id="req-logout", source_ip="192.0.2.1",
            provider="https://idp.example.com", subject="alice@example.com",
            detail={"signin_id": "s-1", "initiated_by": "idp"},
        )
        rows = [row for path in spool.glob("*.jsonl") for row in read_rows(path)]
    finally:
        audit.open_writer(engine).close()
        engine.dispose()
    assert [(r["event_type"], r["access_key_id"]) for r in rows] == [
        ("credentials.revoked", "ASIA0000000000000001"),
        ("credentials.revoked", "ASIA0000000000000002"),
    ]
    for row in rows:
        assert (row["provider"], row["subject"]) == ("https://idp.example.com", "alice@example.com")
        assert row["detail"]["signin_id"] == "s-1" and row["detail"]["scope"] == "session"
