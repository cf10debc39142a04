"""Query parameters: what botocore sends parses; what AWS refuses is refused with its words."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.serialize import create_serializer
from botocore.utils import percent_encode_sequence
from hypothesis import given
from hypothesis import strategies as st

from gateway.sts.errors import (
    InvalidAction,
    InvalidParameterValue,
    MissingAction,
    StsError,
    ValidationError,
)
from gateway.sts.params import (
    AssumeRoleRequest,
    AssumeRoleWithSAMLRequest,
    AssumeRoleWithWebIdentityRequest,
    DecodeAuthorizationMessageRequest,
    GetAccessKeyInfoRequest,
    GetCallerIdentityRequest,
    GetFederationTokenRequest,
    GetSessionTokenRequest,
    ProvidedContext,
    chain_session_tags,
    parse_request,
    resolve_duration,
)
from gateway.sts.protocol import decode_form, merge_params

MODEL = botocore.session.get_session().get_service_model("sts")
SERIALIZER = create_serializer("query", include_validation=True)
ROLE = "arn:aws:iam::123456789012:role/Developer"
NAME_PATTERN = r"[\w+=,.@-]*"
TAG_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+"


def from_botocore(operation: str, **kwargs: Any) -> dict[str, str]:
    """The parameters boto3 would put on the wire, read back the way the endpoint will."""
    request = SERIALIZER.serialize_to_request(kwargs, MODEL.operation_model(operation))
    return merge_params(decode_form(percent_encode_sequence(request["body"])))


def assume_role(**extra: str) -> dict[str, str]:
    params = {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": ROLE,
              "RoleSessionName": "alice"}
    params.update(extra)
    return params


def message_of(params: dict[str, str]) -> str:
    with pytest.raises(ValidationError) as err:
        parse_request(params)
    assert err.value.code == "ValidationError"
    assert err.value.status == 400
    return err.value.message


# --- what botocore sends ------------------------------------------------------------------


def test_assume_role_with_every_parameter_from_botocore() -> None:
    params = from_botocore(
        "AssumeRole",
        RoleArn=ROLE,
        RoleSessionName="alice@example.com",
        PolicyArns=[{"arn": "arn:aws:iam::123456789012:policy/ReadOnly"}],
        Policy='{"Version":"2012-10-17","Statement":[]}',
        DurationSeconds=7200,
        Tags=[{"Key": "Team", "Value": "Blue"}, {"Key": "Cost Center", "Value": "42"}],
        TransitiveTagKeys=["Team"],
        ExternalId="ext-id:123",
        SerialNumber="arn:aws:iam::123456789012:mfa/alice",
        TokenCode="123456",
        SourceIdentity="alice",
        ProvidedContexts=[{"ProviderArn": "arn:aws:iam::aws:contextProvider/IdentityCenter",
                           "ContextAssertion": "assertion"}],
    )
    assert parse_request(params) == AssumeRoleRequest(
        role_arn=ROLE,
        role_session_name="alice@example.com",
        policy_arns=("arn:aws:iam::123456789012:policy/ReadOnly",),
        policy='{"Version":"2012-10-17","Statement":[]}',
        duration_seconds=7200,
        tags=(("Team", "Blue"), ("Cost Center", "42")),
        transitive_tag_keys=("Team",),
        external_id="ext-id:123",
        serial_number="arn:aws:iam::123456789012:mfa/alice",
        token_code="123456",
        source_identity="alice",
        provided_contexts=(ProvidedContext("arn:aws:iam::aws:contextProvider/IdentityCenter",
                                           "assertion"),),
    )


def test_empty_tag_list_marker_from_botocore() -> None:
    params = from_botocore("AssumeRole", RoleArn=ROLE, RoleSessionName="s1", Tags=[])
    assert params["Tags"] == ""
    request = parse_request(params)
    assert isinstance(request, AssumeRoleRequest) and request.tags == ()


def test_saml_and_web_identity_from_botocore() -> None:
    saml = parse_request(from_botocore(
        "AssumeRoleWithSAML", RoleArn=ROLE,
        PrincipalArn="arn:aws:iam::123456789012:saml-provider/ADFS", SAMLAssertion="PHNhbWw+",
        DurationSeconds=900,
    ))
    assert saml == AssumeRoleWithSAMLRequest(
        ROLE, "arn:aws:iam::123456789012:saml-provider/ADFS", "PHNhbWw+", duration_seconds=900
    )
    web = parse_request(from_botocore(
        "AssumeRoleWithWebIdentity", RoleArn=ROLE, RoleSessionName="app1",
        WebIdentityToken="eyJhbGciOi", ProviderId="www.amazon.com",
    ))
    assert web == AssumeRoleWithWebIdentityRequest(ROLE, "app1", "eyJhbGciOi", "www.amazon.com")


def test_the_other_actions_from_botocore() -> None:
    assert parse_request(from_botocore("GetCallerIdentity")) == GetCallerIdentityRequest()
    assert parse_request(
        from_botocore("GetAccessKeyInfo", AccessKeyId="ASIAIOSFODNN7EXAMPLE")
    ) == GetAccessKeyInfoRequest("ASIAIOSFODNN7EXAMPLE")
    assert parse_request(
        from_botocore("DecodeAuthorizationMessage", EncodedMessage="abc")
    ) == DecodeAuthorizationMessageRequest("abc")
    assert parse_request(from_botocore("GetSessionToken", DurationSeconds=129600)) == (
        GetSessionTokenRequest(duration_seconds=129600)
    )
    assert parse_request(
        from_botocore("GetFederationToken", Name="bob", Tags=[{"Key": "k", "Value": ""}])
    ) == GetFederationTokenRequest("bob", tags=(("k", ""),))


def test_presigned_auth_parameters_are_not_unknown_parameters() -> None:
    params = {"Action": "GetCallerIdentity", "Version": "2011-06-15",
              "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Signature": "abc"}
    assert parse_request(params) == GetCallerIdentityRequest()


# --- action and version ---------------------------------------------------------------------


def test_missing_action() -> None:
    with pytest.raises(MissingAction):
        parse_request({"Version": "2011-06-15"})


def test_unknown_action() -> None:
    with pytest.raises(InvalidAction) as err:
        parse_request({"Action": "AssumeRoot", "Version": "2011-06-15"})
    assert err.value.message == "Could not find operation AssumeRoot for version 2011-06-15"
    assert err.value.status == 400


def test_wrong_or_missing_version() -> None:
    with pytest.raises(InvalidAction) as wrong:
        parse_request({"Action": "GetCallerIdentity", "Version": "2011-06-14"})
    assert wrong.value.message.endswith("for version 2011-06-14")
    with pytest.raises(InvalidAction) as missing:
        parse_request({"Action": "GetCallerIdentity"})
    assert missing.value.message.endswith("for version NO_VERSION_SPECIFIED")


# --- AWS's validation messages --------------------------------------------------------------


def test_session_name_pattern_message() -> None:
    assert message_of(assume_role(RoleSessionName="bedrock role")) == (
        "1 validation error detected: Value 'bedrock role' at 'roleSessionName' failed to "
        f"satisfy constraint: Member must satisfy regular expression pattern: {NAME_PATTERN}"
    )


def test_session_name_length_message() -> None:
    name = "a" * 65
    assert message_of(assume_role(RoleSessionName=name)) == (
        f"1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy "
        "constraint: Member must have length less than or equal to 64"
    )


def test_two_failures_on_one_member_are_both_reported() -> None:
    name = "a b" * 30
    assert message_of(assume_role(RoleSessionName=name)) == (
        f"2 validation errors detected: Value '{name}' at 'roleSessionName' failed to satisfy "
        f"constraint: Member must satisfy regular expression pattern: {NAME_PATTERN}; "
        f"Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must have "
        "length less than or equal to 64"
    )


def test_missing_required_members() -> None:
    assert message_of({"Action": "AssumeRole", "Version": "2011-06-15"}) == (
        "2 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: "
        "Member must not be null; Value null at 'roleSessionName' failed to satisfy "
        "constraint: Member must not be null"
    )


@pytest.mark.parametrize(
    ("value", "constraint"),
    [
        ("899", "Member must have value greater than or equal to 900"),
        ("43201", "Member must have value less than or equal to 43200"),
        ("abc", "Member must be a number"),
        ("1e4", "Member must be a number"),
    ],
)
def test_duration_seconds_bounds(value: str, constraint: str) -> None:
    assert message_of(assume_role(DurationSeconds=value)) == (
        f"1 validation error detected: Value '{value}' at 'durationSeconds' failed to satisfy "
        f"constraint: {constraint}"
    )


def test_session_token_duration_goes_to_36_hours() -> None:
    ok = parse_request({"Action": "GetSessionToken", "Version": "2011-06-15",
                        "DurationSeconds": "129600"})
    assert isinstance(ok, GetSessionTokenRequest) and ok.duration_seconds == 129600
    assert "less than or equal to 129600" in message_of(
        {"Action": "GetFederationToken", "Version": "2011-06-15", "Name": "bob",
         "DurationSeconds": "129601"}
    )


def test_session_policy_limit_is_2048_characters() -> None:
    policy = " " * 2049
    message = message_of(assume_role(Policy=policy))
    assert message.endswith("Member must have length less than or equal to 2048")
    assert "at 'policy'" in message
    parse_request(assume_role(Policy=" " * 2048))


def test_session_policy_characters() -> None:
    assert "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-" \
           "\\u00FF]+" in message_of(assume_role(Policy="{\x01}"))


@pytest.mark.parametrize(
    ("member", "value", "path", "constraint"),
    [
        ("ExternalId", "a b", "externalId", r"pattern: [\w+=,.@:\/-]*"),
        ("ExternalId", "a", "externalId", "length greater than or equal to 2"),
        ("ExternalId", "a" * 1225, "externalId", "length less than or equal to 1224"),
        ("TokenCode", "12345a", "tokenCode", r"pattern: [\d]*"),
        ("TokenCode", "12345", "tokenCode", "length greater than or equal to 6"),
        ("SerialNumber", "short", "serialNumber", "length greater than or equal to 9"),
        ("SourceIdentity", "aws:admin", "sourceIdentity", f"pattern: {NAME_PATTERN}"),
        ("SourceIdentity", "a" * 65, "sourceIdentity", "length less than or equal to 64"),
        ("RoleArn", "arn:aws:iam::1:role", "roleArn", "length greater than or equal to 20"),
    ],
)
def test_member_constraints(member: str, value: str, path: str, constraint: str) -> None:
    message = message_of(assume_role(**{member: value}))
    assert message.startswith(f"1 validation error detected: Value '{value}' at '{path}' ")
    assert message.endswith(constraint)


def test_malformed_role_arn_is_invalid() -> None:
    with pytest.raises(ValidationError) as err:
        parse_request(assume_role(RoleArn="arn:a:::something/test-role"))
    assert err.value.message == "arn:a:::something/test-role is invalid"


def test_tag_constraints_are_reported_by_list_path() -> None:
    message = message_of(assume_role(**{
        "Tags.member.1.Key": "ok", "Tags.member.1.Value": "v",
        "Tags.member.2.Key": "bad#key", "Tags.member.2.Value": "v" * 257,
        "Tags.member.3.Key": "nothing",
    }))
    assert message == (
        "3 validation errors detected: "
        f"Value 'bad#key' at 'tags.2.member.key' failed to satisfy constraint: Member must "
        f"satisfy regular expression pattern: {TAG_PATTERN}; "
        f"Value '{'v' * 257}' at 'tags.2.member.value' failed to satisfy constraint: Member "
        "must have length less than or equal to 256; "
        "Value null at 'tags.3.member.value' failed to satisfy constraint: Member must not "
        "be null"
    )


def test_unicode_letters_and_spaces_are_valid_in_tags() -> None:
    request = parse_request(assume_role(**{"Tags.member.1.Key": "Équipe Nord",
                                            "Tags.member.1.Value": "ünïcode 42"}))
    assert isinstance(request, AssumeRoleRequest)
    assert request.tags == (("Équipe Nord", "ünïcode 42"),)


def test_list_limits() -> None:
    tags = {f"Tags.member.{i}.{f}": f"k{i}" for i in range(1, 52) for f in ("Key", "Value")}
    assert message_of(assume_role(**tags)) == (
        "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member "
        "must have length less than or equal to 50"
    )
    arns = {f"PolicyArns.member.{i}.arn": f"arn:aws:iam::123456789012:policy/p{i}"
            for i in range(1, 12)}
    assert "at 'policyArns' failed to satisfy constraint: Member must have length less than " \
           "or equal to 10" in message_of(assume_role(**arns))


def test_many_errors_at_once() -> None:
    message = message_of(assume_role(RoleSessionName="x", DurationSeconds="1",
                                     ExternalId="!", TokenCode="abc"))
    # roleSessionName: length; durationSeconds: minimum; externalId and tokenCode: both.
    assert message.startswith("6 validation errors detected: ")
    assert message.count("; ") == 5


def test_sensitive_values_are_not_echoed() -> None:
    message = message_of({"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
                          "RoleArn": ROLE, "RoleSessionName": "app", "WebIdentityToken": "ey"})
    assert message == (
        "1 validation error detected: Value at 'webIdentityToken' failed to satisfy "
        "constraint: Member must have length greater than or equal to 4"
    )
    message = message_of({"Action": "AssumeRoleWithSAML", "Version": "2011-06-15",
                          "RoleArn": ROLE, "PrincipalArn": ROLE, "SAMLAssertion": "x" * 100001})
    assert "x" * 10 not in message and "at 'sAMLAssertion'" in message


def test_other_actions_validate_their_members() -> None:
    assert "at 'accessKeyId'" in message_of(
        {"Action": "GetAccessKeyInfo", "Version": "2011-06-15", "AccessKeyId": "short"})
    assert "at 'encodedMessage'" in message_of(
        {"Action": "DecodeAuthorizationMessage", "Version": "2011-06-15"})
    assert "at 'name' failed to satisfy constraint: Member must have length less than or " \
           "equal to 32" in message_of(
        {"Action": "GetFederationToken", "Version": "2011-06-15", "Name": "n" * 33})


# --- tags and malformed lists -----------------------------------------------------------------


def test_duplicate_tag_keys_differing_in_case() -> None:
    with pytest.raises(InvalidParameterValue) as err:
        parse_request(assume_role(**{"Tags.member.1.Key": "Team", "Tags.member.1.Value": "a",
                                     "Tags.member.2.Key": "team", "Tags.member.2.Value": "b"}))
    assert err.value.message == (
        "Duplicate tag keys found. Please note that Tag keys are case insensitive."
    )


def test_transitive_key_must_be_a_requested_tag() -> None:
    with pytest.raises(InvalidParameterValue) as err:
        parse_request(assume_role(**{"Tags.member.1.Key": "Team", "Tags.member.1.Value": "a",
                                     "TransitiveTagKeys.member.1": "Project"}))
    assert err.value.message == (
        "The specified transitive tag key must be included in the requested tags."
    )
    ok = parse_request(assume_role(**{"Tags.member.1.Key": "Team", "Tags.member.1.Value": "a",
                                      "TransitiveTagKeys.member.1": "team"}))
    assert isinstance(ok, AssumeRoleRequest) and ok.transitive_tag_keys == ("team",)


@pytest.mark.parametrize(
    "name",
    ["Tags.member.0.Key", "Tags.member.01.Key", "Tags.member.x.Key", "Tags.member.1.key",
     "PolicyArns.member.1.Arn", "TransitiveTagKeys.member.1.Key"],
)
def test_malformed_list_members_are_refused_not_dropped(name: str) -> None:
    # Silently dropping e.g. a policy ARN would hand the session more than it asked for.
    with pytest.raises(InvalidParameterValue, match="Invalid list member parameter"):
        parse_request(assume_role(**{name: "Team"}))


def test_list_parameter_with_a_value_is_refused() -> None:
    with pytest.raises(InvalidParameterValue):
        parse_request(assume_role(Tags="Team=Blue"))


def test_unknown_parameters_are_refused() -> None:
    with pytest.raises(InvalidParameterValue) as err:
        parse_request(assume_role(policy='{"Statement":[]}'))
    assert err.value.message == "Unknown parameter for operation AssumeRole: policy"


@given(st.dictionaries(
    st.sampled_from(["Action", "Version", "RoleArn", "RoleSessionName", "DurationSeconds",
                     "Tags.member.1.Key", "Tags.member.1.Value", "Tags.member.2.Key",
                     "PolicyArns.member.1.arn", "TransitiveTagKeys.member.1", "Policy",
                     "Tags", "SAMLAssertion", "PrincipalArn", "Name", "AccessKeyId"]),
    st.one_of(st.text(max_size=30), st.sampled_from(["AssumeRole", "2011-06-15",
                                                      "AssumeRoleWithSAML", ROLE])),
))
def test_any_parameters_give_a_request_or_an_sts_error(params: dict[str, str]) -> None:
    try:
        parse_request(params)
    except StsError as error:
        assert error.status == 400


# --- durations and chained tags -----------------------------------------------------------------


def test_duration_defaults_to_an_hour() -> None:
    assert resolve_duration(None, max_session_duration=43200) == 3600
    assert resolve_duration(900, max_session_duration=3600) == 900
    assert resolve_duration(43200, max_session_duration=43200) == 43200


def test_duration_above_the_role_maximum_fails_not_clamps() -> None:
    with pytest.raises(ValidationError) as err:
        resolve_duration(7200, max_session_duration=3600)
    assert err.value.message == (
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    )


def test_role_chaining_is_capped_at_one_hour() -> None:
    assert resolve_duration(3600, max_session_duration=43200, role_chaining=True) == 3600
    with pytest.raises(ValidationError) as err:
        resolve_duration(3601, max_session_duration=43200, role_chaining=True)
    assert err.value.message == (
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
        "role chaining."
    )


def test_transitive_tags_carry_over_and_others_do_not() -> None:
    tags, keys = chain_session_tags(
        inherited=(("Project", "apollo"), ("Desk", "3")),
        inherited_transitive=("Project",),
        tags=(("Team", "blue"),),
        transitive=("Team",),
    )
    assert tags == (("Project", "apollo"), ("Team", "blue"))
    assert keys == ("Project", "Team")


def test_inherited_transitive_tag_cannot_be_overridden() -> None:
    with pytest.raises(InvalidParameterValue) as err:
        chain_session_tags((("Project", "apollo"),), ("Project",), (("project", "x"),), ())
    assert "conflicts with a transitive tag key from the calling session" in err.value.message
