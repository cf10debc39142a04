"""The STS endpoint driven by boto3 over real HTTP against a live gateway."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import botocore.auth
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from gateway import create_app
from gateway.admin.edit import edit_role
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store import audit
from gateway.store.config_schema import format_instant
from tests.conftest import LiveServer
from tests.sts_world import (
    ACCOUNT_A,
    ACCOUNT_B,
    BASE_ROLE,
    CHAINED_ROLE,
    CLOSED_ROLE,
    CROSS_ROLE,
    Minted,
    first_credentials,
    load_world,
)


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    app = create_app(settings)
    load_world(app)
    live = LiveServer(app)
    yield live
    live.stop()


@pytest.fixture
def rt(server: LiveServer) -> Runtime:
    runtime: Runtime = server.app.extensions["gateway"]
    return runtime


def sts(server: LiveServer, creds: Minted | None = None, **kwargs: Any) -> Any:
    # Client-side checks off: the server must catch everything botocore would.
    config = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10,
                    parameter_validation=False)
    keys = creds.boto_kwargs() if creds else {}
    keys.update(kwargs)
    return boto3.client("sts", endpoint_url=f"{server.url}/sts", region_name="us-east-1",
                        config=config, **keys)


def error_of(call: Any, **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    err = caught.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_get_caller_identity_names_the_session(server: LiveServer) -> None:
    creds = first_credentials(server.app)
    identity = sts(server, creds).get_caller_identity()
    assert identity["Account"] == ACCOUNT_A
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT_A}:assumed-role/Base/alice"
    assert identity["UserId"] == f"{creds.claims.role_id}:alice"
    assert identity["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_role_chaining_within_an_account_then_across_accounts(server: LiveServer) -> None:
    base = first_credentials(server.app)
    chained = sts(server, base).assume_role(
        RoleArn=CHAINED_ROLE, RoleSessionName="alice-chained", DurationSeconds=1800,
        Tags=[{"Key": "project", "Value": "atlas"}], TransitiveTagKeys=["project"],
        SourceIdentity="alice@example.com",
    )
    assert chained["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{ACCOUNT_A}:assumed-role/Chained/alice-chained"
    )
    assert chained["SourceIdentity"] == "alice@example.com"
    c = chained["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA") and len(c["AccessKeyId"]) == 20
    assert len(c["SecretAccessKey"]) == 40
    lifetime = c["Expiration"] - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=29) < lifetime <= dt.timedelta(minutes=30)

    cross = sts(server, base).assume_role(
        RoleArn=CROSS_ROLE, RoleSessionName="alice-partner", ExternalId="partner-42"
    )
    client = boto3.client(
        "sts", endpoint_url=f"{server.url}/sts", region_name="eu-west-1",
        aws_access_key_id=cross["Credentials"]["AccessKeyId"],
        aws_secret_access_key=cross["Credentials"]["SecretAccessKey"],
        aws_session_token=cross["Credentials"]["SessionToken"],
    )
    who = client.get_caller_identity()
    assert who["Account"] == ACCOUNT_B
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT_B}:assumed-role/CrossAccount/alice-partner"


def test_cross_account_needs_the_external_id_and_a_trusting_role(server: LiveServer) -> None:
    client = sts(server, first_credentials(server.app))
    code, message, status = error_of(
        client.assume_role, RoleArn=CROSS_ROLE, RoleSessionName="xx", ExternalId="wrong"
    )
    assert (code, status) == ("AccessDenied", 403)
    assert message == (
        f"User: arn:aws:sts::{ACCOUNT_A}:assumed-role/Base/alice is not authorized to perform: "
        f"sts:AssumeRole on resource: {CROSS_ROLE}"
    )
    assert error_of(client.assume_role, RoleArn=CLOSED_ROLE, RoleSessionName="xx")[0] == (
        "AccessDenied"
    )
    missing = f"arn:aws:iam::{ACCOUNT_B}:role/DoesNotExist"
    assert error_of(client.assume_role, RoleArn=missing, RoleSessionName="xx")[0] == (
        "AccessDenied"
    )


def test_chained_sessions_are_capped_at_one_hour_never_clamped(server: LiveServer) -> None:
    client = sts(server, first_credentials(server.app))
    code, message, status = error_of(
        client.assume_role, RoleArn=CHAINED_ROLE, RoleSessionName="xx", DurationSeconds=7200
    )
    assert (code, status) == ("ValidationError", 400)
    assert "1 hour session limit for roles assumed by role chaining" in message


def test_parameter_validation_uses_aws_messages(server: LiveServer) -> None:
    client = sts(server, first_credentials(server.app))
    code, message, _ = error_of(
        client.assume_role, RoleArn=CHAINED_ROLE, RoleSessionName="bad name!"
    )
    assert code == "ValidationError"
    assert message.startswith("1 validation error detected: Value 'bad name!' at "
                              "'roleSessionName' failed to satisfy constraint")
    code, message, _ = error_of(
        client.assume_role, RoleArn=CHAINED_ROLE, RoleSessionName="s" * 65, DurationSeconds=600
    )
    assert message.startswith("2 validation errors detected")
    code, _, _ = error_of(
        client.assume_role, RoleArn=CHAINED_ROLE, RoleSessionName="ok", Policy="{not json"
    )
    assert code == "MalformedPolicyDocument"


def test_wrong_secret_is_signature_does_not_match(server: LiveServer) -> None:
    creds = first_credentials(server.app)
    client = sts(server, creds, aws_secret_access_key="x" * 40)
    code, _, status = error_of(client.get_caller_identity)
    assert (code, status) == ("SignatureDoesNotMatch", 403)


def test_tampered_or_missing_token_is_invalid_client_token_id(server: LiveServer) -> None:
    creds = first_credentials(server.app)
    token = creds.credentials.session_token
    flipped = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    code, message, status = error_of(
        sts(server, creds, aws_session_token=flipped).get_caller_identity
    )
    assert (code, status) == ("InvalidClientTokenId", 403)
    assert message == "The security token included in the request is invalid"
    no_token = boto3.client(
        "sts", endpoint_url=f"{server.url}/sts", region_name="us-east-1",
        aws_access_key_id=creds.credentials.access_key_id,
        aws_secret_access_key=creds.credentials.secret_access_key,
    )
    assert error_of(no_token.get_caller_identity)[0] == "InvalidClientTokenId"
    other = first_credentials(server.app, session_name="bob")
    swapped = sts(server, creds, aws_session_token=other.credentials.session_token)
    assert error_of(swapped.get_caller_identity)[0] == "InvalidClientTokenId"


def test_unsigned_request_is_missing_authentication_token(server: LiveServer) -> None:
    answer = requests.post(f"{server.url}/sts",
                           data={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    assert answer.status_code == 403
    assert "<Code>MissingAuthenticationToken</Code>" in answer.text


def test_skewed_client_clock_is_refused(server: LiveServer) -> None:
    creds = first_credentials(server.app)
    late = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    with mock.patch.object(botocore.auth.datetime, "datetime", wraps=dt.datetime) as clock:
        clock.now.return_value = late
        clock.utcnow.return_value = late.replace(tzinfo=None)
        code, message, _ = error_of(sts(server, creds).get_caller_identity)
    assert code == "SignatureDoesNotMatch"
    assert message.startswith("Signature expired:")


def test_expired_credentials_are_refused_with_expired_token(server: LiveServer) -> None:
    creds = first_credentials(server.app, issued_ago=7200, lifetime=3600)
    code, message, status = error_of(sts(server, creds).get_caller_identity)
    assert (code, status) == ("ExpiredToken", 403)
    assert message == "The security token included in the request is expired"
    # The same person, still entitled, simply gets fresh ones.
    fresh = first_credentials(server.app)
    assert sts(server, fresh).get_caller_identity()["Account"] == ACCOUNT_A


def test_single_session_revocation_is_seen_by_the_server(server: LiveServer, rt: Runtime) -> None:
    creds = first_credentials(server.app)
    other = first_credentials(server.app, session_name="bob")
    assert sts(server, creds).get_caller_identity()
    rt.revocations.revoke(creds.credentials.access_key_id, creds.claims.expires_at)
    assert error_of(sts(server, creds).get_caller_identity)[0] == "InvalidClientTokenId"
    assert sts(server, other).get_caller_identity()["Arn"].endswith("/bob")


def test_role_revoke_sessions_before_denies_older_sessions(
    server: LiveServer, rt: Runtime
) -> None:
    old = first_credentials(server.app, issued_ago=60)
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)

    def revoke(role: dict[str, Any]) -> dict[str, Any]:
        role["revoke_sessions_before"] = format_instant(cutoff)
        return role

    # As the admin page's "revoke active sessions" does: through the change log.
    edit_role(rt.engine, ACCOUNT_A, BASE_ROLE.rsplit("/", 1)[1], revoke, actor="test")
    rt.config.bump()
    code, _, _ = error_of(
        sts(server, old).assume_role, RoleArn=CHAINED_ROLE, RoleSessionName="xx"
    )
    assert code == "AccessDenied"
    new = first_credentials(server.app)
    assert sts(server, new).assume_role(RoleArn=CHAINED_ROLE, RoleSessionName="xx")


def test_every_issuance_and_refusal_is_audited(server: LiveServer, rt: Runtime) -> None:
    client = sts(server, first_credentials(server.app))
    issued = client.assume_role(RoleArn=CHAINED_ROLE, RoleSessionName="audited")
    error_of(client.assume_role, RoleArn=CLOSED_ROLE, RoleSessionName="refused")
    key = issued["Credentials"]["AccessKeyId"]
    events = audit.recent(rt.engine, audit.AuditFilter(access_key_id=key))
    assert [e.event_type for e in events] == ["credentials.issued"]
    assert events[0].role_arn == CHAINED_ROLE
    refused = audit.recent(rt.engine, audit.AuditFilter(event_type="credentials.refused"))
    assert refused[0].error_code == "AccessDenied"
    assert refused[0].principal_arn == f"arn:aws:sts::{ACCOUNT_A}:assumed-role/Base/alice"


def test_json_responses_for_accept_application_json(server: LiveServer) -> None:
    answer = requests.post(
        f"{server.url}/sts", headers={"Accept": "application/json"},
        data={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
    )
    assert answer.status_code == 403
    assert answer.json()["Error"]["Code"] == "MissingAuthenticationToken"


def test_unknown_action_and_session_token_actions(server: LiveServer) -> None:
    answer = requests.post(f"{server.url}/sts", data={"Action": "Nope", "Version": "2011-06-15"})
    assert answer.status_code == 400 and "<Code>InvalidAction</Code>" in answer.text
    client = sts(server, first_credentials(server.app))
    code, message, _ = error_of(client.get_session_token)
    assert code == "AccessDenied"
    assert message == "Cannot call GetSessionToken with session credentials"
    code, message, _ = error_of(client.get_federation_token, Name="bob")
    assert message == "Cannot call GetFederationToken with session credentials"


def test_post_to_the_root_path_works_like_sts(server: LiveServer) -> None:
    creds = first_credentials(server.app)
    client = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1",
                          **creds.boto_kwargs())
    assert client.get_caller_identity()["Account"] == ACCOUNT_A


def test_decode_authorization_message_round_trip(server: LiveServer, rt: Runtime) -> None:
    from gateway.sts import authz_message

    encoded = authz_message.encode(rt.config.current().keyring, {"allowed": False, "why": "x"})
    client = sts(server, first_credentials(server.app))
    decoded = client.decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"]
    assert '"why": "x"' in decoded
    code, _, _ = error_of(client.decode_authorization_message, EncodedMessage="garbage")
    assert code == "InvalidAuthorizationMessageException"
    chained = client.assume_role(RoleArn=CHAINED_ROLE, RoleSessionName="cc")["Credentials"]
    limited = boto3.client(
        "sts", endpoint_url=f"{server.url}/sts", region_name="us-east-1",
        aws_access_key_id=chained["AccessKeyId"],
        aws_secret_access_key=chained["SecretAccessKey"],
        aws_session_token=chained["SessionToken"],
    )
    assert error_of(limited.decode_authorization_message, EncodedMessage=encoded)[0] == (
        "AccessDenied"
    )


def test_key_rotation_keeps_old_credentials_working(server: LiveServer, rt: Runtime) -> None:
    from gateway.sts import keystore
    from gateway.sts.credentials import kid_of

    before = first_credentials(server.app)
    old_kid = kid_of(before.credentials.access_key_id)
    new_kid = keystore.rotate(rt.engine, rt.master_key).kid
    rt.config.bump()
    assert sts(server, before).get_caller_identity()["Account"] == ACCOUNT_A
    issued = sts(server, before).assume_role(RoleArn=CHAINED_ROLE, RoleSessionName="after")
    assert kid_of(issued["Credentials"]["AccessKeyId"]) == new_kid != old_kid
