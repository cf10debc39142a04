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
