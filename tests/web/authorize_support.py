"""Questions for `/api/v1/authorize`: a botocore-signed request as a resource server forwards it."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config

from gateway import create_app
from gateway.settings import Settings
from tests.conftest import LiveServer
from tests.sts.signing import botocore_signed
from tests.sts_world import ACCOUNT_A, ACCOUNT_B, Minted, load_world

OBJECT = "arn:aws:s3:::b-bucket/shared/report.csv"
OBJECT_URL = "http://objects.example.com/b-bucket/shared/report.csv"
A_ROOT = f"arn:aws:iam::{ACCOUNT_A}:root"


def bucket_policy(*statements: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ALLOW_A_SHARED = bucket_policy({
    "Sid": "PartnerReads",
    "Effect": "Allow",
    "Principal": {"AWS": A_ROOT},
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::b-bucket/shared/*",
})


def question(
    creds: Minted,
    *,
    method: str = "GET",
    url: str = OBJECT_URL,
    service: str = "s3",
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    secret: str | None = None,
    token: str | None = None,
    when: datetime | None = None,
    action: str = "s3:GetObject",
    resource: str = OBJECT,
    resource_account: str | None = ACCOUNT_B,
    **extra: Any,
) -> dict[str, Any]:
    """A request signed with `creds` for `service`, forwarded with the question about it."""
    c = creds.credentials
    req = botocore_signed(
        c.access_key_id, secret or c.secret_access_key, token or c.session_token,
        method=method, url=url, data=data, headers=headers, service=service,
        when=when or datetime.now(UTC),
    )
    doc: dict[str, Any] = {
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "headers": [list(pair) for pair in req.headers],
        "service": service,
        "action": action,
        "resource": resource,
    }
    if resource_account is not None:
        doc["resource_account"] = resource_account
    if req.body:
        doc["body"] = base64.b64encode(req.body).decode()
    doc.update(extra)
    return doc


def sts_client(server: LiveServer, creds: Minted) -> Any:
    return boto3.client(
        "sts", endpoint_url=f"{server.url}/sts", region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}), **creds.boto_kwargs(),
    )


def live_world(settings: Settings) -> LiveServer:
    """The two-account world served over real HTTP."""
    app = create_app(settings)
    load_world(app)
    return LiveServer(app)
