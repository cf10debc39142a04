"""A real Redis server stopped and restarted under the gateway: 503, then recovery."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from flask import jsonify, session

from gateway import create_app
from gateway.settings import Settings
from tests.conftest import LiveServer, RedisServer


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    app = create_app(settings)

    # A JSON endpoint that needs Redis, standing in for the token-exchange API.
    @app.get("/api/_probe/session")
    def probe() -> object:
        return jsonify(seen=session.get("seen", 0))

    live = LiveServer(app)
    yield live
    live.stop()


def test_redis_outage_answers_503_in_each_shape_and_recovers_by_itself(
    server: LiveServer, redis_server: RedisServer
) -> None:
    base = server.url
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 200

    redis_server.stop()

    # A page that needs the session store: an HTML page saying what went wrong.
    with requests.Session() as browser:
        browser.cookies.set("gw_session", "x" * 43)
        page = browser.get(f"{base}/", timeout=5)
    assert page.status_code == 503
    assert page.headers["Content-Type"].startswith("text/html")
    assert "session store is unavailable" in page.text
    assert "Traceback" not in page.text

    # An API endpoint: the JSON problem shape.
    api = requests.get(f"{base}/api/_probe/session", cookies={"gw_session": "y" * 43}, timeout=5)
    assert api.status_code == 503
    assert api.headers["Content-Type"].startswith("application/problem+json")
    assert api.json()["status"] == 503

    # Readiness reports the outage; liveness does not depend on Redis.
    ready = requests.get(f"{base}/readyz", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"].startswith("unavailable")
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200

    redis_server.start()
    returned = time.monotonic()
    while requests.get(f"{base}/", cookies={"gw_session": "x" * 43}, timeout=5).status_code != 200:
        assert time.monotonic() - returned < 2, "did not recover within 2 s of Redis returning"
        time.sleep(0.05)
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 200


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_sts_keeps_verifying_through_an_outage_then_fails_as_configured(
    tmp_path: object, redis_server: RedisServer, mode: str
) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from tests.conftest import make_settings
    from tests.sts_world import first_credentials, load_world

    settings = make_settings(tmp_path, redis_server.url,  # type: ignore[arg-type]
                             GATEWAY_REVOCATION_FAIL_MODE=mode)
    app = create_app(settings)
    load_world(app)
    live = LiveServer(app)
    try:
        creds = first_credentials(app)
        client = boto3.client(
            "sts", endpoint_url=f"{live.url}/sts", region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}), **creds.boto_kwargs(),
        )
        assert client.get_caller_identity()["Arn"].endswith("/alice")
        redis_server.stop()
        # Stateless: verification needs neither Redis nor the database.
        assert client.get_caller_identity()["Arn"].endswith("/alice")
        time.sleep(5.5)  # past the revocation list's staleness limit
        if mode == "open":
            assert client.get_caller_identity()["Arn"].endswith("/alice")
        else:
            with pytest.raises(ClientError) as caught:
                client.get_caller_identity()
            error = caught.value.response
            assert error["Error"]["Code"] == "ServiceUnavailable"
            assert error["ResponseMetadata"]["HTTPStatusCode"] == 503
        redis_server.start()
        returned = time.monotonic()
        while True:
            try:
                client.get_caller_identity()
                break
            except ClientError:
                assert time.monotonic() - returned < 2
                time.sleep(0.05)
    finally:
        live.stop()
