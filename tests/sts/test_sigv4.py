"""SigV4 verification of requests signed by botocore, and the attacks it must stop."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.sts import sigv4
from gateway.sts.errors import (
    IncompleteSignature,
    InvalidClientTokenId,
    MissingAuthenticationToken,
    SignatureDoesNotMatch,
    StsError,
)
from gateway.sts.sigv4 import SignedRequest
from tests.sts.signing import (
    WHEN,
    botocore_signed,
    drop_header,
    header,
    replace_header,
    with_headers,
)

AKID = "AKIDEXAMPLE00000000A"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SECRETS = {AKID: SECRET}


def verify(req: SignedRequest, **kwargs: object) -> sigv4.VerifiedRequest:
    options: dict[str, object] = {"service": "sts", "now": WHEN, "secret_for": SECRETS.get}
    options.update(kwargs)
    return sigv4.verify(req, **options)  # type: ignore[arg-type]


def signed(**kwargs: object) -> SignedRequest:
    return botocore_signed(AKID, SECRET, **kwargs)  # type: ignore[arg-type]


def presigned(**kwargs: object) -> SignedRequest:
    options: dict[str, object] = {
        "method": "GET",
        "url": "https://sts.amazonaws.com/",
        "params": {"Action": "GetCallerIdentity", "Version": "2011-06-15"},
        "presign_expires": 60,
    }
    options.update(kwargs)
    return signed(**options)


# --- what botocore signs verifies -------------------------------------------------------


def test_boto3_style_post_verifies() -> None:
    verified = verify(signed())
    assert verified.access_key_id == AKID
    assert verified.region == "us-east-1"
    assert verified.service == "sts"
    assert verified.signed_headers == ("content-type", "host", "x-amz-date")
    assert verified.presigned is False
    assert verified.request_time == WHEN


def test_region_comes_from_the_scope() -> None:
    assert verify(signed(region="eu-west-3")).region == "eu-west-3"


def test_session_token_header_is_signed_and_reported() -> None:
    verified = verify(signed(token="the-session-token"))
    assert "x-amz-security-token" in verified.signed_headers
    assert verified.security_token == "the-session-token"


def test_presigned_get_caller_identity_with_signed_extra_header() -> None:
    req = presigned(headers={"x-k8s-aws-id": "cluster-1"}, token="tok+/=")
    verified = verify(req)
    assert verified.presigned is True
    assert verified.expires == 60
    assert verified.signed_headers == ("host", "x-k8s-aws-id")
    assert verified.security_token == "tok+/="


def test_presigned_url_without_its_signed_extra_header_fails() -> None:
    req = drop_header(presigned(headers={"x-k8s-aws-id": "cluster-1"}), "x-k8s-aws-id")
    with pytest.raises(SignatureDoesNotMatch):
        verify(req)


def test_presigned_url_for_another_cluster_fails() -> None:
    req = replace_header(presigned(headers={"x-k8s-aws-id": "cluster-1"}), "x-k8s-aws-id", "c2")
    with pytest.raises(SignatureDoesNotMatch):
        verify(req)


def test_signed_with_date_header_instead_of_x_amz_date() -> None:
    req = signed(headers={"Date": "Mon, 01 Jan 2024 00:00:00 GMT"})
    assert not any(n.lower() == "x-amz-date" for n, _ in req.headers)
    assert verify(req).request_time == WHEN


def test_get_with_query_in_header_form_verifies() -> None:
    req = signed(method="GET", params={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    assert req.query
    assert verify(req).presigned is False


def test_secret_source_object_is_accepted() -> None:
    class Source:
        def secret_for(self, access_key_id: str) -> str | None:
            return SECRETS.get(access_key_id)

    assert verify(signed(), secret_for=Source()).access_key_id == AKID


_SEGMENT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
).filter(lambda s: s not in (".", ".."))


@settings(max_examples=60, deadline=None)
@given(
    segments=st.lists(_SEGMENT, min_size=0, max_size=3),
    params=st.dictionaries(
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8),
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
        max_size=4,
    ),
    form=st.dictionaries(
        st.sampled_from(["Action", "RoleArn", "Policy", "Tags.member.1.Key"]),
        st.text(max_size=40),
    ),
)
def test_anything_botocore_signs_verifies(
    segments: list[str], params: dict[str, str], form: dict[str, str]
) -> None:
    path = "/" + "/".join(quote(s, safe="") for s in segments)
    assert verify(signed(url="https://gw.example.com" + path, data=form)).access_key_id == AKID
    req = presigned(url="https://gw.example.com:8443" + path, params=params or None)
    assert verify(req).presigned is True


# --- tampering -------------------------------------------------------------------------


def test_changed_body_fails() -> None:
    req = signed(data={"Action": "AssumeRole", "DurationSeconds": "900"})
    tampered = dataclasses.replace(req, body=req.body.replace(b"900", b"901"))
    with pytest.raises(SignatureDoesNotMatch) as err:
        verify(tampered)
    assert err.value.message == SignatureDoesNotMatch.default_message


def test_changed_signed_header_fails() -> None:
    req = signed(headers={"X-Custom": "a"})
    with pytest.raises(SignatureDoesNotMatch):
        verify(replace_header(req, "X-Custom", "b"))


def test_changed_host_fails() -> None:
    with pytest.raises(SignatureDoesNotMatch):
        verify(replace_header(signed(), "Host", "other.example.com"))


def test_whitespace_inside_signed_header_is_canonical_but_case_is_not() -> None:
    req = signed(headers={"X-Custom": "a b"})
    assert verify(replace_header(req, "X-Custom", "  a    b ")).access_key_id == AKID
    with pytest.raises(SignatureDoesNotMatch):
        verify(replace_header(req, "X-Custom", "A b"))


def test_changed_query_parameter_fails() -> None:
    req = presigned()
    tampered = dataclasses.replace(req, query=req.query.replace("GetCallerIdentity", "AssumeRole"))
    with pytest.raises(SignatureDoesNotMatch):
        verify(tampered)


def test_added_query_parameter_fails() -> None:
    req = presigned()
    with pytest.raises(SignatureDoesNotMatch):
        verify(dataclasses.replace(req, query=req.query + "&DurationSeconds=43200"))


def test_dropped_signed_header_fails() -> None:
    with pytest.raises(SignatureDoesNotMatch):
        verify(drop_header(signed(), "Content-Type"))


def test_wrong_secret_fails() -> None:
    req = botocore_signed(AKID, SECRET[:-1] + "X")
    with pytest.raises(SignatureDoesNotMatch):
        verify(req)


@pytest.mark.parametrize("cut", [1, 32, 63])
def test_truncated_signature_fails(cut: int) -> None:
    req = signed()
    auth = header(req, "Authorization")
    with pytest.raises(SignatureDoesNotMatch):
        verify(replace_header(req, "Authorization", auth[:-cut]))


def test_non_ascii_signature_is_a_mismatch_not_a_crash() -> None:
    req = signed()
    auth = header(req, "Authorization")
    with pytest.raises(SignatureDoesNotMatch):
        verify(replace_header(req, "Authorization", auth[:-1] + "é"))


def test_unsigned_payload_is_refused() -> None:
    req = signed(headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(SignatureDoesNotMatch, match="x-amz-content-sha256"):
        verify(req)


def test_correct_content_sha256_header_is_accepted() -> None:
    import hashlib

    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    digest = hashlib.sha256(body).hexdigest()
    req = signed(data=body.decode(), headers={"X-Amz-Content-SHA256": digest})
    assert verify(req).access_key_id == AKID


def test_unsigned_x_amz_header_is_refused() -> None:
    req = signed()
    smuggled = with_headers(req, [*req.headers, ("X-Amz-Target", "Other.Action")])
    with pytest.raises(SignatureDoesNotMatch, match="not signed: x-amz-target"):
        verify(smuggled)


def test_token_in_header_and_query_is_refused() -> None:
    req = signed(token="tok-a")
    with pytest.raises(InvalidClientTokenId):
        verify(dataclasses.replace(req, query="X-Amz-Security-Token=tok-b"))


def test_repeated_x_amz_date_header_is_refused() -> None:
    req = signed()
    doubled = with_headers(req, [*req.headers, ("X-Amz-Date", "20240101T000500Z")])
    with pytest.raises(IncompleteSignature, match="x-amz-date"):
        verify(doubled)


def test_a_signed_header_missing_from_the_request_is_refused() -> None:
    req = signed()
    with pytest.raises(SignatureDoesNotMatch) as caught:
        verify(drop_header(req, "Content-Type"))
    assert "content-type" in str(caught.value.detail)


@pytest.mark.parametrize("name", ["host", "X-AMZ-DATE", "authorization"])
def test_a_repeated_header_differing_only_in_case_is_refused(name: str) -> None:
    req = signed()
    original = next(v for n, v in req.headers if n.lower() == name.lower())
    doubled = with_headers(req, [*req.headers, (name, original)])
    with pytest.raises(IncompleteSignature, match=f"Duplicate '{name.lower()}' header"):
        verify(doubled)


def test_host_must_be_signed() -> None:
    req = signed()
    auth = header(req, "Authorization").replace("content-type;host;x-amz-date", "x-amz-date")
    with pytest.raises(IncompleteSignature, match="'Host'"):
        verify(replace_header(req, "Authorization", auth))


# --- malformed Authorization -----------------------------------------------------------


def test_duplicated_authorization_parameter_is_refused() -> None:
    req = signed()
    auth = header(req, "Authorization")
    doubled = auth + ", Signature=" + "0" * 64
    with pytest.raises(IncompleteSignature, match="Duplicate parameter 'Signature'"):
        verify(replace_header(req, "Authorization", doubled))


def test_two_authorization_headers_are_refused() -> None:
    req = signed()
    doubled = with_headers(req, [*req.headers, ("Authorization", header(req, "Authorization"))])
    with pytest.raises(IncompleteSignature):
        verify(doubled)


def test_missing_authorization_fields_are_listed_like_aws() -> None:
    with pytest.raises(IncompleteSignature) as err:
        sigv4.parse_authorization("Bearer abc")
    assert err.value.message == (
        "Authorization header requires 'Credential' parameter. Authorization header requires "
        "'SignedHeaders' parameter. Authorization header requires 'Signature' parameter. "
        "Authorization=Bearer abc"
    )


def test_component_without_equals_sign() -> None:
    with pytest.raises(IncompleteSignature, match="missing equal-sign"):
        sigv4.parse_authorization("AWS4-HMAC-SHA256 Credential")


def test_other_algorithm_is_refused() -> None:
    req = signed()
    auth = header(req, "Authorization").replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")
    with pytest.raises(IncompleteSignature, match="Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA1'"):
        verify(replace_header(req, "Authorization", auth))


def test_credential_with_four_parts() -> None:
    with pytest.raises(IncompleteSignature, match="exactly 5 slash-delimited elements"):
        sigv4.parse_credential("AKID/20240101/us-east-1/sts")


def test_unsorted_signed_headers_are_refused() -> None:
    req = signed()
    auth = header(req, "Authorization").replace(
        "content-type;host;x-amz-date", "host;content-type;x-amz-date"
    )
    with pytest.raises(IncompleteSignature, match="SignedHeaders"):
        verify(replace_header(req, "Authorization", auth))


def test_malformed_x_amz_date() -> None:
    req = replace_header(signed(), "X-Amz-Date", "2024-01-01T00:00:00Z")
    with pytest.raises(IncompleteSignature, match="ISO-8601 'basic format'"):
        verify(req)


def test_no_authentication_at_all() -> None:
    req = SignedRequest("POST", "/", "", [("Host", "gw.example.com")], b"Action=GetCallerIdentity")
    with pytest.raises(MissingAuthenticationToken) as err:
        verify(req)
    assert (err.value.code, err.value.status) == ("MissingAuthenticationToken", 403)


def test_sigv2_query_authentication_is_not_accepted() -> None:
    query = "Action=GetCallerIdentity&AWSAccessKeyId=AKID&SignatureVersion=2&Signature=abc"
    req = SignedRequest("GET", "/", query, [("Host", "gw.example.com")])
    with pytest.raises(MissingAuthenticationToken):
        verify(req)


def test_header_and_query_authentication_together_are_refused() -> None:
    post = signed()
    query = presigned().query
    with pytest.raises(IncompleteSignature, match="Only one auth mechanism"):
        verify(dataclasses.replace(post, query=query))


def test_unknown_access_key_id() -> None:
    req = botocore_signed("AKIDUNKNOWN000000000", SECRET)
    with pytest.raises(InvalidClientTokenId) as err:
        verify(req)
    assert err.value.message == "The security token included in the request is invalid"


# --- scope -----------------------------------------------------------------------------


def test_wrong_service_in_scope() -> None:
    with pytest.raises(SignatureDoesNotMatch) as err:
        verify(signed(service="s3"))
    assert err.value.message == "Credential should be scoped to correct service: 'sts'."


def test_region_outside_the_allowed_set() -> None:
    with pytest.raises(SignatureDoesNotMatch, match="valid region, not 'us-west-2'"):
        verify(signed(region="us-west-2"), regions=frozenset({"us-east-1"}))


def test_scope_date_must_match_x_amz_date() -> None:
    req = replace_header(signed(), "X-Amz-Date", "20240102T000000Z")
    with pytest.raises(SignatureDoesNotMatch) as err:
        verify(req, now=WHEN + timedelta(days=1))
    assert err.value.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '20240101' != '20240102', from '20240102T000000Z'."
    )


def test_wrong_terminator() -> None:
    req = signed()
    auth = header(req, "Authorization").replace("/aws4_request", "/aws4_requestx")
    with pytest.raises(SignatureDoesNotMatch, match="valid terminator: 'aws4_request'"):
        verify(replace_header(req, "Authorization", auth))


# --- time ------------------------------------------------------------------------------


def test_replay_after_fifteen_minutes_fails_with_aws_message() -> None:
    with pytest.raises(SignatureDoesNotMatch) as err:
        verify(signed(), now=WHEN + timedelta(minutes=16))
    assert err.value.message == (
        "Signature expired: 20240101T000000Z is now earlier than 20240101T000100Z "
        "(20240101T001600Z - 15 min.)"
    )


def test_request_from_the_future_fails_with_aws_message() -> None:
    with pytest.raises(SignatureDoesNotMatch) as err:
        verify(signed(), now=WHEN - timedelta(minutes=16))
    assert err.value.message == (
        "Signature not yet current: 20240101T000000Z is still later than 20231231T235900Z "
        "(20231231T234400Z + 15 min.)"
    )


def test_skew_inside_the_window_is_accepted() -> None:
    assert verify(signed(), now=WHEN + timedelta(minutes=15)).access_key_id == AKID
    assert verify(signed(), now=WHEN - timedelta(minutes=15)).access_key_id == AKID


def test_presigned_url_expires_after_x_amz_expires() -> None:
    req = presigned(presign_expires=300)
    assert verify(req, now=WHEN + timedelta(minutes=5)).presigned
    with pytest.raises(SignatureDoesNotMatch) as err:
        verify(req, now=WHEN + timedelta(minutes=10))
    assert err.value.message == (
        "Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z "
        "(20240101T001000Z - 5 min.)"
    )


def test_long_presigned_url_outlives_the_skew_window() -> None:
    req = presigned(presign_expires=604800)
    assert verify(req, now=WHEN + timedelta(days=6)).expires == 604800


@pytest.mark.parametrize(
    ("expires", "message"),
    [
        ("604801", "less than a week"),
        ("-1", "non-negative"),
        ("0", "at least 1 second"),
        ("abc", "should be a number"),
    ],
)
def test_presign_expires_limits(expires: str, message: str) -> None:
    req = presigned()
    query = req.query.replace("X-Amz-Expires=60", f"X-Amz-Expires={expires}")
    bad = dataclasses.replace(req, query=query)
    with pytest.raises(IncompleteSignature, match=message):
        verify(bad)


def test_presigned_parameter_given_twice_is_refused() -> None:
    req = presigned()
    with pytest.raises(IncompleteSignature, match="Duplicate query-string parameter"):
        verify(dataclasses.replace(req, query=req.query + "&X-Amz-Date=20240101T000000Z"))


def test_presigned_without_expires_is_incomplete() -> None:
    req = presigned()
    query = "&".join(p for p in req.query.split("&") if not p.startswith("X-Amz-Expires"))
    with pytest.raises(IncompleteSignature, match="X-Amz-Expires"):
        verify(dataclasses.replace(req, query=query))


# --- canonical pieces ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("", "/"),
        ("/", "/"),
        ("/sts/", "/sts/"),
        ("/a%20b", "/a%2520b"),  # non-S3 services encode the already-encoded path again
        ("/a//b/./c/../d/", "/a/b/d/"),
        ("/ሴ", "/%E1%88%B4"),
        ("/..", "/"),
    ],
)
def test_canonical_uri(raw: str, canonical: str) -> None:
    assert sigv4.canonical_uri(raw) == canonical


def test_canonical_query_sorts_encoded_pairs_and_drops_presigned_signature() -> None:
    pairs = [("b", "2"), ("a", "x y"), ("a", "%41"), ("X-Amz-Signature", "s"), ("c", "")]
    assert sigv4.canonical_query(pairs, presigned=True) == "a=A&a=x%20y&b=2&c="
    assert "X-Amz-Signature=s" in sigv4.canonical_query(pairs, presigned=False)


def test_every_failure_is_an_sts_error() -> None:
    authorization = "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=x"
    broken = [
        SignedRequest("GET", "/", "X-Amz-Algorithm=%FF", [("Host", "h")]),
        SignedRequest("GET", "/\udcff", "", [("Host", "h"), ("Authorization", "AWS4 ")]),
        SignedRequest("POST", "/", "", [("Authorization", authorization), ("Date", "nonsense")]),
        SignedRequest("POST", "/", "", [("Host", "h"), ("Authorization", authorization)]),
    ]
    for req in broken:
        with pytest.raises(StsError):
            verify(req)


@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30))
def test_canonical_uri_agrees_with_botocore(path: str) -> None:
    from botocore.utils import normalize_url_path

    raw = "/" + path
    assert sigv4.canonical_uri(raw) == quote(normalize_url_path(raw), safe="/~")


def test_wsgi_strings_are_converted_back_to_what_was_signed() -> None:
    req = signed(headers={"X-Label": "café ☕"})
    # A WSGI server hands header values over as the raw bytes read as Latin-1.
    wsgi = [(n, v.encode("utf-8").decode("latin-1")) for n, v in req.headers]
    with pytest.raises(SignatureDoesNotMatch):
        verify(with_headers(req, wsgi))
    restored = [(n, sigv4.from_wsgi(v)) for n, v in wsgi]
    assert verify(with_headers(req, restored)).access_key_id == AKID


def test_security_token_repeated_in_the_query_is_refused() -> None:
    req = dataclasses.replace(signed(), query="X-Amz-Security-Token=a&X-Amz-Security-Token=b")
    with pytest.raises(InvalidClientTokenId):
        verify(req)


def test_unknown_authorization_parameter_is_refused() -> None:
    with pytest.raises(IncompleteSignature, match="Unknown parameter 'Region'"):
        sigv4.parse_authorization(
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=s, Region=x"
        )


def test_request_without_any_date_is_incomplete() -> None:
    req = drop_header(signed(), "X-Amz-Date")
    with pytest.raises(IncompleteSignature, match="'X-Amz-Date' or a 'Date' header"):
        verify(req)


@pytest.mark.parametrize("region", ["US_EAST_1", "-bad", "a" * 70])
def test_region_that_is_not_a_region_name(region: str) -> None:
    with pytest.raises(SignatureDoesNotMatch, match="valid region"):
        verify(signed(region=region))
