"""Responses on the wire: botocore's own parser reads every body we render."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser
from hypothesis import given
from hypothesis import strategies as st

from gateway.sts import errors
from gateway.sts.credentials import Credentials
from gateway.sts.protocol import (
    NAMESPACE,
    AssumedRoleUser,
    AssumeRoleResult,
    AssumeRoleWithSAMLResult,
    AssumeRoleWithWebIdentityResult,
    DecodeAuthorizationMessageResult,
    GetAccessKeyInfoResult,
    GetCallerIdentityResult,
    HttpResponse,
    StsResult,
    decode_form,
    merge_params,
    new_request_id,
    render_error,
    render_result,
    wants_json,
)

MODEL = botocore.session.get_session().get_service_model("sts")
EXPIRES = datetime(2024, 1, 1, 13, 0, tzinfo=UTC)
CREDS = Credentials("ASIAKEYAABCDEFGHIJKL", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKE",
                    "AQAB-_token", EXPIRES)
USER = AssumedRoleUser("arn:aws:sts::123456789012:assumed-role/Dev/alice",
                       "AROAABCDEFGHIJKLMNOPQ:alice")
REQUEST_ID = "c6104cbe-af31-11e0-8154-cbc7ccf896c7"


def parse(response: HttpResponse, operation: str) -> dict[str, Any]:
    parsed: dict[str, Any] = create_parser("query").parse(
        {"body": response.body, "headers": dict(response.headers),
         "status_code": response.status},
        MODEL.operation_model(operation).output_shape,
    )
    return parsed


CREDENTIALS_OUT = {
    "AccessKeyId": CREDS.access_key_id,
    "SecretAccessKey": CREDS.secret_access_key,
    "SessionToken": CREDS.session_token,
}
USER_OUT = {"Arn": USER.arn, "AssumedRoleId": USER.assumed_role_id}

CASES: list[tuple[StsResult, dict[str, Any]]] = [
    (
        AssumeRoleResult(CREDS, USER, packed_policy_size=6, source_identity="alice"),
        {"AssumedRoleUser": USER_OUT, "PackedPolicySize": 6, "SourceIdentity": "alice"},
    ),
    (
        AssumeRoleWithSAMLResult(
            CREDS, USER, subject="SamlExample", subject_type="transient",
            issuer="https://integ.example.com/idp/shibboleth",
            audience="https://signin.aws.amazon.com/saml",
            name_qualifier="SbdGOnUkh1i4+EXAMPLExL/jEvs=", packed_policy_size=8,
        ),
        {"AssumedRoleUser": USER_OUT, "Subject": "SamlExample", "SubjectType": "transient",
         "Issuer": "https://integ.example.com/idp/shibboleth",
         "Audience": "https://signin.aws.amazon.com/saml",
         "NameQualifier": "SbdGOnUkh1i4+EXAMPLExL/jEvs=", "PackedPolicySize": 8},
    ),
    (
        AssumeRoleWithWebIdentityResult(
            CREDS, subject_from_web_identity_token="amzn1.account.AF6RHO7KZU5XRVQJGXK6HEXAMPLE",
            assumed_role_user=USER, provider="www.amazon.com",
            audience="client.5498841531868486423.1548@apps.example.com", source_identity="x1",
        ),
        {"SubjectFromWebIdentityToken": "amzn1.account.AF6RHO7KZU5XRVQJGXK6HEXAMPLE",
         "AssumedRoleUser": USER_OUT, "Provider": "www.amazon.com",
         "Audience": "client.5498841531868486423.1548@apps.example.com",
         "SourceIdentity": "x1"},
    ),
    (
        GetCallerIdentityResult(user_id=USER.assumed_role_id, account="123456789012",
                                arn=USER.arn),
        {"UserId": USER.assumed_role_id, "Account": "123456789012", "Arn": USER.arn},
    ),
    (GetAccessKeyInfoResult(account="123456789012"), {"Account": "123456789012"}),
    (
        DecodeAuthorizationMessageResult('{"allowed":false,"explicitDeny":false}'),
        {"DecodedMessage": '{"allowed":false,"explicitDeny":false}'},
    ),
]
IDS = [type(result).__name__ for result, _ in CASES]


@pytest.mark.parametrize(("result", "expected"), CASES, ids=IDS)
def test_botocore_parses_every_result(result: StsResult, expected: dict[str, Any]) -> None:
    response = render_result(result, request_id=REQUEST_ID)
    assert response.status == 200
    assert response.content_type == "text/xml"
    assert ("x-amzn-RequestId", REQUEST_ID) in response.headers
    parsed = parse(response, result.ACTION)
    metadata = parsed.pop("ResponseMetadata")
    assert metadata["RequestId"] == REQUEST_ID
    credentials = parsed.pop("Credentials", None)
    if credentials is not None:
        assert credentials.pop("Expiration") == EXPIRES
        assert credentials == CREDENTIALS_OUT
    assert parsed == expected


@pytest.mark.parametrize(("result", "expected"), CASES, ids=IDS)
def test_xml_is_compact_and_namespaced(result: StsResult, expected: dict[str, Any]) -> None:
    body = render_result(result, request_id=REQUEST_ID).body
    assert b"\n" not in body
    root = ET.fromstring(body)
    assert root.tag == f"{{{NAMESPACE}}}{result.ACTION}Response"
    assert [child.tag.split("}")[1] for child in root] == [
        f"{result.ACTION}Result", "ResponseMetadata"
    ]


def test_absent_optional_members_are_omitted() -> None:
    body = render_result(AssumeRoleResult(CREDS, USER), request_id=REQUEST_ID).body
    assert b"PackedPolicySize" not in body and b"SourceIdentity" not in body
    parsed = parse(render_result(AssumeRoleResult(CREDS, USER), request_id="r"), "AssumeRole")
    assert "PackedPolicySize" not in parsed


@pytest.mark.parametrize(("result", "expected"), CASES, ids=IDS)
def test_json_shape_with_epoch_expiration(result: StsResult, expected: dict[str, Any]) -> None:
    response = render_result(result, request_id=REQUEST_ID, as_json=True)
    assert response.content_type == "application/json"
    doc = json.loads(response.body)
    envelope = doc[f"{result.ACTION}Response"]
    assert envelope["ResponseMetadata"] == {"RequestId": REQUEST_ID}
    body = envelope[f"{result.ACTION}Result"]
    credentials = body.pop("Credentials", None)
    if credentials is not None:
        assert credentials.pop("Expiration") == int(EXPIRES.timestamp())
        assert credentials == CREDENTIALS_OUT
    assert body == expected


def test_get_caller_identity_json_is_what_aws_iam_authenticator_reads() -> None:
    result = GetCallerIdentityResult(user_id="AROAXXX:bob", account="111122223333",
                                     arn="arn:aws:sts::111122223333:assumed-role/R/bob")
    doc = json.loads(render_result(result, request_id="r", as_json=True).body)
    identity = doc["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
    assert identity == {"UserId": "AROAXXX:bob", "Account": "111122223333",
                        "Arn": "arn:aws:sts::111122223333:assumed-role/R/bob"}


# --- errors ---------------------------------------------------------------------------------


ERROR_CASES = [
    (errors.SignatureDoesNotMatch(), 403),
    (errors.IncompleteSignature("Credential must have exactly 5 slash-delimited elements"), 400),
    (errors.InvalidClientTokenId(), 403),
    (errors.ExpiredToken(), 403),
    (errors.MissingAuthenticationToken(), 403),
    (errors.AccessDenied("User: x is not authorized to perform: sts:AssumeRole"), 403),
    (errors.ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration "
                            "set for this role."), 400),
    (errors.InvalidParameterValue("Duplicate tag keys found."), 400),
    (errors.InvalidAction("Could not find operation X for version 2011-06-15"), 400),
    (errors.MissingAction(), 400),
    (errors.MalformedQueryString("bad"), 404),
    (errors.PackedPolicyTooLarge("Packed size of session tags consumes 112% of allotted "
                                 "space."), 400),
    (errors.MalformedPolicyDocument("Syntax errors in policy."), 400),
    (errors.InvalidIdentityToken("Incorrect token audience"), 400),
    (errors.IDPRejectedClaim("rejected"), 403),
    (errors.IDPCommunicationError("unreachable"), 400),
    (errors.ExpiredTokenException("Token expired"), 400),
    (errors.InvalidAuthorizationMessage("bad message"), 400),
    (errors.RegionDisabled("STS is not activated in this region"), 403),
    (errors.Throttling(), 400),
    (errors.InternalFailure(), 500),
    (errors.ServiceUnavailable(), 503),
    (errors.session_credentials_not_allowed("GetSessionToken"), 403),
]


@pytest.mark.parametrize(("error", "status"), ERROR_CASES, ids=[e.code for e, _ in ERROR_CASES])
def test_errors_parse_to_their_code(error: errors.StsError, status: int) -> None:
    response = render_error(error, request_id=REQUEST_ID)
    assert response.status == status
    parsed = parse(response, "AssumeRole")
    assert parsed["Error"]["Code"] == error.code
    assert parsed["Error"]["Message"] == error.message
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID
    kind = ET.fromstring(response.body).find(f"{{{NAMESPACE}}}Error/{{{NAMESPACE}}}Type")
    assert kind is not None and kind.text == ("Sender" if status < 500 else "Receiver")


def test_get_session_token_with_session_credentials_message() -> None:
    error = errors.session_credentials_not_allowed("GetFederationToken")
    assert (error.code, error.message) == (
        "AccessDenied", "Cannot call GetFederationToken with session credentials"
    )


def test_error_json_envelope() -> None:
    response = render_error(errors.Throttling(), request_id="r-1", as_json=True)
    assert json.loads(response.body) == {
        "Error": {"Code": "Throttling", "Message": "Rate exceeded", "Type": "Sender"},
        "RequestId": "r-1",
    }
    assert response.status == 400


@given(st.text())
def test_any_text_in_a_message_stays_well_formed_xml(text: str) -> None:
    message = f"1 validation error detected: Value '{text}' at 'policy' failed"
    response = render_error(errors.ValidationError(message), request_id="r")
    parsed = parse(response, "AssumeRole")
    assert parsed["Error"]["Code"] == "ValidationError"
    json.loads(render_error(errors.ValidationError(message), request_id="r", as_json=True).body)


def test_markup_in_values_is_escaped() -> None:
    evil = '</Arn><Account>999999999999</Account><Arn>'
    response = render_result(
        GetCallerIdentityResult(user_id=evil, account="123456789012", arn=evil),
        request_id="r",
    )
    parsed = parse(response, "GetCallerIdentity")
    assert parsed["Account"] == "123456789012"
    assert parsed["Arn"] == evil


def test_control_characters_are_replaced_not_emitted() -> None:
    response = render_error(errors.AccessDenied("bad\x00\x1bvalue"), request_id="r")
    assert b"\x00" not in response.body and b"\x1b" not in response.body
    assert parse(response, "AssumeRole")["Error"]["Message"] == "bad\ufffd\ufffdvalue"


# --- request side ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("text/xml", False),
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("text/xml, application/json;q=0.5", False),
        ("text/xml;q=0.1, application/json", True),
        ("application/json;q=0", False),
    ],
)
def test_content_negotiation(accept: str | None, expected: bool) -> None:
    assert wants_json(accept) is expected


def test_decode_form_reads_plus_and_percent_escapes() -> None:
    assert decode_form(b"Action=AssumeRole&RoleSessionName=a+b%2Bc&Tags=") == [
        ("Action", "AssumeRole"), ("RoleSessionName", "a b+c"), ("Tags", "")
    ]


def test_decode_form_refuses_invalid_utf8() -> None:
    with pytest.raises(errors.MalformedQueryString) as err:
        decode_form(b"Policy=%FF")
    assert err.value.status == 404
    with pytest.raises(errors.MalformedQueryString):
        decode_form(b"Policy=\xff")


def test_decode_form_caps_the_number_of_parameters() -> None:
    with pytest.raises(errors.MalformedQueryString):
        decode_form("&".join(f"p{i}=1" for i in range(2000)))


def test_parameters_merge_from_query_and_body_but_never_twice() -> None:
    merged = merge_params([("Action", "GetCallerIdentity")], [("Version", "2011-06-15")])
    assert merged == {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    with pytest.raises(errors.MalformedQueryString, match="RoleArn"):
        merge_params([("RoleArn", "a")], [("RoleArn", "b")])


def test_request_ids_are_unique_uuids() -> None:
    first, second = new_request_id(), new_request_id()
    assert first != second and len(first) == 36
