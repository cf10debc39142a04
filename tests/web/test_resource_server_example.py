"""examples/resource_server.py against a live gateway: boto3's s3 client and bearer tokens."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError

from gateway.settings import Settings
from tests.conftest import LiveServer
from tests.sts_world import (
    ACCOUNT_A,
    ACCOUNT_B,
    CHAINED_ROLE,
    CROSS_ROLE,
    Minted,
    first_credentials,
)
from tests.web.authorize_support import ALLOW_A_SHARED, live_world, sts_client

ROOT = Path(__file__).resolve().parents[2]
SERVER_ID = "objects.test"
ALICE = f"arn:aws:sts::{ACCOUNT_A}:assumed-role/Base/alice"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "resource_server_example", ROOT / "examples" / "resource_server.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = load_example()


@pytest.fixture
def gateway(settings: Settings) -> Iterator[LiveServer]:
    live = live_world(settings)
    yield live
    live.stop()


@pytest.fixture
def store(gateway: LiveServer) -> Iterator[LiveServer]:
    buckets = example.load_buckets({
        "b-bucket": {
            "account": ACCOUNT_B,
            "policy": ALLOW_A_SHARED,
            "objects": {"shared/report.csv": "a,b\n1,2\n", "private/payroll.csv": "secret\n"},
        },
        "a-bucket": {
            "account": ACCOUNT_A,
            "policy": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": ALICE},
                "Action": "s3:PutObject", "Resource": "arn:aws:s3:::a-bucket/inbox/*",
            }]},
        },
    })
    live = LiveServer(example.create_app(gateway.url, buckets, server_id=SERVER_ID))
    yield live
    live.stop()


def s3(store: LiveServer, creds: Minted) -> Any:
    return boto3.client(
        "s3", endpoint_url=store.url, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        **creds.boto_kwargs(),
    )


def refusal(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error: dict[str, Any] = caught.value.response["Error"]
    return error


def test_account_a_reads_from_account_b_only_where_bs_policy_allows(
    gateway: LiveServer, store: LiveServer
) -> None:
    alice = first_credentials(gateway.app)
    client = s3(store, alice)
    got = client.get_object(Bucket="b-bucket", Key="shared/report.csv")
    assert got["Body"].read() == b"a,b\n1,2\n"

    error = refusal(client.get_object, Bucket="b-bucket", Key="private/payroll.csv")
    assert error["Code"] == "AccessDenied"
    decoded = json.loads(sts_client(gateway, alice).decode_authorization_message(
        EncodedMessage=error["EncodedMessage"])["DecodedMessage"])
    assert decoded["decision"]["reason"] == "resource_policy_no_allow"
    assert decoded["context"]["resource"] == "arn:aws:s3:::b-bucket/private/payroll.csv"

    # B's own role reads it: same account, its identity policy allows b-bucket/*.
    cross = sts_client(gateway, alice).assume_role(
        RoleArn=CROSS_ROLE, RoleSessionName="alice-b", ExternalId="partner-42")["Credentials"]
    b_client = boto3.client(
        "s3", endpoint_url=store.url, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
        aws_access_key_id=cross["AccessKeyId"], aws_secret_access_key=cross["SecretAccessKey"],
        aws_session_token=cross["SessionToken"],
    )
    assert b_client.get_object(Bucket="b-bucket", Key="private/payroll.csv")["Body"].read() == (
        b"secret\n")


def test_account_a_role_without_the_permission_is_refused_despite_bs_policy(
    gateway: LiveServer, store: LiveServer
) -> None:
    carol = first_credentials(gateway.app, CHAINED_ROLE, session_name="carol")
    error = refusal(s3(store, carol).get_object, Bucket="b-bucket", Key="shared/report.csv")
    assert error["Code"] == "AccessDenied"
    # Carol may not decode; alice (allowed sts:DecodeAuthorizationMessage) may.
    encoded = error["EncodedMessage"]
    assert refusal(sts_client(gateway, carol).decode_authorization_message,
                   EncodedMessage=encoded)["Code"] == "AccessDenied"
    alice = first_credentials(gateway.app)
    decoded = json.loads(sts_client(gateway, alice).decode_authorization_message(
        EncodedMessage=encoded)["DecodedMessage"])
    assert decoded["decision"]["reason"] == "identity_no_allow"
    assert decoded["context"]["principal"]["arn"].endswith("assumed-role/Chained/carol")


def test_uploads_forward_the_signed_body_hash(gateway: LiveServer, store: LiveServer) -> None:
    alice = first_credentials(gateway.app)
    client = s3(store, alice)
    client.put_object(Bucket="a-bucket", Key="inbox/note.txt", Body=b"hello")
    assert refusal(client.put_object, Bucket="a-bucket", Key="elsewhere.txt",
                   Body=b"x")["Code"] == "AccessDenied"
    assert client.get_object(Bucket="a-bucket", Key="inbox/note.txt") is not None
    # Signed for one body, sent with another: the store forwards the body it got, and the
    # gateway finds it does not match the signed x-amz-content-sha256.
    url = f"{store.url}/a-bucket/inbox/swapped.txt"
    signed = AWSRequest(method="PUT", url=url, data=b"the signed body")
    c = alice.credentials
    S3SigV4Auth(BotoCredentials(c.access_key_id, c.secret_access_key, c.session_token),
                "s3", "us-east-1").add_auth(signed)
    headers = dict(signed.prepare().headers.items())
    assert requests.put(url, data=b"the signed body", headers=headers, timeout=10).ok
    swapped = requests.put(url, data=b"another body!!!", headers=headers, timeout=10)
    assert swapped.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in swapped.text


def test_bad_signatures_are_refused_with_the_gateways_code(
    gateway: LiveServer, store: LiveServer
) -> None:
    alice = first_credentials(gateway.app)
    forged = boto3.client(
        "s3", endpoint_url=store.url, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
        **{**alice.boto_kwargs(), "aws_secret_access_key": "y" * 40},
    )
    assert refusal(forged.get_object, Bucket="b-bucket", Key="shared/report.csv")["Code"] == (
        "SignatureDoesNotMatch")
    assert requests.get(f"{store.url}/b-bucket/shared/report.csv", timeout=10).status_code == 403


def test_presigned_get_caller_identity_is_a_bearer_identity_proof(
    gateway: LiveServer, store: LiveServer
) -> None:
    alice = first_credentials(gateway.app)
    token = example.bearer_token(sts_client(gateway, alice), SERVER_ID)
    assert token.startswith("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(token[11:] + "=" * (-len(token[11:]) % 4)).decode()
    assert url.startswith(f"{gateway.url}/sts?") and "x-k8s-aws-id" in url

    def whoami(bearer: str) -> requests.Response:
        return requests.get(f"{store.url}/whoami", headers={"Authorization": f"Bearer {bearer}"},
                            timeout=10)

    answer = whoami(token)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"arn": ALICE, "account": ACCOUNT_A,
                             "user_id": f"{alice.claims.role_id}:alice"}

    # Minted for another server: its signed x-k8s-aws-id differs from ours.
    other = example.bearer_token(sts_client(gateway, alice), "other.server")
    refused = whoami(other)
    assert (refused.status_code, refused.json()["code"]) == (401, "SignatureDoesNotMatch")

    # Pointing somewhere else is refused before any request is made.
    elsewhere = url.replace(gateway.url, "http://127.0.0.1:9")
    forged = "k8s-aws-v1." + base64.urlsafe_b64encode(elsewhere.encode()).decode().rstrip("=")
    assert whoami(forged).json()["code"] == "InvalidToken"

    # Without our id among the signed headers (a plain presigned URL) it is no proof for us.
    plain = sts_client(gateway, alice).generate_presigned_url(
        "get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    bare = "k8s-aws-v1." + base64.urlsafe_b64encode(plain.encode()).decode().rstrip("=")
    assert whoami(bare).json()["code"] == "InvalidToken"

    # Expired credentials: the gateway's refusal is relayed.
    old = first_credentials(gateway.app, issued_ago=7200, lifetime=3600)
    expired = example.bearer_token(sts_client(gateway, old), SERVER_ID)
    assert whoami(expired).json()["code"] == "ExpiredToken"


def test_bearer_token_checks_are_strict() -> None:
    from datetime import UTC, datetime

    sts = "https://gw.example.com/sts"
    base = ("https://gw.example.com/sts?Action=GetCallerIdentity&Version=2011-06-15"
            "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAX%2F20240101%2Fus-east-1"
            "%2Fsts%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60"
            "&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=abc")

    def token(url: str) -> str:
        return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")

    now = datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    assert example.check_bearer_token(token(base), sts, SERVER_ID, now=now) == base
    bad = {
        "http scheme": base.replace("https://", "http://"),
        "other host": base.replace("gw.example.com", "evil.example.com"),
        "other action": base.replace("GetCallerIdentity", "AssumeRole"),
        "extra parameter": base + "&RoleArn=x",
        "repeated parameter": base + "&Action=GetCallerIdentity",
        "id not signed": base.replace("host%3Bx-k8s-aws-id", "host"),
        "long expiry": base.replace("X-Amz-Expires=60", "X-Amz-Expires=3600"),
    }
    for case, url in bad.items():
        with pytest.raises(ValueError):
            example.check_bearer_token(token(url), sts, SERVER_ID, now=now)
            pytest.fail(case)
    later = datetime(2024, 1, 1, 0, 16, tzinfo=UTC)
    with pytest.raises(ValueError, match="expired"):
        example.check_bearer_token(token(base), sts, SERVER_ID, now=later)
