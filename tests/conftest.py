"""Shared fixtures: real Redis servers, real databases, the gateway over real HTTP."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from werkzeug.serving import BaseWSGIServer, make_server

from gateway import create_app
from gateway.settings import Settings
from gateway.state.embedded import redis_server_binary

# Hypothesis profiles. `ci` (the default) bounds each property for CI; the fuzz tests
# (tests/fuzz) take their example counts from it. `pytest --hypothesis-profile=long`
# digs deeper locally. The deadline is no performance goal: it catches a parser that
# hangs or goes quadratic on a few kilobytes.
_FUZZ_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large]
hypothesis_settings.register_profile(
    "ci", max_examples=200, deadline=10_000, suppress_health_check=_FUZZ_HEALTH
)
hypothesis_settings.register_profile(
    "long", max_examples=5_000, deadline=10_000, suppress_health_check=_FUZZ_HEALTH
)
hypothesis_settings.load_profile("ci")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A real redis-server on a TCP port that a test may stop and start again."""

    def __init__(self, directory: Path, *, persistent: bool = False) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        # Persistent: an append-only file keeps the data across a stop and start, as a
        # production Redis restarted by its operator would.
        self.persistence = ["--appendonly", "yes" if persistent else "no"]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", *self.persistence, "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_timeout=0.2).ping():
                    return
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def make_settings(tmp_path: Path, redis_url: str, **overrides: Any) -> Settings:
    env = {
        "GATEWAY_VAR_DIR": str(tmp_path / "var"),
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_MASTER_KEY": "11" * 32,
        "GATEWAY_CONFIG_RELOAD_INTERVAL": "0.1",
    }
    env.update(overrides)
    return Settings.from_env(env)


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer) -> Settings:
    return make_settings(tmp_path, redis_server.url)


class LiveServer:
    """The gateway app served over real HTTP from a background thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(create_app(settings))
    yield server
    server.stop()
