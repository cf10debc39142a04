"""STS Query parameters (gateway.sts.protocol, params) and SigV4 (gateway.sts.sigv4):
any form body, parameter set or signature header is parsed or refused with an `StsError`
(the AWS error the edge renders); nothing else escapes.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from gateway.sts.authenticate import authenticate
from gateway.sts.credentials import SessionClaims, mint
from gateway.sts.errors import StsError
from gateway.sts.keyring import Key, Keyring
from gateway.sts.params import ACTIONS, parse_request
from gateway.sts.protocol import decode_form, merge_params
from gateway.sts.sigv4 import (
    SignedRequest,
    canonical_request,
    canonical_uri,
    check_scope,
    check_time,
)
from gateway.sts.sigv4 import (
    parse_request as parse_signature,
)
from tests.fuzz.strategies import AWKWARD, WORD, key
from tests.sts.signing import WHEN, botocore_signed

MEMBERS = ["RoleArn", "RoleSessionName", "Policy", "DurationSeconds", "ExternalId",
           "SerialNumber", "TokenCode", "SourceIdentity", "MinimumSessionTokenSize",
           "PrincipalArn", "SAMLAssertion", "WebIdentityToken", "ProviderId", "AccessKeyId",
           "EncodedMessage", "Name", "PolicyArns.member.1.arn", "PolicyArns.member.11.arn",
           "Tags.member.1.Key", "Tags.member.1.Value", "Tags.member.0.Key",
           "Tags.member.51.Value", "TransitiveTagKeys.member.1", "ProvidedContexts.member.1."
           "ProviderArn", "ProvidedContexts.member.1.ContextAssertion", "Tags.member.x.Key",
           "Tags.member.1", "Tags.member.01.Key", "Tags.member.99999999999999999999.Key"]
VALUES = ["arn:aws:iam::111111111111:role/Base", "alice", "900", "43200", "-1", "1e3", "0x10",
          "99999999999999999999999", "", " ", "{}", '{"Version":"2012-10-17","Statement":[]}',
          "arn:aws:iam::aws:policy/ReadOnlyAccess", "graph.facebook.com", "ASIAAAAAAAAAAAAAAAAA",
          "\x00", "a" * 70, "١٢٣"]
values = st.one_of(st.sampled_from(VALUES), WORD,
                   st.text(st.sampled_from(AWKWARD + "0123456789"), max_size=40))


@given(params=st.dictionaries(key("Action", "Version", *MEMBERS), values, max_size=10),
       action=st.sampled_from(sorted(ACTIONS)) | WORD,
       version=st.sampled_from(["2011-06-15", "2011-06-16", ""]))
def test_any_parameters_parse_or_are_an_sts_error(
    params: dict[str, str], action: str, version: str
) -> None:
    params = {"Action": action, "Version": version, **params}
    try:
        parse_request(params)
    except StsError as exc:
        assert 400 <= exc.status < 500 and exc.code


@given(body=st.binary(max_size=300) | st.text(st.sampled_from(AWKWARD + "ab=&%2F+"),
                                              max_size=200).map(str.encode),
       query=st.text(st.sampled_from(AWKWARD + "ab=&%"), max_size=80))
def test_any_form_body_decodes_or_is_malformed(body: bytes, query: str) -> None:
    try:
        params = merge_params(decode_form(query), decode_form(body))
        parse_request(params)
    except StsError as exc:
        assert exc.code


# ---------------------------------------------------------------- SigV4

AUTH_PARTS = ["AWS4-HMAC-SHA256", "Credential=", "ASIAAAAAAAAAAAAAAAAA/20240101/us-east-1/sts/"
              "aws4_request", "SignedHeaders=", "host;x-amz-date", "Signature=", "a" * 64, ", ",
              ",", " ", "=", "/", ";", "AWS4-HMAC-SHA512", "Credential=/", "//", "\t"]
HEADERS = ["Host", "X-Amz-Date", "Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256",
           "Authorization", "Content-Type", "host", "X-Amz-Expires"]
QUERY_PARTS = ["X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Credential=ASIAAAAAAAAAAAAAAAAA%2F"
               "20240101%2Fus-east-1%2Fsts%2Faws4_request", "X-Amz-Date=20240101T000000Z",
               "X-Amz-Expires=60", "X-Amz-Expires=-1", "X-Amz-Expires=99999999999999",
               "X-Amz-SignedHeaders=host", "X-Amz-Signature=" + "0" * 64,
               "X-Amz-Security-Token=x", "Action=GetCallerIdentity", "&", "=", "%", "%zz"]
# Bytes that are not UTF-8 reach the parser as surrogate escapes (sigv4.from_wsgi).
ESCAPED = st.text(st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF) | st.sampled_from(
    AWKWARD), max_size=6)
authorization = st.lists(st.sampled_from(AUTH_PARTS) | WORD, max_size=10).map("".join)
header_value = st.one_of(authorization, st.sampled_from(["20240101T000000Z", "20241301T250000Z",
                                                         "Mon, 01 Jan 2024 00:00:00 GMT",
                                                         "gw.example.com", ""]), WORD,
                         ESCAPED)
requests_ = st.builds(
    SignedRequest,
    method=st.sampled_from(["GET", "POST", "PUT", "get", "", "X" * 40]),
    path=st.text(st.sampled_from(AWKWARD + "/.ab%2"), max_size=40) | ESCAPED,
    query=st.lists(st.sampled_from(QUERY_PARTS) | WORD | ESCAPED, max_size=8).map("&".join),
    headers=st.lists(st.tuples(key(*HEADERS), header_value), max_size=8),
    body=st.binary(max_size=64),
    body_sha256=st.none() | st.sampled_from(["0" * 64, "x"]),
)


@given(req=requests_)
def test_any_signed_request_parses_or_is_an_sts_error(req: SignedRequest) -> None:
    try:
        parts = parse_signature(req)
        check_scope(parts, service="sts")
        check_time(parts, now=datetime(2024, 1, 1, tzinfo=UTC))
        assert isinstance(canonical_request(req, parts), str)
    except StsError as exc:
        assert 400 <= exc.status < 500 and exc.code


@given(path=st.text(max_size=60))
def test_any_path_has_a_canonical_form(path: str) -> None:
    assert isinstance(canonical_uri(path), str)




# ---------------------------------------------------------------- credentials

RING = Keyring(Key("FUZZ", bytes(range(32)), datetime(2023, 12, 1, tzinfo=UTC)))
CLAIMS = SessionClaims(account="111122223333", role_arn="arn:aws:iam::111122223333:role/R",
                       role_id="AROAEXAMPLEROLEID0001", session_name="bob",
                       issued_at=int(WHEN.timestamp()) - 60,
                       expires_at=int(WHEN.timestamp()) + 3600)
CREDS = mint(RING, CLAIMS)


@given(token=st.one_of(
    st.text(max_size=200),
    st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
    st.integers(0, len(CREDS.session_token) - 1).flatmap(
        lambda i: st.text(min_size=1, max_size=2).map(
            lambda s: CREDS.session_token[:i] + s + CREDS.session_token[i + 1:]))),
    access_key=st.sampled_from([CREDS.access_key_id, "ASIAAAAAAAAAAAAAAAAA", "AKIA", ""]))
def test_tampered_session_tokens_are_refused_as_aws_would(token: str, access_key: str) -> None:
    req = botocore_signed(access_key or "ASIA", CREDS.secret_access_key, token, when=WHEN)
    try:
        caller = authenticate(req, RING, service="sts", now=WHEN)
    except StsError as exc:
        assert exc.status == 403 or exc.status == 400
        return
    # Only the genuine token opens (a token change that decodes to the same bytes aside).
    assert caller.claims == CLAIMS and caller.access_key_id == CREDS.access_key_id
