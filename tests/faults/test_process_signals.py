"""`gateway serve` (gunicorn) signalled for real: SIGTERM drains, kill -9 loses nothing.

SIGTERM: a request in flight (held inside a worker by a slow JWKS endpoint) is answered
in full, and the server exits 0 within its graceful timeout. Meanwhile new connections
are refused at once (ECONNREFUSED, which a load balancer retries elsewhere), never left
in the listen backlog to hang and be reset; connections already queued when the drain
begins are served. kill -9 of workers under token-exchange load: gunicorn replaces them,
every credential a client received has exactly one complete audit row, and no HTTP
answer is a 5xx. kill -9 of a worker in the middle of an admin write (held inside its
transaction by a table lock) leaves nothing of that write in the database.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from sqlalchemy import text

from gateway.devtools.emulators import Emulators
from gateway.store import audit
from gateway.store.db import make_engine
from gateway.store.migrate import upgrade
from tests.conftest import RedisServer
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
from tests.faults.served import ServedGateway, gateway_env, new_port, prepare, world_yaml
from tests.sources.oidc.world import OIDC_READER
from tests.web.admin.support import AdminBrowser, admin_link, csrf_token

DEADLINE = 60.0
GRACEFUL_TIMEOUT = 20  # gateway.server: gunicorn's graceful_timeout


def wait_for(what: str, check: Callable[[], object]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def children(pid: int) -> set[int]:
    """The live worker processes of a gunicorn master."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


class HeldJwks:
    """A JWKS endpoint that answers only when the test lets it: a slow upstream."""

    def __init__(self, emulators: Emulators) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        keys = json.dumps(emulators.oidc.key.jwks()).encode()
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                held.arrived.set()
                held.release.wait(DEADLINE)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(keys)))
                self.end_headers()
                self.wfile.write(keys)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()


def _world(emulators: Emulators, jwks_uri: str | None = None) -> str:
    document = yaml.safe_load(world_yaml(emulators))
    if jwks_uri:
        provider = next(p for p in document["identity_providers"] if p["name"] == "test-oidc")
        provider["endpoints"] = {"jwks_uri": jwks_uri}
    return yaml.safe_dump(document, sort_keys=False)


def _new_connection(host: str, port: int) -> str:
    """One new connection and request: "refused", "served", or what went wrong instead."""
    try:
        conn = socket.create_connection((host, port), timeout=2)
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "connect hung"
    with conn:
        conn.settimeout(3)
        try:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
            answer = conn.recv(64)
        except TimeoutError:
            return "hung in the backlog"
        except ConnectionResetError:
            return "reset"
    return "served" if answer.startswith(b"HTTP/1.1 200") else f"answered {answer!r}"


def _host_port(env: dict[str, str]) -> tuple[str, int]:
    host, port = env["GATEWAY_BIND"].rsplit(":", 1)
    return host, int(port)


def test_sigterm_answers_the_request_in_flight_refuses_new_connections_then_exits_0(
    tmp_path: Path,
    redis_server: RedisServer,
    emulators: Emulators,
) -> None:
    held = HeldJwks(emulators)
    env = gateway_env(tmp_path / "var", redis_server.url, new_port())
    prepare(env, _world(emulators, held.url))
    server = ServedGateway(env, tmp_path / "gateway.log").start()
    assert server.process is not None
    outcome: dict[str, Any] = {}
    token = id_token(emulators)

    def in_flight() -> None:
        try:
            outcome["key"] = rfc8693(server.url, token, timeout=DEADLINE)
        except Exception as exc:  # the assertion below says what went wrong
            outcome["error"] = exc

    late: list[str] = []
    try:
        first = threading.Thread(target=in_flight)
        first.start()
        assert held.arrived.wait(DEADLINE), "the exchange never reached the JWKS endpoint"
        # The worker is inside the request now. Stop the server.
        server.process.send_signal(signal.SIGTERM)
        wait_for(
            "the master to handle SIGTERM",
            lambda: "Handling signal: term" in server.log.read_text(),
        )
        # While the request is still held, new connections: each is served (a worker had
        # not stopped listening yet) or refused at once, until they are all refused.
        deadline = time.monotonic() + 10
        while not late or late[-1] != "refused":
            assert time.monotonic() < deadline, late
            late.append(_new_connection(*_host_port(env)))
            time.sleep(0.02)
        assert set(late) <= {"served", "refused"}, late
        assert first.is_alive() and not held.release.is_set(), "the drain was over already"
        held.release.set()
        first.join(DEADLINE)
        assert "error" not in outcome, outcome.get("error")
        assert outcome["key"].startswith("ASIA")
        assert server.process.wait(GRACEFUL_TIMEOUT + 5) == 0
        assert _new_connection(*_host_port(env)) == "refused"
    finally:
        held.stop()
        server.stop()
    engine = make_engine(
        env.get("GATEWAY_DATABASE_URL") or f"sqlite:///{tmp_path / 'var' / 'gateway.db'}"
    )
    try:
        assert issued_events(engine, {outcome["key"]}) == {outcome["key"]: 1}
    finally:
        engine.dispose()
    assert "Shutting down: Master" in server.log.read_text()


def _sigterm_pending(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("ShdPnd:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def test_connections_queued_when_the_drain_begins_are_served_not_reset(
    tmp_path: Path,
    redis_server: RedisServer,
    emulators: Emulators,
) -> None:
    env = gateway_env(tmp_path / "var", redis_server.url, new_port(), GATEWAY_WORKERS="1")
    prepare(env, _world(emulators))
    server = ServedGateway(env, tmp_path / "gateway.log").start()
    assert server.process is not None
    [worker] = children(server.process.pid)
    queued: list[socket.socket] = []
    try:
        # A stopped worker accepts nothing: these wait in the kernel's listen backlog.
        os.kill(worker, signal.SIGSTOP)
        try:
            for _ in range(5):
                conn = socket.create_connection(_host_port(env), timeout=5)
                conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
                queued.append(conn)
            server.process.send_signal(signal.SIGTERM)
            wait_for("the master to pass SIGTERM on", lambda: _sigterm_pending(worker))
        finally:
            os.kill(worker, signal.SIGCONT)
        answers = []
        for conn in queued:
            conn.settimeout(DEADLINE)
            try:
                answers.append(conn.recv(64)[:15])
            except ConnectionResetError:
                answers.append(b"reset")
        assert answers == [b"HTTP/1.1 200 OK"] * 5
        assert server.process.wait(GRACEFUL_TIMEOUT + 5) == 0
    finally:
        for conn in queued:
            conn.close()
        server.stop()


class Load:
    """Client threads exchanging tokens until stopped; keys received, statuses seen."""

    def __init__(self, url: str, token: str, threads: int = 4) -> None:
        self.url, self.token = url, token
        self.keys: set[str] = set()
        self.statuses: list[int] = []
        self.failures = 0  # connections cut by a killed worker
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, i: int) -> None:
        client = sts_client(self.url)
        while not self.stopping.is_set():
            i += 1
            try:
                status, key = self._exchange(client) if i % 2 else self._assume(client)
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                    BotoCoreError, ResponseParserError):
                with self.lock:
                    self.failures += 1  # a connection (or an answer) cut by a killed worker
                continue
            with self.lock:
                self.statuses.append(status)
                if key is not None:
                    self.keys.add(key)

    def _exchange(self, _client: Any) -> tuple[int, str | None]:
        answer = requests.post(
            f"{self.url}/api/v1/token",
            timeout=DEADLINE,
            data={
                "grant_type": GRANT,
                "subject_token": self.token,
                "subject_token_type": ID_TOKEN,
                "audience": OIDC_READER,
            },
        )
        if answer.status_code != 200:
            return answer.status_code, None
        return 200, answer.json()["credentials"]["AccessKeyId"]

    def _assume(self, client: Any) -> tuple[int, str | None]:
        try:
            return 200, assume(client, self.token)
        except ClientError as exc:
            return exc.response["ResponseMetadata"]["HTTPStatusCode"], None

    def count(self) -> int:
        with self.lock:
            return len(self.keys)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(DEADLINE)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_of_workers_under_load_loses_no_audit_event(
    tmp_path: Path,
    redis_server: RedisServer,
    emulators: Emulators,
    request: pytest.FixtureRequest,
    backend: str,
) -> None:
    overrides = {}
    if backend == "postgresql":
        cluster: Postgres = request.getfixturevalue("postgres")
        overrides["GATEWAY_DATABASE_URL"] = cluster.new_database()
        upgrade(overrides["GATEWAY_DATABASE_URL"])
    env = gateway_env(tmp_path / "var", redis_server.url, new_port(), **overrides)
    prepare(env, _world(emulators))
    server = ServedGateway(env, tmp_path / "gateway.log").start()
    assert server.process is not None
    master = server.process.pid
    killed: list[int] = []
    try:
        with Load(server.url, id_token(emulators)) as load:
            for _ in range(3):
                wait_for("exchanges to flow", lambda n=load.count(): load.count() >= n + 10)
                victim = min(children(master))
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
                wait_for(
                    "gunicorn to replace the worker",
                    lambda: len(children(master) - set(killed)) == 2,
                )
            wait_for("exchanges after the kills", lambda n=load.count(): load.count() >= n + 10)
        assert server.alive
    finally:
        exit_code = server.stop()
    assert exit_code == 0
    assert all(status == 200 for status in load.statuses), sorted(set(load.statuses))
    url = env.get("GATEWAY_DATABASE_URL") or f"sqlite:///{tmp_path / 'var' / 'gateway.db'}"
    engine = make_engine(url)
    try:
        assert set(issued_events(engine, load.keys).values()) == {1}
        # Every row whole: a killed worker's transaction is either all there or absent.
        for event in audit.recent(
            engine, audit.AuditFilter(event_type=audit.CREDENTIALS_ISSUED), limit=100_000
        ):
            assert event.access_key_id and event.role_arn and event.request_id and event.at
            assert event.detail and {"action", "expires_at"} <= set(event.detail)
    finally:
        engine.dispose()
    log = server.log.read_text()
    assert all(f"Worker (pid:{pid}) was sent SIGKILL" in log for pid in killed)


def test_kill_9_in_the_middle_of_an_admin_write_leaves_nothing_of_it(
    tmp_path: Path,
    redis_server: RedisServer,
    emulators: Emulators,
    postgres: Postgres,
) -> None:
    url = postgres.new_database()
    upgrade(url)
    env = gateway_env(
        tmp_path / "var",
        redis_server.url,
        new_port(),
        GATEWAY_WORKERS="1",
        GATEWAY_DATABASE_URL=url,
    )
    prepare(env, _world(emulators))
    link = admin_link(env)
    server = ServedGateway(env, tmp_path / "gateway.log").start()
    assert server.process is not None
    engine = make_engine(url)
    admin = AdminBrowser(server.url)
    admin.sign_in(link)
    form = csrf_token(admin.get("/admin/accounts").text)
    new_account = {"csrf_token": form, "id": "999999999999", "alias": "half-written"}

    def account_rows() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM accounts WHERE id = '999999999999') "
                        "+ (SELECT count(*) FROM admin_changes "
                        "WHERE entity_key LIKE '%999999999999%')"
                    )
                ).scalar_one()
            )

    def blocked_on_lock() -> bool:
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query ILIKE '%admin_changes%'"
                    )
                ).scalar_one()
            )

    outcome: dict[str, object] = {}
    try:
        [worker] = children(server.process.pid)
        with engine.connect() as locker:
            locker.execute(text("LOCK TABLE admin_changes IN EXCLUSIVE MODE"))
            posting = threading.Thread(
                target=_post_ignoring_reset, args=(admin, server.url, new_account, outcome)
            )
            posting.start()
            # The worker has written the account inside its transaction and waits to log it.
            wait_for("the admin write to block inside its transaction", blocked_on_lock)
            os.kill(worker, signal.SIGKILL)
            posting.join(DEADLINE)
            assert "status" not in outcome, "the killed worker's request was answered"
            locker.rollback()
        wait_for("a replacement worker", lambda: children(server.process.pid) - {worker})
        wait_for("the killed transaction to end", lambda: not blocked_on_lock())
        assert account_rows() == 0, "nothing of the killed write may remain"
        done = admin.http.post(
            f"{server.url}/admin/accounts",
            data=new_account,
            allow_redirects=False,
            timeout=DEADLINE,
        )
        assert done.status_code == 303
        assert account_rows() == 2  # the account and its change-log entry, together
    finally:
        engine.dispose()
        assert server.stop() == 0


def _post_ignoring_reset(
    admin: AdminBrowser, base: str, data: dict[str, str], outcome: dict[str, object]
) -> None:
    try:
        answer = admin.http.post(
            f"{base}/admin/accounts", data=data, allow_redirects=False, timeout=DEADLINE
        )
        outcome["status"] = answer.status_code
    except requests.ConnectionError as exc:
        outcome["error"] = exc  # the worker answering it was killed: what this test does
