"""Requests signed by botocore with minted credentials: accepted, or refused with AWS's code."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from gateway.sts.authenticate import authenticate
from gateway.sts.credentials import (
    Credentials,
    MalformedAccessKeyId,
    MissingSessionToken,
    SessionClaims,
    TamperedToken,
    UnknownKey,
    mint,
)
from gateway.sts.errors import (
    ExpiredToken,
    InvalidClientTokenId,
    SignatureDoesNotMatch,
)
from gateway.sts.keyring import Key, Keyring
from gateway.sts.sigv4 import SignedRequest
from tests.sts.signing import WHEN, botocore_signed, replace_header

RING = Keyring(Key("AUTH", bytes(range(32)), WHEN - timedelta(days=1)))
ISSUED = int(WHEN.timestamp()) - 60


def session(**overrides: object) -> SessionClaims:
    values: dict[str, object] = {
        "account": "111122223333",
        "role_arn": "arn:aws:iam::111122223333:role/Reader",
        "role_id": "AROAEXAMPLEROLEID0001",
        "session_name": "bob",
        "issued_at": ISSUED,
        "expires_at": ISSUED + 3600,
    }
    values.update(overrides)
    return SessionClaims(**values)  # type: ignore[arg-type]


CLAIMS = session(tags=(("team", "blue"),), source_identity="bob")
CREDS = mint(RING, CLAIMS)


def signed_by(creds: Credentials, **kwargs: object) -> SignedRequest:
    return botocore_signed(
        creds.access_key_id, creds.secret_access_key, creds.session_token, **kwargs  # type: ignore[arg-type]
    )


def test_request_signed_with_minted_credentials_is_authenticated() -> None:
    caller = authenticate(signed_by(CREDS), RING, service="sts", now=WHEN)
    assert caller.claims == CLAIMS
    assert caller.access_key_id == CREDS.access_key_id
    assert caller.request.region == "us-east-1"
    assert caller.claims.arn == "arn:aws:sts::111122223333:assumed-role/Reader/bob"


def test_presigned_get_caller_identity_is_a_bearer_identity_proof() -> None:
    req = signed_by(
        CREDS,
        method="GET",
        url="https://gw.example.com/sts/",
        params={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
        headers={"x-k8s-aws-id": "prod-cluster"},
        presign_expires=60,
    )
    caller = authenticate(req, RING, service="sts", now=WHEN + timedelta(seconds=30))
    assert caller.request.presigned is True
    assert "x-k8s-aws-id" in caller.request.signed_headers
    assert caller.claims.user_id == "AROAEXAMPLEROLEID0001:bob"


def test_presigned_url_does_not_outlive_its_credentials() -> None:
    short = mint(RING, session(expires_at=int(WHEN.timestamp()) + 120))
    req = signed_by(
        short, method="GET", params={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
        presign_expires=3600,
    )
    assert authenticate(req, RING, service="sts", now=WHEN + timedelta(seconds=60))
    with pytest.raises(ExpiredToken):
        authenticate(req, RING, service="sts", now=WHEN + timedelta(seconds=121))


def test_missing_session_token() -> None:
    req = botocore_signed(CREDS.access_key_id, CREDS.secret_access_key)
    with pytest.raises(MissingSessionToken) as err:
        authenticate(req, RING, service="sts", now=WHEN)
    assert (err.value.code, err.value.status) == ("InvalidClientTokenId", 403)


def test_another_sessions_token_with_this_key_id() -> None:
    other = mint(RING, session(session_name="mallory"))
    req = botocore_signed(CREDS.access_key_id, CREDS.secret_access_key, other.session_token)
    with pytest.raises(TamperedToken):
        authenticate(req, RING, service="sts", now=WHEN)


def test_tampered_token() -> None:
    token = CREDS.session_token
    flipped = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    req = botocore_signed(CREDS.access_key_id, CREDS.secret_access_key, flipped)
    with pytest.raises(InvalidClientTokenId):
        authenticate(req, RING, service="sts", now=WHEN)


def test_wrong_secret() -> None:
    req = botocore_signed(CREDS.access_key_id, "x" * 40, CREDS.session_token)
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(req, RING, service="sts", now=WHEN)


def test_long_term_looking_key_id() -> None:
    req = botocore_signed("AKIAIOSFODNN7EXAMPLE", "secret", CREDS.session_token)
    with pytest.raises(MalformedAccessKeyId):
        authenticate(req, RING, service="sts", now=WHEN)


def test_expired_credentials_refused_with_expired_token() -> None:
    expired = mint(RING, session(issued_at=ISSUED - 7200, expires_at=ISSUED - 3600))
    with pytest.raises(ExpiredToken) as err:
        authenticate(signed_by(expired), RING, service="sts", now=WHEN)
    assert err.value.message == "The security token included in the request is expired"
    assert err.value.status == 403


def test_skewed_clock_is_refused_after_the_credentials_check() -> None:
    with pytest.raises(SignatureDoesNotMatch, match="Signature expired"):
        authenticate(signed_by(CREDS), RING, service="sts", now=WHEN + timedelta(minutes=20))


def test_swapped_security_token_header_is_refused() -> None:
    other = mint(RING, session(session_name="mallory"))
    req = replace_header(signed_by(CREDS), "X-Amz-Security-Token", other.session_token)
    with pytest.raises(InvalidClientTokenId):
        authenticate(req, RING, service="sts", now=WHEN)


def test_changed_body_with_valid_credentials() -> None:
    req = signed_by(CREDS, data={"Action": "AssumeRole", "DurationSeconds": "900"})
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(
            dataclasses.replace(req, body=req.body.replace(b"900", b"3600")),
            RING, service="sts", now=WHEN,
        )


def test_credentials_survive_rotation_and_end_with_retirement() -> None:
    rotated = RING.rotate(WHEN)
    assert authenticate(signed_by(CREDS), rotated, service="sts", now=WHEN).claims == CLAIMS
    retired = rotated.retire(WHEN + timedelta(hours=13))
    with pytest.raises(UnknownKey):
        authenticate(signed_by(CREDS), retired, service="sts", now=WHEN)


def test_service_scope_is_enforced() -> None:
    with pytest.raises(SignatureDoesNotMatch, match="correct service: 'sts'"):
        authenticate(signed_by(CREDS, service="iam"), RING, service="sts", now=WHEN)
