"""A served gateway with a signed-in browser and credentials, and one call per kind of
request the fault tests send: each returns (HTTP status, answer in the expected shape,
what came back)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from gateway.devtools.emulators import DEMO_USERS, OIDC_CLIENT, Emulators
from gateway.runtime import Runtime
from tests.conftest import RedisServer
from tests.faults.served import ServedGateway, gateway_env, new_port, prepare, world_yaml
from tests.sources.oidc import signin
from tests.sources.oidc.world import OIDC_READER
from tests.sts_world import ACCOUNT_A, Minted, first_credentials
from tests.web.authorize_support import question

ALICE = DEMO_USERS[0]
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"


class World:
    """A served gateway, a signed-in browser, good and revoked credentials."""

    def __init__(
        self, tmp: Path, redis_server: RedisServer, emulators: Emulators, **settings: str
    ) -> None:
        port = new_port()
        self.env = gateway_env(tmp / "var", redis_server.url, port, **settings)
        self.app = prepare(self.env, world_yaml(emulators))
        self.rt: Runtime = self.app.extensions["gateway"]
        self.emulators = emulators
        self.good = first_credentials(self.app, session_name="alice")
        self.revoked = first_credentials(self.app, session_name="mallory")
        self.rt.revocations.revoke(
            self.revoked.credentials.access_key_id, self.revoked.claims.expires_at
        )
        self.server = ServedGateway(self.env, tmp / "gateway.log").start()
        self.browser = requests.Session()
        query = signin.start(self.browser, self.server, "test-oidc")  # type: ignore[arg-type]
        done = signin.finish(self.browser, signin.approve(self.browser, query))
        assert done.status_code == 303 and done.headers["Location"] == "/console"
        self.cookie = self.browser.cookies["gw_session"]
        self.id_token = emulators.oidc.id_token(ALICE, OIDC_CLIENT[0])


def sts_client(url: str, creds: Minted) -> Any:
    # No retries: each call is one request, so each outcome is what the gateway said.
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=10
    )
    return boto3.client(
        "sts",
        endpoint_url=f"{url}/sts",
        region_name="us-east-1",
        config=config,
        **creds.boto_kwargs(),
    )


def call_sts(client: Any) -> tuple[int, bool, str]:
    try:
        client.get_caller_identity()
        return 200, True, "ok"
    except ClientError as exc:
        error = exc.response
        status = error["ResponseMetadata"]["HTTPStatusCode"]
        code = error["Error"]["Code"]
        # botocore parsed an STS <ErrorResponse>: the code is AWS's, not the HTTP status.
        return status, status == 503 and code == "ServiceUnavailable", code


def call_authorize(url: str, creds: Minted) -> tuple[int, bool, str]:
    response = requests.post(
        f"{url}/api/v1/authorize", timeout=10, json=question(creds, resource_account=ACCOUNT_A)
    )
    if response.status_code == 200:
        return 200, response.json()["decision"] == "allow", response.json()["decision"]
    shaped = (
        response.status_code == 503
        and response.headers["Content-Type"] == "application/problem+json"
        and response.json()["status"] == 503
        and response.json()["code"] == "ServiceUnavailable"
    )
    return response.status_code, shaped, response.text[:200]


def call_token(url: str, id_token: str) -> tuple[int, bool, str]:
    response = requests.post(
        f"{url}/api/v1/token",
        timeout=10,
        data={
            "grant_type": GRANT,
            "subject_token": id_token,
            "subject_token_type": ID_TOKEN,
            "audience": OIDC_READER,
        },
    )
    body = response.json()
    if response.status_code == 200:
        return 200, body["role_arn"] == OIDC_READER, "ok"
    # RFC 6749's own error shape, which this endpoint speaks (RFC 8693 §2.2.2).
    shaped = response.status_code == 503 and body.get("error") == "temporarily_unavailable"
    return response.status_code, shaped, response.text[:200]


def call_portal(url: str, cookie: str) -> tuple[int, bool, str]:
    response = requests.get(
        f"{url}/console", cookies={"gw_session": cookie}, timeout=10, allow_redirects=False
    )
    html = response.headers.get("Content-Type", "").startswith("text/html")
    if response.status_code == 200:
        return 200, html and "OidcReader" in response.text, "ok"
    shaped = (
        response.status_code == 503
        and html
        and "unavailable" in response.text
        and "Traceback" not in response.text
    )
    return response.status_code, shaped, response.text[:200]


def call_health(url: str) -> tuple[int, bool, str]:
    response = requests.get(f"{url}/healthz", timeout=10)
    return response.status_code, response.status_code == 200, response.text[:100]


def revoked_is_refused(world: World) -> tuple[int, str]:
    try:
        sts_client(world.server.url, world.revoked).get_caller_identity()
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"]
    return 200, "accepted"
