"""`POST /api/v1/authorize` over real HTTP: signatures, sessions, policies, refusals, audit."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store import audit
from gateway.sts.credentials import mint
from tests.conftest import LiveServer, RedisServer
from tests.sts_world import ACCOUNT_A, BASE_ROLE, CHAINED_ROLE, Minted, first_credentials
from tests.web.authorize_support import (
    A_ROOT,
    ALLOW_A_SHARED,
    OBJECT,
    bucket_policy,
    live_world,
    question,
    sts_client,
)

ALICE = f"arn:aws:sts::{ACCOUNT_A}:assumed-role/Base/alice"


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    live = live_world(settings)
    yield live
    live.stop()


@pytest.fixture
def rt(server: LiveServer) -> Runtime:
    runtime: Runtime = server.app.extensions["gateway"]
    return runtime


def ask(server: LiveServer, doc: Any) -> requests.Response:
    return requests.post(f"{server.url}/api/v1/authorize", json=doc, timeout=10)


def minted(server: LiveServer, role_arn: str = BASE_ROLE, **changes: Any) -> Minted:
    """Credentials with claims a sign-in could produce (session policy, tags, …)."""
    base = first_credentials(server.app, role_arn)
    claims = dataclasses.replace(base.claims, **changes)
    keyring = server.app.extensions["gateway"].config.current().keyring
    return Minted(claims, mint(keyring, claims))


def decision_of(resp: requests.Response) -> tuple[str, str]:
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    return body["decision"], body["explanation"]["reason"]


def allow_count() -> float:
    labels = {"decision": "allow", "reason": "allowed"}
    return REGISTRY.get_sample_value("gateway_authorize_decisions_total", labels) or 0.0


# --- decisions ------------------------------------------------------------------------


def test_same_account_allow_names_the_principal(server: LiveServer) -> None:
    creds = minted(server, source_identity="alice@example.com",
                   tags=(("team", "atlas"), ("cost", "42")))
    doc = question(creds, resource="arn:aws:s3:::a-bucket/x", resource_account=ACCOUNT_A)
    resp = ask(server, doc)
    assert decision_of(resp) == ("allow", "allowed")
    body = resp.json()
    assert "encoded_message" not in body
    assert body["principal"] == {
        "arn": ALICE,
        "account": ACCOUNT_A,
        "user_id": f"{creds.claims.role_id}:alice",
        "role_arn": BASE_ROLE,
        "session_name": "alice",
        "source_identity": "alice@example.com",
        "tags": {"team": "atlas", "cost": "42"},
        "expiration": creds.claims.expiration.isoformat().replace("+00:00", "Z"),
    }
    # The caller's own policies are not spelled out to the resource server.
    assert "Work" not in resp.text


def test_cross_account_read_needs_the_resource_accounts_policy(server: LiveServer) -> None:
    alice = first_credentials(server.app)
    assert decision_of(ask(server, question(alice))) == ("deny", "resource_policy_no_allow")
    other_bucket = bucket_policy({**ALLOW_A_SHARED["Statement"][0],
                                  "Resource": "arn:aws:s3:::b-bucket/other/*"})
    assert decision_of(ask(server, question(alice, resource_policy=other_bucket))) == (
        "deny", "resource_policy_no_allow")
    assert decision_of(ask(server, question(alice, resource_policy=ALLOW_A_SHARED))) == (
        "allow", "allowed")
    # As JSON text too, as AWS APIs carry policies.
    text = json.dumps(ALLOW_A_SHARED)
    assert decision_of(ask(server, question(alice, resource_policy=text)))[0] == "allow"


def test_cross_account_also_needs_the_callers_own_permissions(server: LiveServer) -> None:
    # Chained may only s3:ListBucket; B's policy trusting all of account A does not suffice.
    chained = first_credentials(server.app, CHAINED_ROLE, session_name="carol")
    resp = ask(server, question(chained, resource_policy=ALLOW_A_SHARED))
    assert decision_of(resp) == ("deny", "identity_no_allow")
    # Within one account, a resource policy naming the session itself is enough (§7.1).
    names_session = bucket_policy({
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:sts::{ACCOUNT_A}:assumed-role/Chained/carol"},
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::a-bucket/*",
    })
    doc = question(chained, resource="arn:aws:s3:::a-bucket/k", resource_account=ACCOUNT_A,
                   resource_policy=names_session)
    assert decision_of(ask(server, doc)) == ("allow", "allowed")


def test_denial_message_decodes_only_for_principals_allowed_to(server: LiveServer) -> None:
    alice = first_credentials(server.app)
    body = ask(server, question(alice)).json()
    encoded = body["encoded_message"]
    decoded = json.loads(
        sts_client(server, alice).decode_authorization_message(EncodedMessage=encoded)[
            "DecodedMessage"]
    )
    assert decoded["allowed"] is False
    assert decoded["decision"]["reason"] == "resource_policy_no_allow"
    assert decoded["context"]["action"] == "s3:GetObject"
    assert decoded["context"]["resource"] == OBJECT
    assert decoded["context"]["principal"]["arn"] == ALICE
    carol = first_credentials(server.app, CHAINED_ROLE, session_name="carol")
    with pytest.raises(ClientError) as caught:
        sts_client(server, carol).decode_authorization_message(EncodedMessage=encoded)
    assert caught.value.response["Error"]["Code"] == "AccessDenied"


def test_explicit_deny_in_the_resource_policy_wins(server: LiveServer) -> None:
    alice = first_credentials(server.app)
    policy = bucket_policy(ALLOW_A_SHARED["Statement"][0], {
        "Sid": "NoReports", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": "arn:aws:s3:::b-bucket/*.csv",
    })
    assert decision_of(ask(server, question(alice, resource_policy=policy))) == (
        "deny", "explicit_deny")


def test_session_policy_limits_what_the_role_allows(server: LiveServer) -> None:
    only_public = json.dumps(bucket_policy({
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::a-bucket/public/*",
    }))
    creds = minted(server, policy=only_public)
    ok = question(creds, resource="arn:aws:s3:::a-bucket/public/x", resource_account=ACCOUNT_A)
    assert decision_of(ask(server, ok)) == ("allow", "allowed")
    private = question(creds, resource="arn:aws:s3:::a-bucket/private/x",
                       resource_account=ACCOUNT_A)
    assert decision_of(ask(server, private)) == ("deny", "session_policy_no_allow")


def test_context_keys_reach_conditions_and_transport_defaults_to_insecure(
    server: LiveServer,
) -> None:
    alice = first_credentials(server.app)
    policy = bucket_policy(
        {**ALLOW_A_SHARED["Statement"][0],
         "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": "arn:aws:s3:::b-bucket/*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    )
    secure_from_office = {"aws:SourceIp": "203.0.113.7", "aws:SecureTransport": True}
    assert decision_of(ask(server, question(alice, resource_policy=policy,
                                            context=secure_from_office)))[0] == "allow"
    elsewhere = {"aws:SourceIp": "198.51.100.1", "aws:SecureTransport": True}
    assert decision_of(ask(server, question(alice, resource_policy=policy, context=elsewhere))) == (
        "deny", "resource_policy_no_allow")
    # Silence about the transport is not proof of TLS.
    office_only = {"aws:SourceIp": "203.0.113.7"}
    assert decision_of(ask(server, question(alice, resource_policy=policy,
                                            context=office_only))) == ("deny", "explicit_deny")


def test_requested_region_comes_from_the_signature(server: LiveServer) -> None:
    alice = first_credentials(server.app)
    policy = bucket_policy({**ALLOW_A_SHARED["Statement"][0],
                            "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}})
    assert decision_of(ask(server, question(alice, resource_policy=policy)))[0] == "deny"
    doc = question(alice, resource_policy=policy)
    doc["headers"] = [[n, v.replace("/us-east-1/", "/eu-west-1/")] for n, v in doc["headers"]]
    # Editing the scope breaks the signature: the region is whatever the client signed.
    assert ask(server, doc).json()["code"] == "SignatureDoesNotMatch"


# --- the forwarded body ---------------------------------------------------------------


def test_forwarded_body_or_signed_body_hash(server: LiveServer) -> None:
    alice = first_credentials(server.app)
    payload = b"col1,col2\n1,2\n"
    uploads = bucket_policy({"Effect": "Allow", "Principal": {"AWS": ALICE},
                             "Action": "s3:PutObject", "Resource": "arn:aws:s3:::a-bucket/*"})
    put = {"method": "PUT", "data": payload, "action": "s3:PutObject",
           "resource": "arn:aws:s3:::a-bucket/up.csv", "resource_account": ACCOUNT_A,
           "resource_policy": uploads}
    assert decision_of(ask(server, question(alice, **put)))[0] == "allow"
    tampered = question(alice, **put)
    tampered["body"] = base64.b64encode(b"col1,col2\n6,6\n").decode()
    assert ask(server, tampered).json()["code"] == "SignatureDoesNotMatch"

    digest = hashlib.sha256(payload).hexdigest()
    signed_hash = question(alice, headers={"X-Amz-Content-SHA256": digest}, **put)
    del signed_hash["body"]
    assert decision_of(ask(server, {**signed_hash, "body_sha256": digest}))[0] == "allow"
    other = hashlib.sha256(b"something else").hexdigest()
    resp = ask(server, {**signed_hash, "body_sha256": other})
    assert (resp.status_code, resp.json()["code"]) == (403, "SignatureDoesNotMatch")

    unsigned_hash = question(alice, **put)
    del unsigned_hash["body"]
    resp = ask(server, {**unsigned_hash, "body_sha256": digest})
    assert resp.status_code == 400
    assert resp.json()["field"] == "body_sha256"
    assert "x-amz-content-sha256" in resp.json()["detail"]
    both = {**question(alice, **put), "body_sha256": digest}
    assert ask(server, both).json()["field"] == "body_sha256"


# --- refusals -------------------------------------------------------------------------


def _wrong_secret(s: LiveServer) -> dict[str, Any]:
    return question(first_credentials(s.app), secret="x" * 40)


def _path_changed(s: LiveServer) -> dict[str, Any]:
    return {**question(first_credentials(s.app)), "path": "/b-bucket/shared/other.csv"}


def _other_service(s: LiveServer) -> dict[str, Any]:
    return {**question(first_credentials(s.app)), "service": "objects"}


def _expired(s: LiveServer) -> dict[str, Any]:
    return question(minted(s, issued_at=int(time.time()) - 7200,
                           expires_at=int(time.time()) - 3600))


def _tampered_token(s: LiveServer) -> dict[str, Any]:
    creds = first_credentials(s.app)
    token = creds.credentials.session_token
    return question(creds, token=token[:40] + ("A" if token[40] != "A" else "B") + token[41:])


def _role_recreated(s: LiveServer) -> dict[str, Any]:
    return question(minted(s, role_id="AROAXXXXXXXXXXXXXXXXX"))


def _unsigned(s: LiveServer) -> dict[str, Any]:
    doc = question(first_credentials(s.app))
    doc["headers"] = [[n, v] for n, v in doc["headers"]
                      if n.lower() not in ("authorization", "x-amz-security-token")]
    return doc


def _skewed(s: LiveServer) -> dict[str, Any]:
    return question(first_credentials(s.app), when=datetime.now(UTC) - timedelta(minutes=20))


REFUSALS = {
    "wrong secret": (_wrong_secret, 403, "SignatureDoesNotMatch"),
    "path changed": (_path_changed, 403, "SignatureDoesNotMatch"),
    "signed for another service": (_other_service, 403, "SignatureDoesNotMatch"),
    "clock skew": (_skewed, 403, "SignatureDoesNotMatch"),
    "expired": (_expired, 403, "ExpiredToken"),
    "tampered token": (_tampered_token, 403, "InvalidClientTokenId"),
    "role deleted and re-created": (_role_recreated, 403, "AccessDenied"),
    "unsigned": (_unsigned, 401, "MissingAuthenticationToken"),
}


def test_refusals_are_audited_problems_with_the_aws_code(server: LiveServer, rt: Runtime) -> None:
    for case, (build, status, code) in REFUSALS.items():
        resp = ask(server, build(server))
        assert resp.status_code == status, (case, resp.text)
        assert resp.headers["Content-Type"] == "application/problem+json", case
        problem = resp.json()
        assert problem["title"] == problem["code"] == code, case
        assert problem["status"] == status, case
        if status == 401:
            assert resp.headers["WWW-Authenticate"] == "AWS4-HMAC-SHA256", case
        request_id = resp.headers["X-Request-Id"]
        events = audit.recent(rt.engine, audit.AuditFilter(request_id=request_id))
        assert [(e.event_type, e.error_code) for e in events] == [
            ("authorize.refused", code)], case
        assert events[0].detail is not None and events[0].detail["action"] == "s3:GetObject"


def test_revoked_session_is_refused_and_others_are_not(server: LiveServer, rt: Runtime) -> None:
    alice = first_credentials(server.app)
    bob = first_credentials(server.app, session_name="bob")
    doc = question(alice, resource="arn:aws:s3:::a-bucket/x", resource_account=ACCOUNT_A)
    assert decision_of(ask(server, doc))[0] == "allow"
    rt.revocations.revoke(alice.credentials.access_key_id, alice.claims.expires_at)
    resp = ask(server, question(alice, resource="arn:aws:s3:::a-bucket/x",
                                resource_account=ACCOUNT_A))
    assert (resp.status_code, resp.json()["code"]) == (403, "InvalidClientTokenId")
    refused = audit.recent(rt.engine, audit.AuditFilter(event_type="authorize.refused"))
    assert refused[0].access_key_id == alice.credentials.access_key_id
    assert refused[0].principal_arn == ALICE
    doc = question(bob, resource="arn:aws:s3:::a-bucket/x", resource_account=ACCOUNT_A)
    assert decision_of(ask(server, doc))[0] == "allow"


def test_unknown_revocation_state_is_503_never_an_allow(
    server: LiveServer, rt: Runtime, redis_server: RedisServer
) -> None:
    alice = first_credentials(server.app)
    doc = question(alice, resource="arn:aws:s3:::a-bucket/x", resource_account=ACCOUNT_A)
    assert decision_of(ask(server, doc))[0] == "allow"
    redis_server.stop()
    rt.revocations._stale_after = 0.0  # the default 5 s would only slow the test down
    time.sleep(0.3)  # past the refresh interval
    resp = ask(server, question(alice, resource="arn:aws:s3:::a-bucket/x",
                                resource_account=ACCOUNT_A))
    assert (resp.status_code, resp.json()["code"]) == (503, "ServiceUnavailable")
    refused = audit.recent(rt.engine, audit.AuditFilter(event_type="authorize.refused"))
    assert refused[0].error_code == "ServiceUnavailable"


# --- audit and metrics ----------------------------------------------------------------


def test_denials_are_audited_and_allows_only_counted(server: LiveServer, rt: Runtime) -> None:
    alice = first_credentials(server.app)
    before = allow_count()
    allowed = ask(server, question(alice, resource_policy=ALLOW_A_SHARED,
                                   context={"aws:SourceIp": "203.0.113.9"}))
    assert decision_of(allowed)[0] == "allow"
    assert allow_count() == before + 1
    mine = audit.AuditFilter(access_key_id=alice.credentials.access_key_id)
    assert audit.recent(rt.engine, mine) == []

    denied = ask(server, question(alice, context={"aws:SourceIp": "203.0.113.9"}))
    assert decision_of(denied)[0] == "deny"
    events = audit.recent(rt.engine, audit.AuditFilter(event_type="authorize.denied"))
    assert len(events) == 1
    event = events[0]
    assert (event.principal_arn, event.access_key_id, event.session_id) == (
        ALICE, alice.credentials.access_key_id, alice.claims.session_id)
    assert event.request_id == denied.headers["X-Request-Id"]
    assert event.detail is not None
    assert event.detail["reason"] == "resource_policy_no_allow"
    assert event.detail["resource"] == OBJECT
    assert event.detail["client_ip"] == "203.0.113.9"


# --- malformed questions --------------------------------------------------------------


def _without(doc: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in names}


MALFORMED: dict[str, tuple[Any, str]] = {
    "missing action": (lambda d: _without(d, "action"), "action"),
    "missing headers": (lambda d: _without(d, "headers"), "headers"),
    "headers not pairs": (lambda d: {**d, "headers": [["Host"]]}, "headers[0]"),
    "bad header name": (lambda d: {**d, "headers": [["Ho st", "x"]]}, "headers[0][0]"),
    "action wildcard": (lambda d: {**d, "action": "s3:*"}, "action"),
    "resource not an ARN": (lambda d: {**d, "resource": "bucket/key"}, "resource"),
    "path with query": (lambda d: {**d, "path": "/a?b=c"}, "path"),
    "path not text": (lambda d: {**d, "path": "/a\ud800"}, "path"),
    "header not text": (lambda d: {**d, "headers": [*d["headers"], ["X-A", "\ud800"]]},
                        "headers[4][1]"),
    "context not text": (lambda d: {**d, "context": {"s3:prefix": ["\udfff"]}},
                         "context.s3:prefix"),
    "path not a string": (lambda d: {**d, "path": 7}, "path"),
    "service upper case": (lambda d: {**d, "service": "S3"}, "service"),
    "bad account": (lambda d: {**d, "resource_account": "12"}, "resource_account"),
    "unknown field": (lambda d: {**d, "principal": "me"}, "principal"),
    "reserved context key": (lambda d: {**d, "context": {"aws:PrincipalArn": A_ROOT}},
                             "context.aws:PrincipalArn"),
    "principal tag context": (lambda d: {**d, "context": {"aws:PrincipalTag/team": "x"}},
                              "context.aws:PrincipalTag/team"),
    "context value object": (lambda d: {**d, "context": {"s3:prefix": {"a": 1}}},
                             "context.s3:prefix"),
    "body not base64": (lambda d: {**d, "body": "***"}, "body"),
    "body too large": (lambda d: {**d, "body": base64.b64encode(b"x" * 300_000).decode()},
                       "body"),
    "bad hash": (lambda d: {**d, "body_sha256": "abc"}, "body_sha256"),
    "policy invalid": (lambda d: {**d, "resource_policy": {"Version": "2012-10-17",
                                                           "Statement": [{"Effect": "Maybe"}]}},
                       "resource_policy.Statement[0]"),
    "policy not JSON": (lambda d: {**d, "resource_policy": "{nope"}, "resource_policy"),
}


def test_malformed_questions_are_400_naming_the_field(server: LiveServer, rt: Runtime) -> None:
    template = question(first_credentials(server.app))
    for case, (change, field) in MALFORMED.items():
        resp = ask(server, change(template))
        assert resp.status_code == 400, (case, resp.text)
        assert resp.headers["Content-Type"] == "application/problem+json", case
        problem = resp.json()
        assert problem["code"] == problem["title"] == "ValidationError", case
        fields = [e["field"] for e in problem["errors"]]
        assert any(f == field or f.startswith((field + ".", field + "[")) for f in fields), (
            case, fields)
    # A malformed question is not a refusal of the caller: nothing to audit.
    assert not [e for e in audit.recent(rt.engine) if e.event_type.startswith("authorize.")]


def test_every_missing_field_is_reported_at_once(server: LiveServer) -> None:
    resp = ask(server, {"query": ""})
    assert resp.status_code == 400
    fields = {e["field"] for e in resp.json()["errors"]}
    assert fields == {"method", "path", "headers", "service", "action", "resource"}


def test_bad_json_and_oversized_requests(server: LiveServer) -> None:
    url = f"{server.url}/api/v1/authorize"
    resp = requests.post(url, data=b"{not json", headers={"Content-Type": "application/json"},
                         timeout=10)
    assert (resp.status_code, resp.json()["code"]) == (400, "MalformedJSON")
    resp = requests.post(url, json=["a list"], timeout=10)
    assert resp.status_code == 400 and resp.json()["errors"][0]["message"] == (
        "expected a JSON object")
    huge = json.dumps({"method": "GET", "pad": "x" * 600_000}).encode()
    resp = requests.post(url, data=huge, headers={"Content-Type": "application/json"},
                         timeout=10)
    assert resp.status_code == 413
    assert resp.headers["Content-Type"] == "application/problem+json"


_any_text = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
                    | st.characters(), max_size=30)  # lone surrogates too
_json_scalar = st.none() | st.booleans() | st.integers() | st.floats() | _any_text
_json = st.recursive(_json_scalar, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=8)


def test_no_input_is_answered_with_a_500(server: LiveServer) -> None:
    template = question(first_credentials(server.app), resource_policy=ALLOW_A_SHARED,
                        context={"aws:SourceIp": "203.0.113.1"})
    client = server.app.test_client()

    @hsettings(max_examples=150, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(field=st.sampled_from([*template, "context", "body", "body_sha256"]), value=_json)
    def check(field: str, value: Any) -> None:
        resp = client.post("/api/v1/authorize", json={**template, field: value})
        assert resp.status_code in (200, 400, 401, 403), resp.get_data(as_text=True)

    check()
