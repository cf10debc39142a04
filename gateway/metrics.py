"""Prometheus metrics, correct under several gunicorn workers.

`gateway serve` sets PROMETHEUS_MULTIPROC_DIR (`<var>/metrics`) before any worker imports
this module, so every worker writes its samples to files that `/metrics` aggregates.

That directory can vanish under a running server (GATEWAY_VAR_DIR removed or cleaned).
prometheus-client would then fail every metric whose file it has yet to open (a 500 for
the request that touched it, a worker that cannot start) and `/metrics` itself, and the
files it has open would go on being written unlinked, never read again. So the
directory is recreated when it is found missing (checked at most once a second, when a
process starts writing, when a file cannot be created, and by `/metrics`), and each
process then reopens its files there: its counters restart from zero, which Prometheus
reads as a counter reset.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

_CHECK_INTERVAL = 1.0  # seconds between checks that the directory is still there


class _Directory:
    """The multi-process directory, recreated when missing; names this process's files.

    prometheus-client names a process's files after `identifier()` and reopens all of them
    when its answer changes (meant for fork): a recreated directory changes it too.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._pid = 0
        self._generation = 0
        self._next_check = 0.0
        self._name = ""

    def identifier(self) -> str:
        # Called on every sample written (under prometheus-client's lock): cheap unless
        # the process changed or a check is due.
        pid, now = os.getpid(), time.monotonic()
        if pid != self._pid or now >= self._next_check:
            self._pid, self._next_check = pid, now + _CHECK_INTERVAL
            self.ensure()
            self._name = str(pid) if not self._generation else f"{pid}r{self._generation}"
        return self._name

    def ensure(self) -> None:
        """Recreate the directory if it is gone; this process then reopens its files."""
        with self._lock:
            if os.path.isdir(self.path):
                return
            os.makedirs(self.path, exist_ok=True)
            self._generation += 1
            self._next_check = 0.0  # the next identifier() names the new files


def _recreating_values(directory: _Directory) -> Any:
    base: Any = values.MultiProcessValue(directory.identifier)  # type: ignore[no-untyped-call]

    class Value(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            try:
                super().__init__(*args, **kwargs)
            except FileNotFoundError:  # gone since the last check
                directory.ensure()
                super().__init__(*args, **kwargs)

    return Value


_DIRECTORY: _Directory | None = None
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Before any metric below exists: each takes its value class when it is created.
    _DIRECTORY = _Directory(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    values.ValueClass = _recreating_values(_DIRECTORY)

HTTP_REQUESTS = Counter(
    "gateway_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"]
)
HTTP_LATENCY = Histogram(
    "gateway_http_request_duration_seconds", "Time to answer an HTTP request", ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
CONFIG_VERSION = Gauge(
    "gateway_config_version", "Configuration version loaded", multiprocess_mode="max"
)
REDIS_ERRORS = Counter("gateway_redis_errors_total", "Requests refused because Redis was away")
CREDENTIALS_ISSUED = Counter(
    "gateway_credentials_issued_total", "Temporary credentials minted", ["action"]
)
CREDENTIALS_REFUSED = Counter(
    "gateway_credentials_refused_total", "Credential requests refused", ["action", "code"]
)
RATE_LIMITED = Counter(
    "gateway_rate_limited_total", "Requests refused by a rate limit", ["scope"]
)
AUTHORIZE_DECISIONS = Counter(
    "gateway_authorize_decisions_total",
    "Authorization API answers: allow/deny by reason, or refused by AWS error code",
    ["decision", "reason"],
)


def render() -> tuple[bytes, str]:
    """The exposition text for every worker's samples."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        (_DIRECTORY or _Directory(os.environ["PROMETHEUS_MULTIPROC_DIR"])).ensure()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
