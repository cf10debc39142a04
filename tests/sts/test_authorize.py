"""gateway.sts.authorize without HTTP: the condition keys, the body hash, the encoded message."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from gateway.iam.evaluate import Decision, FailedCondition
from gateway.problems import Invalid
from gateway.sts import authz_message
from gateway.sts.authorize import (
    ENCODED_MESSAGE_CHARS,
    Authorized,
    encoded_message,
    parse_authorize_request,
    request_context,
    verify,
)
from gateway.sts.credentials import SessionClaims, mint
from gateway.sts.errors import SignatureDoesNotMatch
from gateway.sts.keyring import Keyring
from tests.sts.signing import botocore_signed

WHEN = datetime(2024, 1, 1, tzinfo=UTC)
NOW = WHEN + timedelta(seconds=5)
ROLE = "arn:aws:iam::111111111111:role/Dev"


@pytest.fixture(scope="module")
def keyring() -> Keyring:
    return Keyring.generate(WHEN - timedelta(days=1))


def doc_for(keyring: Keyring, *, region: str = "eu-west-1", headers: dict[str, str] | None = None,
            data: bytes | None = None, **extra: object) -> dict[str, object]:
    issued = int(WHEN.timestamp()) - 60
    claims = SessionClaims(account="111111111111", role_arn=ROLE, role_id="AROAEXAMPLE0000000001",
                           session_name="alice", issued_at=issued, expires_at=issued + 3600,
                           tags=(("Team", "atlas"),), source_identity="alice@example.com")
    creds = mint(keyring, claims)
    req = botocore_signed(creds.access_key_id, creds.secret_access_key, creds.session_token,
                          method="PUT" if data else "GET", url="https://svc.example.com/o/k",
                          data=data, headers=headers, region=region, service="orders", when=WHEN)
    doc: dict[str, object] = {
        "method": req.method, "path": req.path, "query": req.query,
        "headers": [list(h) for h in req.headers], "service": "orders",
        "action": "orders:GetOrder", "resource": "arn:aws:orders:eu-west-1:111111111111:order/1",
    }
    doc.update(extra)
    return doc


def test_condition_keys_come_from_the_session_the_signature_and_the_server(
    keyring: Keyring,
) -> None:
    question = parse_authorize_request(doc_for(
        keyring, resource_account="111111111111",
        context={"aws:SourceIp": "203.0.113.7", "orders:Priority": [1, 2], "aws:Referer": []},
    ))
    caller = verify(question, keyring=keyring, now=NOW)
    ctx = request_context(caller, question, NOW)
    assert ctx.get("aws:SecureTransport") == ("false",)  # silence is not TLS
    assert ctx.get("aws:RequestedRegion") == ("eu-west-1",)  # the region the client signed
    assert ctx.get("aws:ResourceAccount") == ("111111111111",)
    assert ctx.get("aws:PrincipalTag/Team") == ("atlas",)
    assert ctx.get("aws:SourceIdentity") == ("alice@example.com",)
    assert ctx.get("aws:SourceIp") == ("203.0.113.7",)
    assert ctx.get("orders:priority") == ("1", "2")
    assert ctx.get("aws:Referer") is None  # an empty list is absent
    assert ctx.get("aws:CurrentTime") == ("2024-01-01T00:00:05Z",)
    assert ctx.principal is not None and ctx.principal.account == "111111111111"
    secure = parse_authorize_request(doc_for(keyring, context={"aws:SecureTransport": True}))
    assert request_context(caller, secure, NOW).get("aws:SecureTransport") == ("true",)


@pytest.mark.parametrize("key", ["aws:PrincipalArn", "AWS:principalaccount", "aws:userid",
                                 "aws:TokenIssueTime", "aws:CurrentTime", "aws:RequestedRegion",
                                 "aws:ResourceAccount", "aws:PrincipalTag/Team"])
def test_the_caller_and_clock_keys_cannot_be_supplied(keyring: Keyring, key: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_authorize_request(doc_for(keyring, context={key: "x"}))
    assert [p.path for p in caught.value.problems] == [f"context.{key}"]


def test_a_body_hash_must_equal_the_signed_content_hash(keyring: Keyring) -> None:
    body = b'{"qty": 2}'
    digest = hashlib.sha256(body).hexdigest()
    doc = doc_for(keyring, data=body, headers={"X-Amz-Content-SHA256": digest})
    question = parse_authorize_request({**doc, "body_sha256": digest.upper()})
    assert verify(question, keyring=keyring, now=NOW).claims.session_name == "alice"
    other = parse_authorize_request({**doc, "body_sha256": hashlib.sha256(b"x").hexdigest()})
    with pytest.raises(SignatureDoesNotMatch):
        verify(other, keyring=keyring, now=NOW)
    # The body itself works too, and a different one does not.
    assert verify(parse_authorize_request({**doc, "body": "eyJxdHkiOiAyfQ=="}),
                  keyring=keyring, now=NOW)
    with pytest.raises(SignatureDoesNotMatch):
        verify(parse_authorize_request({**doc, "body": "eyJxdHkiOiA5fQ=="}),
               keyring=keyring, now=NOW)


def test_an_oversized_decision_is_encoded_short_enough_to_decode(keyring: Keyring) -> None:
    question = parse_authorize_request(doc_for(keyring))
    caller = verify(question, keyring=keyring, now=NOW)
    failures = tuple(
        FailedCondition("policy", f"S{i}", "StringEquals", "aws:PrincipalTag/x",
                        (secrets.token_hex(40),), (secrets.token_hex(40),), "no match")
        for i in range(200)
    )
    decision = Decision(False, "no_allow", "no statement allows the request",
                        question.action, question.resource, None, (), failures)
    small = Decision(False, "no_allow", "nothing", question.action, question.resource)
    for d, truncated in ((decision, True), (small, False)):
        encoded = encoded_message(keyring, Authorized(caller, d), question, "req-1")
        assert len(encoded) <= ENCODED_MESSAGE_CHARS
        decoded = authz_message.decode(keyring, encoded)
        assert decoded["decision"]["reason"] == "no_allow"
        assert decoded["context"]["resource"] == question.resource
        assert decoded.get("truncated", False) is truncated
        assert decoded["request_id"] == "req-1"
