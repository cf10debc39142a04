"""GATEWAY_VAR_DIR removed under a served gateway (`gateway serve`, two workers).

What lives there: the audit spool (`audit-spool/`), the metrics files of every worker
(`metrics/`), the embedded Redis (`redis/`, its unix socket) and, by default, the SQLite
database and the master key file. Here the database is a real PostgreSQL and the master
key comes from the environment, as in production; the directory is removed with
everything in it while the gateway serves, and:

- no answer is a 500: the spool and metrics directories are recreated when next needed;
- audit events spooled while the database is down, before and after the removal, all
  reach the database once it is back (a spool file deleted while open is carried over
  into a new one through the descriptor its worker still holds);
- a worker started after the removal boots and serves;
- with the embedded Redis, whose socket went with the directory, what needs Redis answers
  503 in each protocol's own shape, as during any Redis outage.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis
import requests
from botocore.exceptions import ClientError

from gateway.devtools.emulators import Emulators
from gateway.store.db import make_engine
from gateway.store.migrate import upgrade
from tests.conftest import RedisServer
from tests.faults.exchange import assume, id_token, issued_events, post_rfc8693, sts_client
from tests.faults.postgres import Postgres
from tests.faults.served import GATEWAY, ServedGateway, gateway_env, new_port, prepare, world_yaml

DEADLINE = 60.0


def wait_for(what: str, check: object) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def issue(base: str, token: str) -> str:
    answer = post_rfc8693(base, token)
    assert answer.status_code == 200, answer.text
    key: str = answer.json()["credentials"]["AccessKeyId"]
    return key


def spool_pids(spool: Path) -> set[int]:
    return {int(p.name.split("-")[-2]) for p in spool.glob("*.jsonl")}


def statuses(base: str) -> dict[str, int]:
    """Pages that touch the stores, the metrics files and the config; path -> status."""
    return {
        path: requests.get(f"{base}{path}", timeout=30, allow_redirects=False).status_code
        for path in ("/healthz", "/readyz", "/metrics", "/login", "/console", "/nope")
    }


def test_a_removed_var_dir_costs_no_500_and_no_audit_event(
    tmp_path: Path,
    postgres: Postgres,
    redis_server: RedisServer,
    emulators: Emulators,
) -> None:
    url = postgres.new_database()
    upgrade(url)
    var = tmp_path / "var"
    env = gateway_env(var, redis_server.url, new_port(), GATEWAY_DATABASE_URL=url)
    prepare(env, world_yaml(emulators))
    spool = var / "audit-spool"
    server = ServedGateway(env, tmp_path / "gateway.log").start()
    engine = make_engine(url)
    workers = set(server.worker_pids())
    try:
        base, token = server.url, id_token(emulators)
        issued = {issue(base, token)}
        postgres.stop()
        # Both workers spool (connections are spread over them; each request is its own).
        wait_for("both workers to spool", lambda: issued.add(issue(base, token))
                 or spool_pids(spool) >= workers)

        shutil.rmtree(var)

        # Each worker, writing next, finds its spool file deleted and carries it over.
        wait_for("both spools carried over", lambda: issued.add(issue(base, token))
                 or spool_pids(spool) >= workers)
        found = statuses(base)
        assert max(found.values()) < 500, found
        assert found["/metrics"] == 200 and found["/readyz"] == 200
        # Samples written since (each worker reopens its files within a second) are there.
        wait_for("metrics in the recreated directory", lambda: issued.add(issue(base, token))
                 or "gateway_credentials_issued_total"
                 in requests.get(f"{base}/metrics", timeout=30).text)
        assert (var / "metrics").is_dir()

        postgres.start()
        wait_for("the spools to drain", lambda: not list(spool.glob("*.jsonl")))
        counts = issued_events(engine, issued)
        assert set(counts.values()) == {1}, counts

        # Removed again, and a worker dies: its replacement boots and serves.
        shutil.rmtree(var)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        wait_for("a replacement worker", lambda: len(set(server.worker_pids()) - workers) == 1)
        wait_for("readiness", lambda: requests.get(f"{base}/readyz", timeout=30).status_code == 200)
        after = {issue(base, token) for _ in range(10)}
        for _ in range(5):
            found = statuses(base)
            assert max(found.values()) < 500, found
        assert set(issued_events(engine, after).values()) == {1}
        assert server.alive
    finally:
        engine.dispose()
        if not postgres.running():
            postgres.start()
        assert server.stop() == 0
    log = (tmp_path / "gateway.log").read_text()
    assert "unhandled error" not in log and "Traceback" not in log
    assert "was deleted while in use; its" in log
    assert "Worker failed to boot" not in log


def test_the_embedded_redis_gone_with_the_var_dir_is_a_503_in_each_protocols_shape(
    tmp_path: Path,
    emulators: Emulators,
) -> None:
    var = tmp_path / "var"
    env = gateway_env(
        var, "", new_port(), GATEWAY_DATABASE_URL=f"sqlite:///{tmp_path / 'gateway.db'}"
    )
    world = tmp_path / "world.yaml"
    world.write_text(world_yaml(emulators))
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")} | env
    imported = subprocess.run(
        [GATEWAY, "config", "import", str(world)], env=child_env, capture_output=True,
        text=True, timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    # `gateway serve` starts the embedded Redis on var/redis/redis.sock and owns it.
    server = ServedGateway(env, tmp_path / "gateway.log").start()
    try:
        base, token = server.url, id_token(emulators)
        assert post_rfc8693(base, token).status_code == 200
        survivor = redis.Redis(unix_socket_path=str(var / "redis" / "redis.sock"))
        assert survivor.ping()

        shutil.rmtree(var)
        # Connections already open still work; new ones find no socket. Drop the open
        # ones (as a restart of any client connection would), so every worker needs one.
        survivor.client_kill_filter(_type="normal", skipme=True)

        answer = post_rfc8693(base, token)
        assert answer.status_code == 503
        assert answer.json()["error"] == "temporarily_unavailable"
        with pytest.raises(ClientError) as refused:
            assume(sts_client(base), token)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
        page = requests.get(f"{base}/saml/login/corp", timeout=30, allow_redirects=False)
        assert page.status_code == 503 and page.headers["Content-Type"].startswith("text/html")
        ready = requests.get(f"{base}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"].startswith("unavailable")
        found = statuses(base)
        assert max(found.values()) <= 503 and 500 not in found.values(), found
    finally:
        assert server.stop() == 0
    log = (tmp_path / "gateway.log").read_text()
    assert "unhandled error" not in log and "Traceback" not in log
    assert "Redis unavailable" in log
