"""`gateway serve` as operators run it: gunicorn, several workers, embedded Redis, SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import free_port

GATEWAY = str(Path(sys.executable).with_name("gateway"))


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "server exited during start-up"
        try:
            if requests.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become ready")


def test_serve_with_two_workers_embedded_redis_and_graceful_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_BIND=f"127.0.0.1:{port}", GATEWAY_WORKERS="2",
               GATEWAY_VAR_DIR=str(tmp_path / "var"))
    process = subprocess.Popen([GATEWAY, "serve"], env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        socket_path = tmp_path / "var" / "redis" / "redis.sock"
        assert socket_path.exists(), "embedded Redis should listen on a unix socket"
        assert (tmp_path / "var" / "master.key").stat().st_mode & 0o777 == 0o600
        for _ in range(20):
            requests.get(f"{url}/healthz", timeout=5)
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        line = re.search(
            r'gateway_http_requests_total\{endpoint="ops.healthz",method="GET",status="200"\} '
            r"(\d+)", metrics)
        # Both workers answered some of them; the sum across workers must be exact.
        assert line and float(line.group(1)) == 20
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert b"Shutting down: Master" in err
    assert not socket_path.exists(), "the embedded Redis stops with the server"


def test_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_VAR_DIR=str(tmp_path / "var"),
               GATEWAY_DATABASE_URL=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x")
    result = subprocess.run([GATEWAY, "serve"], env=env, capture_output=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert lines[-1].startswith("gateway: cannot reach the database at postgresql+psycopg://")
    assert "GATEWAY_DATABASE_URL" in lines[-1]
    assert "Traceback" not in result.stderr.decode()


def test_unreachable_redis_is_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_VAR_DIR=str(tmp_path / "var"),
               GATEWAY_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    result = subprocess.run([GATEWAY, "serve"], env=env, capture_output=True, timeout=60)
    assert result.returncode == 2
    last = result.stderr.decode().strip().splitlines()[-1]
    assert last.startswith("gateway: cannot reach Redis at redis://127.0.0.1:")
    assert "Traceback" not in result.stderr.decode()


def test_invalid_settings_list_every_problem(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_WORKERS="many", GATEWAY_BIND="x", GATEWAY_VAR_DIR=str(tmp_path))
    result = subprocess.run([GATEWAY, "serve"], env=env, capture_output=True, timeout=60)
    assert result.returncode != 0
    err = result.stderr.decode()
    assert "GATEWAY_WORKERS" in err and "GATEWAY_BIND" in err and "Traceback" not in err
