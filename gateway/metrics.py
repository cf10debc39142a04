"""Prometheus metrics, correct under several gunicorn workers.

`gateway serve` sets PROMETHEUS_MULTIPROC_DIR before any worker imports this module,
so every worker writes its samples to files that `/metrics` aggregates.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

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
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
