"""A real PostgreSQL stopped under a served gateway (`gateway serve`, two workers).

While the database is away, people still sign in and apps still exchange tokens for
credentials, from each worker's cached configuration; every issuance's audit event is
fsynced to the worker's local spool before the credentials leave; admin writes are
refused with a clear 503 page. A worker killed with its spool still full leaves it
behind; once the database is back, every spooled event, that one's too, reaches the
database exactly once, and admin writes work again.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import requests

from gateway.devtools.emulators import Emulators
from gateway.state.keys import Keys
from gateway.store import audit
from gateway.store.audit_spool import read_rows
from gateway.store.db import make_engine
from gateway.store.migrate import upgrade
from tests.conftest import RedisServer
from tests.faults.exchange import assume, id_token, issued_events, rfc8693, sts_client
from tests.faults.postgres import Postgres
from tests.faults.served import ServedGateway, gateway_env, new_port, prepare, world_yaml
from tests.sources.oidc import signin
from tests.web.admin.support import AdminBrowser, admin_link, csrf_token

DEADLINE = 60.0  # seconds any awaited state may take before the test fails


def spooled(spool: Path) -> dict[int, set[str]]:
    """Access key ids of issuances in each spool file, by the pid in its name."""
    found: dict[int, set[str]] = {}
    for path in spool.glob("*.jsonl"):
        pid = int(path.name.split("-")[-2])
        keys = {
            row["access_key_id"]
            for row in read_rows(path)
            if row["event_type"] == audit.CREDENTIALS_ISSUED
        }
        found.setdefault(pid, set()).update(keys)
    return found


def wait_for(what: str, check: object) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_database_outage_keeps_signing_in_and_loses_no_audit_event(
    tmp_path: Path,
    postgres: Postgres,
    redis_server: RedisServer,
    emulators: Emulators,
) -> None:
    url = postgres.new_database()
    upgrade(url)
    env = gateway_env(tmp_path / "var", redis_server.url, new_port(), GATEWAY_DATABASE_URL=url)
    prepare(env, world_yaml(emulators))
    link = admin_link(env)
    spool = tmp_path / "var" / "audit-spool"
    server = ServedGateway(env, tmp_path / "gateway.log").start()
    engine = make_engine(url)
    try:
        base = server.url
        token = id_token(emulators)
        sts = sts_client(base)
        admin = AdminBrowser(base)
        admin.sign_in(link)
        form_token = csrf_token(admin.get("/admin/accounts").text)
        before = {rfc8693(base, token), assume(sts, token)}
        assert set(issued_events(engine, before).values()) == {1}

        postgres.stop()

        ready = requests.get(f"{base}/readyz", timeout=30).json()
        assert ready["status"] == "degraded"
        assert ready["checks"]["database"].startswith("unavailable")

        # A browser sign-in, start to finish, and the portal page it lands on.
        browser = requests.Session()
        done = signin.finish(
            browser, signin.approve(browser, signin.start(browser, server, "test-oidc"))
        )  # type: ignore[arg-type]
        assert done.status_code == 303 and done.headers["Location"] == "/console"
        portal = browser.get(f"{base}/console", timeout=30)
        assert portal.status_code == 200 and "OidcReader" in portal.text

        # A configuration change announced now cannot be loaded: the last snapshot serves.
        redis_server.client().incr(Keys("gw:").config_version)
        during = set()
        for _ in range(8):
            during.add(rfc8693(base, token))
            during.add(assume(sts, token))
        assert len(during) == 16

        # An admin write: a clear page, nothing half-done, no stack trace.
        refused = admin.http.post(
            f"{base}/admin/accounts",
            allow_redirects=False,
            timeout=30,
            data={"csrf_token": form_token, "id": "999999999999"},
        )
        assert refused.status_code == 503
        assert refused.headers["Content-Type"].startswith("text/html")
        assert "database is unavailable" in refused.text
        assert "Traceback" not in refused.text

        # Every credential handed out is on disk before the database is back.
        by_pid = spooled(spool)
        assert during <= set().union(*by_pid.values())

        # A worker dies with its spool unsent; its replacement waits for the database
        # while the other worker goes on serving.
        workers = set(server.worker_pids())
        victim = next(pid for pid in by_pid if pid in workers)
        os.kill(victim, signal.SIGKILL)
        wait_for("a replacement worker", lambda: len(set(server.worker_pids()) - workers) == 1)
        wait_for(
            "the replacement to wait for the database",
            lambda: "worker waiting to start" in server.log.read_text(),
        )
        after_kill = {rfc8693(base, token) for _ in range(3)}
        assert victim in spooled(spool), "the dead worker's spool stays until drained"

        postgres.start()

        issued = before | during | after_kill
        wait_for(
            "every issuance in the database", lambda: all(issued_events(engine, issued).values())
        )
        wait_for("the spool to empty", lambda: not list(spool.glob("*.jsonl")))
        assert set(issued_events(engine, issued).values()) == {1}, "no event twice"
        signins = audit.recent(
            engine, audit.AuditFilter(event_type=audit.SIGNIN, outcome="success")
        )
        assert any(e.subject is not None and e.provider for e in signins)

        wait_for(
            "readiness",
            lambda: requests.get(f"{base}/readyz", timeout=30).json()["status"] == "ready",
        )
        accepted = admin.http.post(
            f"{base}/admin/accounts",
            allow_redirects=False,
            timeout=30,
            data={"csrf_token": form_token, "id": "999999999999"},
        )
        assert accepted.status_code == 303
        assert server.alive
    finally:
        engine.dispose()
        if not postgres.running():
            postgres.start()
        assert server.stop() == 0
    log = (tmp_path / "gateway.log").read_text()
    assert re.search(r"audit events are spooled under", log)
    assert "Worker failed to boot" not in log
    assert "config reload failed, keeping version" in log
