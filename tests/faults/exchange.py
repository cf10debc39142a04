"""Token exchanges as mobile apps send them, returning the access key id each one got."""

from __future__ import annotations

from typing import Any

import boto3
import requests
from botocore import UNSIGNED
from botocore.config import Config
from sqlalchemy import Engine, select

from gateway.devtools.emulators import DEMO_USERS, OIDC_CLIENT, Emulators
from gateway.store import audit
from gateway.store.models import AuditEventRow
from tests.sources.oidc.world import OIDC_READER

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"


def id_token(emulators: Emulators) -> str:
    return emulators.oidc.id_token(DEMO_USERS[0], OIDC_CLIENT[0])


def post_rfc8693(url: str, token: str, timeout: float = 30) -> requests.Response:
    """POST /api/v1/token for the reader role; the answer as it came, whatever its status."""
    return requests.post(
        f"{url}/api/v1/token",
        timeout=timeout,
        data={
            "grant_type": GRANT,
            "subject_token": token,
            "subject_token_type": ID_TOKEN,
            "audience": OIDC_READER,
        },
    )


def rfc8693(url: str, token: str, timeout: float = 30) -> str:
    """POST /api/v1/token; the access key id of the credentials it answered with."""
    response = post_rfc8693(url, token, timeout)
    assert response.status_code == 200, response.text
    key: str = response.json()["credentials"]["AccessKeyId"]
    return key


def sts_client(url: str) -> Any:
    # One attempt per call: each outcome is exactly what the gateway answered.
    config = Config(
        signature_version=UNSIGNED,
        retries={"total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=30,
    )
    return boto3.client("sts", endpoint_url=f"{url}/sts", region_name="us-east-1", config=config)


def assume(client: Any, token: str) -> str:
    """AssumeRoleWithWebIdentity through boto3; the access key id it got."""
    answer = client.assume_role_with_web_identity(
        RoleArn=OIDC_READER, RoleSessionName="app", WebIdentityToken=token
    )
    key: str = answer["Credentials"]["AccessKeyId"]
    return key


def issued_events(engine: Engine, keys: set[str]) -> dict[str, int]:
    """How many `credentials.issued` rows the database holds for each of `keys`."""
    c = AuditEventRow.__table__.c
    counts = dict.fromkeys(keys, 0)
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.access_key_id).where(
                c.event_type == audit.CREDENTIALS_ISSUED, c.access_key_id.in_(keys)
            )
        )
        for (key,) in rows:
            counts[key] += 1
    return counts
