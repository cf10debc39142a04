"""GATEWAY_RATE_LIMIT_ADDRESS throttles the token exchange per client address."""

from __future__ import annotations

from pathlib import Path

import requests

from gateway import create_app
from tests.conftest import LiveServer, RedisServer, make_settings


def test_address_limit_from_settings_answers_429_with_retry_after(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    settings = make_settings(tmp_path, redis_server.url, GATEWAY_RATE_LIMIT_ADDRESS="2/minute")
    server = LiveServer(create_app(settings))
    try:
        form = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": "not-a-token",
                "subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}
        answers = [requests.post(f"{server.url}/api/v1/token", data=form) for _ in range(3)]
        assert [a.status_code for a in answers[:2]] == [400, 400]
        assert answers[2].status_code == 429
        assert int(answers[2].headers["Retry-After"]) >= 1
    finally:
        server.stop()
