"""Wildcards, ARNs, policy variables and the request context."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.iam import (
    Principal,
    RequestContext,
    account_root_arn,
    arn_matches,
    is_account_id,
    is_known_key,
    parse_arn,
    parse_role_arn,
    parse_session_arn,
    role_arn,
    saml_keys,
    session_arn,
    session_keys,
    tag_keys,
    web_identity_keys,
)
from gateway.iam.variables import (
    TemplateError,
    Variable,
    Verbatim,
    parse_template,
    resolve,
    resolve_text,
)
from gateway.iam.wildcard import compile_pattern, compile_patterns


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("abc", "abc", True),
        ("abc", "abcd", False),
        ("ab*", "abcd", True),
        ("ab*", "a", False),
        ("*", "", True),
        ("a*c", "ac", True),
        ("a*c", "a/b/c", True),
        ("a?c", "a/c", True),
        ("a?c", "ac", False),
        ("a.c", "abc", False),
        ("a+b", "a+b", True),
        ("*x*y", "1x2x3y", True),
        ("a*", "a\nb", True),
    ],
)
def test_wildcard_pattern(pattern: str, text: str, expected: bool) -> None:
    assert compile_pattern(pattern)(text) is expected


def test_case_insensitive_patterns_lower_both_sides() -> None:
    assert compile_pattern("S3:Get*", ignore_case=True)("s3:getobject")
    assert compile_pattern("s3:get*", ignore_case=True)("S3:GETOBJECT")
    assert not compile_pattern("s3:Get*", ignore_case=True)("s3:put")


def test_pattern_lists_combine_exact_prefix_and_regex() -> None:
    matcher = compile_patterns(["s3:GetObject", "ec2:Describe*", "sqs:*Message?"])
    assert matcher("s3:GetObject")
    assert matcher("ec2:DescribeInstances")
    assert matcher("sqs:SendMessageX")
    assert not matcher("sqs:SendMessage")
    assert not matcher("s3:PutObject")
    assert compile_patterns(["x", "*"])("anything")
    assert not compile_patterns([])("anything")


def test_arn_parsing_and_formatting() -> None:
    arn = parse_arn("arn:aws:s3:::bucket/key:with:colons")
    assert arn is not None
    assert (arn.service, arn.region, arn.account, arn.resource) == (
        "s3",
        "",
        "",
        "bucket/key:with:colons",
    )
    assert str(arn) == "arn:aws:s3:::bucket/key:with:colons"
    assert parse_arn("arn:aws:s3") is None
    assert parse_arn("urn:aws:s3:::b") is None
    assert account_root_arn("123456789012") == "arn:aws:iam::123456789012:root"
    assert is_account_id("123456789012") and not is_account_id("12345678901a")
    # Unicode digits (here fullwidth) are digits to str.isdigit but not to AWS.
    assert not is_account_id("\uff11" * 12)


def test_role_and_session_arns() -> None:
    assert role_arn("123456789012", "R", path="/team/") == "arn:aws:iam::123456789012:role/team/R"
    assert role_arn("123456789012", "R", path="team") == "arn:aws:iam::123456789012:role/team/R"
    ref = parse_role_arn("arn:aws:iam::123456789012:role/team/a/R")
    assert ref is not None and (ref.path, ref.name, ref.arn) == (
        "/team/a/",
        "R",
        "arn:aws:iam::123456789012:role/team/a/R",
    )
    assert parse_role_arn("arn:aws:iam::123456789012:user/R") is None
    assert parse_role_arn("arn:aws:iam::1234:role/R") is None
    assert session_arn("123456789012", "R", "s") == "arn:aws:sts::123456789012:assumed-role/R/s"
    sess = parse_session_arn("arn:aws-cn:sts::123456789012:assumed-role/R/s@x.com")
    assert sess is not None and (sess.partition, sess.role_name, sess.session_name) == (
        "aws-cn",
        "R",
        "s@x.com",
    )
    assert sess.arn == "arn:aws-cn:sts::123456789012:assumed-role/R/s@x.com"
    assert parse_session_arn("arn:aws:sts::123456789012:assumed-role/R") is None


@pytest.mark.parametrize(
    ("pattern", "arn", "expected"),
    [
        ("arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y", True),
        ("arn:aws:iam::*:role/*", "arn:aws:iam::123456789012:role/a/b", True),
        ("arn:aws:iam::*:role/*", "arn:aws:iam::1:2:role/x", False),
        ("arn:aws:*:*:*:*", "arn:aws:s3:::b", True),
        ("arn:aws:s?s:*:*:q", "arn:aws:sqs:us-east-1:1:q", True),
        ("arn:aws:s?s:*:*:q", "arn:aws:s:s:us-east-1:1:q", False),
        ("*", "anything at all", True),
        ("arn:aws:s3:::b", "arn:aws:s3:::B", False),
    ],
)
def test_arn_matching_is_per_segment_and_case_sensitive(
    pattern: str, arn: str, expected: bool
) -> None:
    assert arn_matches(pattern, arn) is expected


def test_template_parsing() -> None:
    assert parse_template("plain*") == ("plain*",)
    assert parse_template("") == ("",)
    assert parse_template("a/${aws:username}/b") == (
        "a/",
        Variable("aws:username", None, "${aws:username}"),
        "/b",
    )
    assert parse_template("${aws:PrincipalTag/team , 'company-wide'}") == (
        Variable(
            "aws:principaltag/team", "company-wide", "${aws:PrincipalTag/team , 'company-wide'}"
        ),
    )
    assert parse_template("${*}${?}${$}") == (Verbatim("*"), Verbatim("?"), Verbatim("$"))
    assert parse_template("cost $5") == ("cost $5",)
    for bad in ("${aws:username", "${}", "${nocolon}", "${a:b, unquoted}"):
        with pytest.raises(TemplateError):
            parse_template(bad)


def test_resolving_templates() -> None:
    template = parse_template("home/${aws:username}/${*}")
    assert resolve(template, {"aws:username": ("a*",)}) == (
        ("home/", True),
        ("a*", False),
        ("/", True),
        ("*", False),
    )
    assert resolve(template, {}) is None
    assert resolve_text(parse_template("${saml:sub, 'nobody'}"), {}) == "nobody"


def test_context_normalizes_keys_and_values() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    context = RequestContext(
        "S3:GetObject",
        "arn:aws:s3:::b/k",
        None,
        {
            "AWS:SecureTransport": True,
            "s3:max-keys": 10,
            "aws:TagKeys": ["a", "b"],
            "aws:TokenIssueTime": datetime(2026, 1, 2, 4, 0, tzinfo=timezone(timedelta(hours=1))),
            "aws:SourceIdentity": None,
        },
        now=now,
    )
    assert context.action_lower == "s3:getobject"
    assert context.get("aws:securetransport") == ("true",)
    assert context.get("S3:MAX-KEYS") == ("10",)
    assert context.get("aws:tagkeys") == ("a", "b")
    assert context.get("aws:tokenissuetime") == ("2026-01-02T03:00:00Z",)
    assert context.get("aws:sourceidentity") is None
    assert context.get("aws:currenttime") == ("2026-01-02T03:04:05Z",)
    assert context.get("aws:epochtime") == (str(int(now.timestamp())),)
    with pytest.raises(AttributeError):
        context.action = "x"  # type: ignore[misc]
    assert context.with_action("sts:TagSession").keys == context.keys


def test_keys_differing_only_in_case_are_one_key_and_the_later_wins() -> None:
    context = RequestContext(
        "a:b",
        "*",
        None,
        {
            "aws:securetransport": "false",
            "aws:SecureTransport": True,
            "aws:SourceIp": "1.2.3.4",
            "AWS:SOURCEIP": None,
        },
    )
    assert context.get("aws:SecureTransport") == ("true",)
    assert context.get("aws:SourceIp") is None


def test_context_rejects_values_it_cannot_represent() -> None:
    with pytest.raises(TypeError):
        RequestContext("a:b", "*", None, {"x:y": object()})
    with pytest.raises(TypeError):
        RequestContext("a:b", "*", None, {"x:y": b"raw"})


def test_principal_constructors() -> None:
    sess = Principal.aws("arn:aws:sts::123456789012:assumed-role/Dev/alice")
    assert (sess.type, sess.account, sess.role) == ("AWS", "123456789012", ("123456789012", "dev"))
    root = Principal.aws("123456789012")
    assert (root.id, root.account) == ("arn:aws:iam::123456789012:root", "123456789012")
    assert Principal.parse("accounts.google.com").type == "Federated"
    assert Principal.parse("arn:aws:iam::123456789012:saml-provider/X").type == "Federated"
    assert Principal.parse("ec2.amazonaws.com").type == "Service"
    assert Principal.parse("*").type == "Anonymous"
    assert Principal.parse("arn:aws:iam::123456789012:user/u").account == "123456789012"


def test_web_identity_keys_follow_the_google_azp_rule() -> None:
    without_azp = web_identity_keys("accounts.google.com", {"aud": "A", "sub": "S"})
    assert without_azp["accounts.google.com:aud"] == ("A",)
    assert without_azp["accounts.google.com:oaud"] == ("A",)
    with_azp = web_identity_keys(
        "https://accounts.google.com", {"aud": "A", "azp": "Z", "sub": "S"}
    )
    assert with_azp["accounts.google.com:aud"] == ("Z",)
    assert with_azp["accounts.google.com:oaud"] == ("A",)
    assert with_azp["accounts.google.com:sub"] == ("S",)
    oidc = web_identity_keys(
        "https://issuer.example.com/realm/",
        {"aud": ["x", "y"], "sub": "u", "amr": ["pwd", "mfa"], "extra": {"nested": 1}},
    )
    assert oidc["issuer.example.com/realm:aud"] == ("x", "y")
    assert oidc["issuer.example.com/realm:amr"] == ("pwd", "mfa")
    assert oidc["aws:federatedprovider"] == ("https://issuer.example.com/realm/",)


def test_session_saml_and_tag_keys() -> None:
    keys = session_keys(
        session_arn="arn:aws:sts::123456789012:assumed-role/Dev/alice",
        role_arn="arn:aws:iam::123456789012:role/team/Dev",
        role_id="AROAEXAMPLEEXAMPLE123",
        token_issue_time=datetime(2026, 1, 1, tzinfo=UTC),
        principal_tags={"Team": "blue"},
        source_identity="alice@example.com",
        mfa_present=True,
    )
    assert keys["aws:principalarn"] == ("arn:aws:iam::123456789012:role/team/Dev",)
    assert keys["aws:userid"] == ("AROAEXAMPLEEXAMPLE123:alice",)
    assert keys["aws:principaltag/team"] == ("blue",)
    assert keys["aws:tokenissuetime"] == ("2026-01-01T00:00:00Z",)
    assert keys["aws:multifactorauthpresent"] == ("true",)
    assert "aws:federatedprovider" not in keys
    with pytest.raises(ValueError):
        session_keys(session_arn="nope", role_arn="x")
    saml = saml_keys(
        aud="https://signin.aws.amazon.com/saml",
        iss="https://idp.example.com",
        sub="alice",
        sub_type="persistent",
        namequalifier="abc=",
        doc="123456789012/ADFS",
        attributes={"edupersonaffiliation[]": ["staff", "member"]},
    )
    assert saml["saml:edupersonaffiliation"] == ("staff", "member")
    assert saml["saml:doc"] == ("123456789012/ADFS",)
    request = tag_keys("RequestTag", {"Project": "Unicorn", "Cost": "1"})
    assert request["aws:requesttag/project"] == ("Unicorn",)
    assert request["aws:tagkeys"] == ("Project", "Cost")


@pytest.mark.parametrize(
    ("key", "known"),
    [
        ("aws:SourceIp", True),
        ("AWS:PrincipalTag/team", True),
        ("saml:aud", True),
        ("sts:ExternalId", True),
        ("accounts.google.com:oaud", True),
        ("oidc.eks.us-east-1.amazonaws.com/id/X:sub", True),
        ("aws:SourceIpp", False),
        ("aws:PrincipalTag", False),
        ("s3:prefix", False),
    ],
)
def test_known_condition_keys(key: str, known: bool) -> None:
    assert is_known_key(key) is known


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("*a*a*a*a*a*a*a*b", "a" * 50_000),
        ("a*?*?*?*?*b", "a" * 50_000),
        ("arn:aws:s3:::*a*a*a*a*a*a*b", "arn:aws:s3:::" + "a" * 50_000),
        ("arn:*a*a*a*a*a*b:s3:::x", "arn:" + "a" * 50_000 + ":s3:::x"),
    ],
)
def test_hostile_values_match_in_linear_time(pattern: str, text: str) -> None:
    # A plain `.*a.*a...` regex takes minutes here; atomic groups keep it to milliseconds.
    matcher = compile_pattern(pattern) if not pattern.startswith("arn:") else None
    started = time.perf_counter()
    result = matcher(text) if matcher else arn_matches(pattern, text)
    assert result is False
    assert time.perf_counter() - started < 0.5
