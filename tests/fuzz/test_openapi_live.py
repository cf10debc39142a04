"""The JSON APIs, fuzzed by schemathesis from the OpenAPI file against the live gateway.

Every generated request (valid and invalid, by the schema) goes over real HTTP to a
gateway with a loaded configuration; every answer must be no 5xx, a documented status,
a documented content type, and a body matching the documented schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.web import ratelimit
from gateway.web.openapi import document
from tests.conftest import LiveServer, RedisServer, make_settings
from tests.web.authorize_support import live_world

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]

schema = schemathesis.openapi.from_dict(document())


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("openapi-fuzz")
    redis_server = RedisServer(tmp / "redis")
    redis_server.start()
    server = live_world(make_settings(tmp, redis_server.url))
    # Explore the endpoints, not the rate limiter (tests/web/test_rate_limits.py does).
    limits: ratelimit.RateLimits = server.app.extensions[ratelimit.EXTENSION]
    limits.rates.update({scope: ratelimit.Rate(10**6, 60) for scope in limits.rates})
    try:
        yield server
    finally:
        server.stop()
        redis_server.stop()


@schema.parametrize()
def test_every_answer_is_documented_and_never_a_server_error(
    case: schemathesis.Case, live: LiveServer
) -> None:
    response = case.call(base_url=live.url, timeout=30)
    case.validate_response(response, checks=CHECKS)
