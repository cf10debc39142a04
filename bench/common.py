"""What every benchmark script shares: one-core pinning, rate loops, local servers."""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    """One line of `bench/run`'s table: a figure, its same-run baseline, and the goal.

    Every bench module exposes `measure(runs: int) -> list[Row]`; `bench/run` calls them
    all, prints one table and saves the rows (with `raw`) as JSON.
    """

    path: str  # what was measured, e.g. "AssumeRoleWithWebIdentity over HTTP"
    figure: str  # the figure in words with its unit, e.g. "4,210 req/s (median of 5)"
    baseline: str  # the baseline measured in the same run, e.g. "bare Flask 7,650 req/s"
    ratio: float | None  # value / baseline where the goal is a ratio, else None
    goal: str  # e.g. ">= 0.55x bare Flask"
    passed: bool
    raw: dict[str, Any] = field(default_factory=dict)  # every raw number, for comparison


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def pin_to_one_core() -> str:
    """Pin this process to one CPU so figures are per core; say which."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def rate(run: Callable[[int], None], batch: int, seconds: float) -> float:
    """Operations per second: whole batches until `seconds` have passed."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        run(batch)
        done += batch
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, path: str, method: str = "GET", deadline: float = 30.0) -> None:
    """Block until something answers `method path` on the local port."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request(method, path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port}")


def serve_bare(app: Any, port: int, workers: int) -> None:
    """gunicorn exactly as `gateway serve` configures it, loading `app` instead: the baseline."""
    from gateway.server import GatewayServer
    from gateway.settings import Settings

    class BareServer(GatewayServer):
        def load(self) -> Any:
            return app

    BareServer(
        Settings.from_env({"GATEWAY_BIND": f"127.0.0.1:{port}", "GATEWAY_WORKERS": str(workers)})
    ).run()


# --- what `bench/run` tells the modules --------------------------------------------------

QUICK_ENV = "BENCH_QUICK"


def quick() -> bool:
    """True under `bench/run --quick`: a smoke run, so shorten every measurement."""
    return os.environ.get(QUICK_ENV) == "1"


def per_second(value: float) -> str:
    return f"{value:,.0f}/s"


# --- a real gateway for the HTTP benchmarks ----------------------------------------------


@dataclass
class Served:
    """A `gateway serve` subprocess with a redis-server of its own, on loopback ports."""

    port: int
    redis_url: str
    env: dict[str, str]
    server: Any  # subprocess.Popen
    others: list[Any] = field(default_factory=list)  # processes to stop after the server

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        for proc in [self.server, *reversed(self.others)]:
            proc.terminate()
            try:
                proc.wait(20)
            except Exception:
                proc.kill()
                proc.wait()


def serve_gateway(workdir: Any, config_yaml: str | None = None, **settings: str) -> Served:
    """Start `gateway serve` as production runs it (gunicorn, sync workers).

    SQLite under `workdir`, its own redis-server; `config_yaml` is imported first with
    `gateway config import`; extra GATEWAY_* settings by keyword (workers="2").
    Call `.stop()` when done.
    """
    import subprocess
    import sys
    from pathlib import Path

    from gateway.state.embedded import redis_server_binary

    workdir = Path(workdir)
    gateway_bin = str(Path(sys.executable).with_name("gateway"))
    redis_port, port = free_port(), free_port()
    redis_proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        {
            "GATEWAY_VAR_DIR": str(workdir / "var"),
            "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "GATEWAY_MASTER_KEY": "22" * 32,
            "GATEWAY_BIND": f"127.0.0.1:{port}",
            "GATEWAY_BASE_URL": f"http://127.0.0.1:{port}",
            "GATEWAY_WORKERS": "2",
            "GATEWAY_LOG_LEVEL": "WARNING",
        }
    )
    env.update({f"GATEWAY_{k.upper()}": v for k, v in settings.items()})
    try:
        _wait_ready(lambda: _redis_pings(redis_port))
        if config_yaml is not None:
            (workdir / "config.yaml").write_text(config_yaml)
            subprocess.run(
                [gateway_bin, "config", "import", str(workdir / "config.yaml")],
                env=env,
                check=True,
                capture_output=True,
            )
        server = subprocess.Popen(
            [gateway_bin, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    except BaseException:
        redis_proc.terminate()
        raise
    served = Served(port, env["GATEWAY_REDIS_URL"], env, server, [redis_proc])
    try:
        _wait_ready(lambda: _status(port, "/readyz") == 200)
    except BaseException:
        served.stop()
        raise
    return served


def _wait_ready(ready: Callable[[], bool], deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if ready():
                return
        except Exception:  # refused connections while it starts, whatever the client
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not become ready")


def _redis_pings(port: int) -> bool:
    import redis

    return bool(redis.Redis(port=port, socket_timeout=1).ping())


def _status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()
