"""Redis connections with bounded timeouts so an outage answers 503 quickly."""

from __future__ import annotations

import redis


def connect(url: str) -> redis.Redis:
    """A client that fails fast when Redis is away and reconnects by itself when it returns."""
    return redis.Redis.from_url(
        url,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        health_check_interval=10,
        retry_on_timeout=False,
        decode_responses=False,
    )
