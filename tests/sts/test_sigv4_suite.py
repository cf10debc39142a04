"""The public AWS SigV4 test suite: canonical request, string to sign, signature, verify."""

from __future__ import annotations

import hashlib

import pytest

from gateway.sts import sigv4
from gateway.sts.errors import SignatureDoesNotMatch
from tests.sts.sigv4_suite import (
    ACCESS_KEY_ID,
    ERRATA,
    NOW,
    REGION,
    SECRET,
    SERVICE,
    SUITE,
    Vector,
    vectors,
)

VECTORS = vectors()
IDS = [v.name for v in VECTORS]


def secret_for(access_key_id: str) -> str | None:
    return SECRET if access_key_id == ACCESS_KEY_ID else None


def test_the_suite_is_complete_with_its_license() -> None:
    assert len(VECTORS) == 31
    assert "Apache License" in (SUITE / "LICENSE").read_text()
    assert "Amazon.com" in (SUITE / "NOTICE").read_text()


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_canonical_request_matches_creq(vector: Vector) -> None:
    req = vector.creq_request()
    parts = sigv4.parse_request(req)
    assert sigv4.canonical_request(req, parts) == vector.text(".creq")


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_string_to_sign_matches_sts(vector: Vector) -> None:
    req = vector.signed_request()
    parts = sigv4.parse_request(req)
    canonical = sigv4.canonical_request(req, parts)
    assert sigv4.string_to_sign(parts, canonical) == vector.text(".sts")


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_signature_matches_authz(vector: Vector) -> None:
    req = vector.signed_request()
    parts = sigv4.parse_request(req)
    sts = sigv4.string_to_sign(parts, sigv4.canonical_request(req, parts))
    assert sigv4.signature(SECRET, parts.credential, sts) == vector.signature


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_signed_request_verifies(vector: Vector) -> None:
    verified = sigv4.verify(
        vector.signed_request(), service=SERVICE, now=NOW, secret_for=secret_for
    )
    assert verified.access_key_id == ACCESS_KEY_ID
    assert verified.region == REGION
    assert verified.presigned is False
    assert "host" in verified.signed_headers


@pytest.mark.parametrize("name", sorted(ERRATA))
def test_errata_vectors_really_disagree_with_themselves(name: str) -> None:
    # If a later suite fixes these, this fails and ERRATA can go.
    vector = next(v for v in VECTORS if v.name == name)
    creq_hash = hashlib.sha256(vector.text(".creq").encode()).hexdigest()
    assert vector.text(".sts").splitlines()[3] != creq_hash


SREQ = [v for v in VECTORS if v.name not in (*ERRATA, "post-sts-token/post-sts-header-after")]


@pytest.mark.parametrize("vector", SREQ, ids=[v.name for v in SREQ])
def test_sreq_file_verifies(vector: Vector) -> None:
    verified = sigv4.verify(
        vector.request(".sreq"), service=SERVICE, now=NOW, secret_for=secret_for
    )
    assert verified.access_key_id == ACCESS_KEY_ID


@pytest.mark.parametrize("vector", VECTORS[:3], ids=IDS[:3])
def test_suite_request_with_another_secret_fails(vector: Vector) -> None:
    with pytest.raises(SignatureDoesNotMatch):
        sigv4.verify(
            vector.signed_request(), service=SERVICE, now=NOW, secret_for=lambda _: SECRET + "x"
        )


def test_security_token_header_added_after_signing_is_refused() -> None:
    # The suite's "header-after" variant attaches X-Amz-Security-Token unsigned; this
    # gateway requires every x-amz-* header to be signed, so it cannot be swapped.
    vector = next(v for v in VECTORS if v.name == "post-sts-token/post-sts-header-after")
    with pytest.raises(SignatureDoesNotMatch, match="x-amz-security-token"):
        sigv4.verify(vector.request(".sreq"), service=SERVICE, now=NOW, secret_for=secret_for)


def test_security_token_signed_before_is_reported() -> None:
    vector = next(v for v in VECTORS if v.name == "post-sts-token/post-sts-header-before")
    verified = sigv4.verify(vector.request(), service=SERVICE, now=NOW, secret_for=secret_for)
    assert verified.security_token is not None
    assert verified.security_token.startswith("AQoDYXdzEPT//////////wEXAMPLE")
