"""Validation: every problem reported with its path and a human message, never an exception."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.iam import parse_policy, policy_size, validate_policy, validate_policy_arns
from gateway.iam.document import PolicyKind
from gateway.problems import Invalid, Problem

GOOD_STATEMENT = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
TRUST_STATEMENT = {
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "sts:AssumeRole",
}


def doc(*statements: dict[str, Any], version: Any = "2012-10-17") -> dict[str, Any]:
    return {"Version": version, "Statement": list(statements)}


def with_(**changes: Any) -> dict[str, Any]:
    """GOOD_STATEMENT with elements replaced (None removes one)."""
    out = dict(GOOD_STATEMENT)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def problems(document: Any, kind: PolicyKind = "identity", **kwargs: Any) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in validate_policy(document, kind=kind, **kwargs)]


def assert_problem(found: list[tuple[str, str]], path: str, fragment: str) -> None:
    assert any(p == path and fragment in m for p, m in found), found


# (name, document, kind, expected path, expected message fragment)
CASES: list[tuple[str, Any, PolicyKind, str, str]] = [
    (
        "bad_version",
        doc(GOOD_STATEMENT, version="2012-10-18"),
        "identity",
        "Version",
        'expected "2012-10-17" or "2008-10-17"',
    ),
    ("version_not_string", doc(GOOD_STATEMENT, version=2012), "identity", "Version", "expected"),
    (
        "effect_lowercase",
        doc(with_(Effect="allow")),
        "identity",
        "Statement[0].Effect",
        'expected "Allow" or "Deny" (case-sensitive)',
    ),
    (
        "effect_missing",
        doc(with_(Effect=None)),
        "identity",
        "Statement[0].Effect",
        'required: "Allow" or "Deny"',
    ),
    (
        "effect_wrong_type",
        doc(with_(Effect=["Allow"])),
        "identity",
        "Statement[0].Effect",
        'expected "Allow" or "Deny"',
    ),
    (
        "unknown_operator",
        doc(with_(Condition={"StringLikee": {"aws:username": "a"}})),
        "identity",
        "Statement[0].Condition.StringLikee",
        "unknown operator; did you mean StringLike?",
    ),
    (
        "operator_wrong_case",
        doc(with_(Condition={"stringequals": {"aws:username": "a"}})),
        "identity",
        "Statement[0].Condition.stringequals",
        "did you mean StringEquals?",
    ),
    (
        "set_prefix_typo",
        doc(with_(Condition={"ForAnyValues:StringLike": {"aws:TagKeys": "a"}})),
        "identity",
        "Statement[0].Condition.ForAnyValues:StringLike",
        "did you mean ForAnyValue:StringLike?",
    ),
    (
        "null_if_exists",
        doc(with_(Condition={"NullIfExists": {"aws:username": "true"}})),
        "identity",
        "Statement[0].Condition.NullIfExists",
        "Null cannot be combined with IfExists",
    ),
    (
        "set_null",
        doc(with_(Condition={"ForAllValues:Null": {"aws:TagKeys": "true"}})),
        "identity",
        "Statement[0].Condition.ForAllValues:Null",
        "Null cannot be combined with ForAllValues",
    ),
    (
        "null_bad_value",
        doc(with_(Condition={"Null": {"aws:username": "maybe"}})),
        "identity",
        "Statement[0].Condition.Null.aws:username",
        'Null expects "true" or "false"',
    ),
    (
        "numeric_bad_value",
        doc(with_(Condition={"NumericLessThan": {"s3:max-keys": "ten"}})),
        "identity",
        "Statement[0].Condition.NumericLessThan.s3:max-keys",
        'expected a number, not "ten"',
    ),
    (
        "date_bad_value",
        doc(with_(Condition={"DateLessThan": {"aws:CurrentTime": "yesterday"}})),
        "identity",
        "Statement[0].Condition.DateLessThan.aws:CurrentTime",
        "expected a date",
    ),
    (
        "bool_bad_value",
        doc(with_(Condition={"Bool": {"aws:SecureTransport": "yes"}})),
        "identity",
        "Statement[0].Condition.Bool.aws:SecureTransport",
        'expected "true" or "false"',
    ),
    (
        "ip_bad_value",
        doc(with_(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}})),
        "identity",
        "Statement[0].Condition.IpAddress.aws:SourceIp",
        "expected an IP address or CIDR block",
    ),
    (
        "binary_bad_value",
        doc(with_(Condition={"BinaryEquals": {"x:blob": "***"}})),
        "identity",
        "Statement[0].Condition.BinaryEquals.x:blob",
        "expected base64",
    ),
    (
        "condition_value_object",
        doc(with_(Condition={"StringEquals": {"aws:username": {"a": 1}}})),
        "identity",
        "Statement[0].Condition.StringEquals.aws:username",
        "expected a string, number or boolean",
    ),
    (
        "condition_value_in_list_null",
        doc(with_(Condition={"StringEquals": {"aws:username": ["a", None]}})),
        "identity",
        "Statement[0].Condition.StringEquals.aws:username[1]",
        "expected a string, number or boolean",
    ),
    (
        "condition_value_empty_list",
        doc(with_(Condition={"StringEquals": {"aws:username": []}})),
        "identity",
        "Statement[0].Condition.StringEquals.aws:username",
        "expected at least one value",
    ),
    (
        "condition_key_without_prefix",
        doc(with_(Condition={"StringEquals": {"username": "a"}})),
        "identity",
        "Statement[0].Condition.StringEquals.username",
        'condition key must look like "prefix:name"',
    ),
    (
        "condition_not_object",
        doc(with_(Condition=["StringEquals"])),
        "identity",
        "Statement[0].Condition",
        "expected an object",
    ),
    (
        "operator_block_not_object",
        doc(with_(Condition={"StringEquals": "aws:username"})),
        "identity",
        "Statement[0].Condition.StringEquals",
        "expected an object of condition key",
    ),
    (
        "unknown_top_level_element",
        {"Version": "2012-10-17", "Statment": [GOOD_STATEMENT]},
        "identity",
        "Statment",
        "unknown element; did you mean Statement?",
    ),
    (
        "unknown_statement_element",
        doc(with_(Efect="Allow")),
        "identity",
        "Statement[0].Efect",
        "unknown element; did you mean Effect?",
    ),
    ("statement_missing", {"Version": "2012-10-17"}, "identity", "Statement", "required"),
    (
        "statement_wrong_type",
        {"Version": "2012-10-17", "Statement": "Allow"},
        "identity",
        "Statement",
        "expected a statement object or a list of them",
    ),
    (
        "statement_list_empty",
        {"Version": "2012-10-17", "Statement": []},
        "identity",
        "Statement",
        "expected at least one statement",
    ),
    (
        "statement_item_not_object",
        doc("Allow"),
        "identity",
        "Statement[0]",
        "expected a statement object",
    ),  # type: ignore[arg-type]
    (
        "id_not_string",
        {"Version": "2012-10-17", "Id": 7, "Statement": GOOD_STATEMENT},
        "identity",
        "Id",
        "expected a string",
    ),
    ("sid_not_string", doc(with_(Sid=1)), "identity", "Statement[0].Sid", "expected a string"),
    (
        "duplicate_sid",
        doc(with_(Sid="A"), with_(Sid="A")),
        "identity",
        "Statement[1].Sid",
        'duplicate Sid "A"',
    ),
    (
        "action_missing",
        doc(with_(Action=None)),
        "identity",
        "Statement[0].Action",
        "required: Action or NotAction",
    ),
    (
        "action_wrong_type",
        doc(with_(Action=7)),
        "identity",
        "Statement[0].Action",
        "expected a string or a list of strings",
    ),
    (
        "action_empty_list",
        doc(with_(Action=[])),
        "identity",
        "Statement[0].Action",
        "expected at least one value",
    ),
    (
        "action_empty_string",
        doc(with_(Action="")),
        "identity",
        "Statement[0].Action",
        "must not be empty",
    ),
    (
        "action_item_wrong_type",
        doc(with_(Action=["s3:GetObject", 3])),
        "identity",
        "Statement[0].Action[1]",
        "expected a non-empty string",
    ),
    (
        "action_bad_format",
        doc(with_(Action="s3GetObject")),
        "identity",
        "Statement[0].Action",
        'expected "service:Action"',
    ),
    (
        "action_wildcard_service",
        doc(with_(Action=["s3*:Get"])),
        "identity",
        "Statement[0].Action[0]",
        'expected "service:Action"',
    ),
    (
        "action_and_not_action",
        doc(with_(NotAction="s3:PutObject")),
        "identity",
        "Statement[0]",
        "has both Action and NotAction",
    ),
    (
        "resource_missing",
        doc(with_(Resource=None)),
        "identity",
        "Statement[0].Resource",
        "required: Resource or NotResource",
    ),
    (
        "resource_not_arn",
        doc(with_(Resource="bucket/*")),
        "identity",
        "Statement[0].Resource",
        "expected an ARN",
    ),
    (
        "resource_too_few_segments",
        doc(with_(Resource=["arn:aws:s3:bucket"])),
        "identity",
        "Statement[0].Resource[0]",
        "expected an ARN",
    ),
    (
        "resource_and_not_resource",
        doc(with_(NotResource="*")),
        "identity",
        "Statement[0]",
        "has both Resource and NotResource",
    ),
    (
        "resource_in_trust",
        doc(TRUST_STATEMENT | {"Resource": "*"}),
        "trust",
        "Statement[0].Resource",
        "not allowed in a trust policy",
    ),
    (
        "missing_principal_in_trust",
        doc({"Effect": "Allow", "Action": "sts:AssumeRole"}),
        "trust",
        "Statement[0].Principal",
        "required in a trust policy",
    ),
    (
        "principal_in_identity",
        doc(with_(Principal="*")),
        "identity",
        "Statement[0].Principal",
        "not allowed in identity policies",
    ),
    (
        "principal_in_session",
        doc(with_(Principal="*")),
        "session",
        "Statement[0].Principal",
        "not allowed in session policies",
    ),
    (
        "not_principal_in_trust",
        doc(
            {"Effect": "Deny", "NotPrincipal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole"}
        ),
        "trust",
        "Statement[0].NotPrincipal",
        "only allowed in resource-based policies",
    ),
    (
        "not_principal_in_identity",
        doc(with_(NotPrincipal={"AWS": "123456789012"})),
        "identity",
        "Statement[0].NotPrincipal",
        "only allowed in resource-based policies",
    ),
    (
        "missing_principal_in_resource_policy",
        doc(GOOD_STATEMENT),
        "resource",
        "Statement[0].Principal",
        "required: Principal or NotPrincipal",
    ),
    (
        "principal_plain_string",
        doc(TRUST_STATEMENT | {"Principal": "123456789012"}),
        "trust",
        "Statement[0].Principal",
        'expected "*" or an object',
    ),
    (
        "principal_unknown_type",
        doc(TRUST_STATEMENT | {"Principal": {"Federate": "accounts.google.com"}}),
        "trust",
        "Statement[0].Principal.Federate",
        "did you mean Federated?",
    ),
    (
        "principal_empty_object",
        doc(TRUST_STATEMENT | {"Principal": {}}),
        "trust",
        "Statement[0].Principal",
        "expected at least one of",
    ),
    (
        "principal_wildcard_arn",
        doc(TRUST_STATEMENT | {"Principal": {"AWS": "arn:aws:iam::*:root"}}),
        "trust",
        "Statement[0].Principal.AWS",
        "wildcards are not allowed in a principal",
    ),
    (
        "principal_bad_aws_value",
        doc(TRUST_STATEMENT | {"Principal": {"AWS": ["123456789012", "12345"]}}),
        "trust",
        "Statement[0].Principal.AWS[1]",
        "12-digit account id",
    ),
    (
        "principal_bad_federated",
        doc(TRUST_STATEMENT | {"Principal": {"Federated": "arn:aws:iam::123456789012:role/x"}}),
        "trust",
        "Statement[0].Principal.Federated",
        "SAML or OIDC provider ARN",
    ),
    (
        "variables_need_2012_version",
        doc(with_(Resource="arn:aws:s3:::b/${aws:username}/*"), version="2008-10-17"),
        "identity",
        "Statement[0].Resource",
        'policy variables need "Version": "2012-10-17"',
    ),
    (
        "variables_in_condition_need_2012_version",
        {"Statement": with_(Condition={"StringLike": {"s3:prefix": "${aws:username}/*"}})},
        "identity",
        "Statement.Condition.StringLike.s3:prefix",
        'policy variables need "Version": "2012-10-17"',
    ),
    (
        "unterminated_variable",
        doc(with_(Resource="arn:aws:s3:::b/${aws:username")),
        "identity",
        "Statement[0].Resource",
        "unterminated policy variable",
    ),
    (
        "invalid_variable",
        doc(with_(Resource="arn:aws:s3:::b/${user name}")),
        "identity",
        "Statement[0].Resource",
        "invalid policy variable",
    ),
    (
        "duplicate_json_key",
        '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*"}}',
        "identity",
        "Statement.Effect",
        "duplicate key",
    ),
    ("invalid_json", '{"Version": "2012-10-17", "Statement": [}', "identity", "", "not valid JSON"),
    ("json_nan", '{"Version": "2012-10-17", "Statement": NaN}', "identity", "", "not valid JSON"),
    ("not_an_object", "[1, 2]", "identity", "", "expected a JSON object"),
    ("deeply_nested_json", "[" * 100_000 + "]" * 100_000, "identity", "", "nested too deeply"),
    (
        "deeply_nested_in_statement",
        '{"Statement":' + "[" * 50_000 + "]" * 50_000 + "}",
        "identity",
        "",
        "nested too deeply",
    ),
]


@pytest.mark.parametrize(
    ("document", "kind", "path", "fragment"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_validation_error_is_reported_at_its_path(
    document: Any, kind: PolicyKind, path: str, fragment: str
) -> None:
    assert_problem(problems(document, kind, max_chars=10**9), path, fragment)


def test_problem_paths_are_prefixed_with_the_callers_path() -> None:
    document = doc(TRUST_STATEMENT | {"Effect": "Maybe"})
    found = validate_policy(document, kind="trust", path="accounts[0].roles[2].trust_policy")
    assert found == [
        Problem(
            "accounts[0].roles[2].trust_policy.Statement[0].Effect", 'expected "Allow" or "Deny"'
        )
    ]
    assert str(found[0]) == (
        'accounts[0].roles[2].trust_policy.Statement[0].Effect: expected "Allow" or "Deny"'
    )


def test_every_problem_is_reported_not_only_the_first() -> None:
    document = doc(
        with_(Effect="allow", Action=7, Condition={"StringLikee": {"a:b": "c"}}),
        with_(Resource="nope"),
        version="1",
    )
    paths = {path for path, _ in problems(document)}
    assert paths == {
        "Version",
        "Statement[0].Effect",
        "Statement[0].Action",
        "Statement[0].Condition.StringLikee",
        "Statement[1].Resource",
    }


def test_parse_policy_raises_invalid_with_every_problem() -> None:
    with pytest.raises(Invalid) as raised:
        parse_policy(doc(with_(Effect="x"), with_(Action=None)), kind="identity", path="p")
    assert [p.path for p in raised.value.problems] == [
        "p.Statement[0].Effect",
        "p.Statement[1].Action",
    ]


@pytest.mark.parametrize(
    ("kind", "limit"),
    [("trust", 2048), ("session", 2048), ("identity", 10240), ("resource", 20480)],
)
def test_size_limit_per_kind_counts_characters_without_whitespace(
    kind: PolicyKind, limit: int
) -> None:
    statement = TRUST_STATEMENT if kind in ("trust", "resource") else GOOD_STATEMENT
    if kind == "resource":
        statement = GOOD_STATEMENT | {"Principal": "*"}
    base = json.dumps(
        {"Version": "2012-10-17", "Id": "", "Statement": statement}, separators=(",", ":")
    )
    pad = limit - policy_size(base)
    exact = base.replace('"Id":""', '"Id":"' + "x" * pad + '"')
    assert policy_size(exact) == limit
    assert validate_policy(exact, kind=kind) == []
    # Whitespace is free: indenting the same document changes nothing.
    spaced = json.dumps(json.loads(exact), indent=8)
    assert len(spaced) > limit and validate_policy(spaced, kind=kind) == []
    over = exact.replace('"Id":"', '"Id":"y')
    assert problems(over, kind) == [
        ("", f"policy is {limit + 1} characters without whitespace; the limit is {limit}")
    ]
    assert validate_policy(json.loads(over), kind=kind) == validate_policy(over, kind=kind)


def test_max_chars_overrides_the_trust_policy_default() -> None:
    document = doc(TRUST_STATEMENT)
    assert validate_policy(document, kind="trust", max_chars=4096) == []
    assert_problem(problems(document, "trust", max_chars=50), "", "the limit is 50")


def test_huge_text_is_rejected_by_size_without_parsing() -> None:
    text = '{"Statement": "' + "x" * 5_000_000 + '"}'
    found = problems(text, "identity")
    assert len(found) == 1 and "the limit is 10240" in found[0][1]


def test_deeply_nested_mapping_input_is_a_problem_not_a_crash() -> None:
    nested: dict[str, Any] = {}
    cursor = nested
    for _ in range(20_000):
        cursor["x"] = {}
        cursor = cursor["x"]
    document = {"Version": "2012-10-17", "Statement": GOOD_STATEMENT | {"Condition": nested}}
    assert_problem(problems(document), "", "nested too deeply")


def test_mapping_input_with_non_json_values_reports_types() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [GOOD_STATEMENT | {"Action": {"s3:GetObject"}}],
    }
    assert_problem(
        problems(document), "Statement[0].Action", "expected a string or a list of strings"
    )
    odd_key = {"Version": "2012-10-17", "Statement": GOOD_STATEMENT, 3: "x"}
    assert_problem(problems(odd_key), "3", "keys must be strings")


@pytest.mark.parametrize("value", [None, 42, ["list"], b"bytes"])
def test_non_object_inputs_are_problems(value: Any) -> None:
    assert problems(value) == [("", "expected a JSON object")]


def test_valid_documents_of_each_kind_have_no_problems() -> None:
    assert validate_policy(doc(GOOD_STATEMENT), kind="identity") == []
    assert validate_policy(doc(GOOD_STATEMENT), kind="session") == []
    assert validate_policy(doc(TRUST_STATEMENT), kind="trust") == []
    resource = GOOD_STATEMENT | {"NotPrincipal": {"AWS": "arn:aws:iam::123456789012:user/Bob"}}
    assert validate_policy(doc(resource), kind="resource") == []
    every_principal = TRUST_STATEMENT | {
        "Principal": {
            "AWS": [
                "*",
                "123456789012",
                "arn:aws:iam::123456789012:root",
                "arn:aws:iam::123456789012:role/path/to/R",
                "arn:aws:sts::123456789012:assumed-role/R/s",
                "arn:aws:iam::123456789012:user/u",
                "arn:aws:sts::123456789012:federated-user/f",
            ],
            "Federated": [
                "arn:aws:iam::123456789012:saml-provider/ADFS",
                "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
                "accounts.google.com",
                "cognito-identity.amazonaws.com",
            ],
            "Service": "ec2.amazonaws.com",
        }
    }
    assert validate_policy(doc(every_principal), kind="trust") == []


def test_statement_as_single_object_and_missing_version_are_accepted() -> None:
    compiled = parse_policy({"Statement": GOOD_STATEMENT}, kind="identity")
    assert compiled.version == "2008-10-17"
    assert compiled.statements[0].label == "Statement"


def test_every_operator_form_is_accepted() -> None:
    from gateway.iam.conditions import OPERATOR_NAMES

    values = {
        "String": "a",
        "Numeric": "1",
        "Date": "2020-01-01T00:00:00Z",
        "Bool": "true",
        "Binary": "QUJD",
        "IpAddress": "10.0.0.0/8",
        "NotIpAddress": "10.0.0.0/8",
        "Arn": "arn:aws:iam::*:role/*",
        "Null": "true",
    }
    for name in OPERATOR_NAMES:
        base = name.rpartition(":")[2].removesuffix("IfExists")
        value = next(v for prefix, v in values.items() if base.startswith(prefix))
        document = doc(with_(Condition={name: {"x:key": value}}))
        assert validate_policy(document, kind="identity") == [], name


def test_policy_arns_are_limited_to_ten_managed_policy_arns() -> None:
    good = [f"arn:aws:iam::123456789012:policy/p{i}" for i in range(10)]
    assert validate_policy_arns(good) == []
    assert validate_policy_arns(["arn:aws:iam::aws:policy/ReadOnlyAccess"]) == []
    too_many = validate_policy_arns(
        [*good, "arn:aws:iam::123456789012:policy/p10"], path="PolicyArns"
    )
    assert too_many == [Problem("PolicyArns", "at most 10 policy ARNs are allowed, got 11")]
    bad = validate_policy_arns(["arn:aws:iam::123456789012:role/x"], path="PolicyArns")
    assert bad == [Problem("PolicyArns[0]", 'expected "arn:aws:iam::<account>:policy/<name>"')]


def test_kind_must_be_known() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        validate_policy(doc(GOOD_STATEMENT), kind="role")  # type: ignore[arg-type]
