"""Every condition operator against present, absent and multi-valued keys (aws-sts.md §7.4)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.iam.conditions import (
    Condition,
    compile_conditions,
    parse_date,
    parse_number,
    parse_operator,
)

ABSENT = None


def compile_one(operator: str, values: Any, key: str = "k:key") -> Condition:
    conditions, problems = compile_conditions({operator: {key: values}}, path="C", variables=True)
    assert problems == [], problems
    (condition,) = conditions
    return condition


def holds(operator: str, values: Any, request: Any, extra: dict[str, Any] | None = None) -> bool:
    keys: dict[str, tuple[str, ...]] = {}
    if request is not None:
        keys["k:key"] = tuple(request) if isinstance(request, list) else (request,)
    for name, value in (extra or {}).items():
        keys[name] = (value,)
    return compile_one(operator, values).check(keys)


# (operator, policy values, request value(s) or ABSENT, expected)
OPERATOR_CASES: list[tuple[str, Any, Any, bool]] = [
    ("StringEquals", "abc", "abc", True),
    ("StringEquals", "abc", "ABC", False),
    ("StringEquals", ["x", "abc"], "abc", True),
    ("StringEquals", "abc", ABSENT, False),
    ("StringEquals", "a*", "abc", False),
    ("StringNotEquals", "abc", "abd", True),
    ("StringNotEquals", ["abc", "abd"], "abd", False),
    ("StringNotEquals", "abc", ABSENT, True),
    ("StringEqualsIgnoreCase", "Straße", "STRASSE", True),
    ("StringEqualsIgnoreCase", "abc", "ABD", False),
    ("StringNotEqualsIgnoreCase", "abc", "ABC", False),
    ("StringNotEqualsIgnoreCase", "abc", "xyz", True),
    ("StringLike", "a*c", "abbbc", True),
    ("StringLike", "a?c", "abc", True),
    ("StringLike", "a?c", "abbc", False),
    ("StringLike", "A*", "abc", False),
    ("StringLike", "home/*", "home/a/b\nc", True),
    ("StringNotLike", ["a*", "b*"], "cat", True),
    ("StringNotLike", ["a*", "b*"], "bat", False),
    ("StringNotLike", "a*", ABSENT, True),
    ("StringLikeIfExists", "a*", ABSENT, True),
    ("StringLikeIfExists", "a*", "bc", False),
    ("NumericEquals", "10", "10", True),
    ("NumericEquals", "10", "10.0", True),
    ("NumericEquals", 10, "1e1", True),
    ("NumericNotEquals", "10", "11", True),
    ("NumericNotEquals", "10", "10", False),
    ("NumericLessThan", "10", "9.99", True),
    ("NumericLessThan", "10", "10", False),
    ("NumericLessThanEquals", "10", "10", True),
    ("NumericGreaterThan", "-1", "0", True),
    ("NumericGreaterThanEquals", "0.1", "0.10", True),
    ("NumericLessThan", "10", "ten", False),
    ("NumericLessThan", "10", ABSENT, False),
    ("NumericGreaterThan", "9007199254740993", "9007199254740992", False),
    ("DateEquals", "2020-01-01T00:00:00Z", "2020-01-01T01:00:00+01:00", True),
    ("DateEquals", "2020-01-01T00:00:00Z", "1577836800", True),
    ("DateNotEquals", "2020-01-01", "2020-01-02", True),
    ("DateLessThan", "2020-01-01T00:00:00Z", "2019-12-31T23:59:59.999Z", True),
    ("DateLessThan", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z", False),
    ("DateLessThanEquals", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z", True),
    ("DateGreaterThan", "1577836800", "2020-01-01T00:00:01Z", True),
    ("DateGreaterThanEquals", "2020-01-01", "2019-06-01", False),
    ("DateGreaterThan", "2020-01-01", "not a date", False),
    ("Bool", "true", "true", True),
    ("Bool", "true", "TRUE", True),
    ("Bool", True, "false", False),
    ("Bool", "false", ABSENT, False),
    ("BoolIfExists", "false", ABSENT, True),
    ("Bool", "true", "yes", False),
    ("BinaryEquals", "QmluYXJ5VmFsdWU=", "QmluYXJ5VmFsdWU=", True),
    ("BinaryEquals", "QmluYXJ5VmFsdWU=", "QmluYXJ5VmFsdWU", False),
    ("BinaryEquals", "QmluYXJ5VmFsdWU=", "T3RoZXI=", False),
    ("IpAddress", "203.0.113.0/24", "203.0.113.77", True),
    ("IpAddress", "203.0.113.5", "203.0.113.5", True),
    ("IpAddress", "203.0.113.5", "203.0.113.6", False),
    ("IpAddress", "2001:db8::/32", "2001:db8:ffff::1", True),
    ("IpAddress", "2001:db8::/32", "203.0.113.1", False),
    ("NotIpAddress", "10.0.0.0/8", "192.168.0.1", True),
    ("NotIpAddress", "10.0.0.0/8", "10.9.8.7", False),
    ("NotIpAddress", "10.0.0.0/8", ABSENT, True),
    ("ArnEquals", "arn:aws:iam::123456789012:role/R", "arn:aws:iam::123456789012:role/R", True),
    ("ArnEquals", "arn:aws:iam::*:role/R", "arn:aws:iam::123456789012:role/R", True),
    ("ArnLike", "arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y", True),
    ("ArnLike", "arn:aws:*:us-*:*:*", "arn:aws:sqs:us-east-1:123456789012:q", True),
    ("ArnLike", "arn:aws:*:us-*:*:*", "arn:aws:sqs:eu-west-1:123456789012:q", False),
    ("ArnLike", "arn:aws:iam::*:role/R", "not-an-arn", False),
    ("ArnNotEquals", "arn:aws:iam::*:role/R", "arn:aws:iam::1:role/S", True),
    ("ArnNotLike", "arn:aws:iam::*:role/R*", "arn:aws:iam::1:role/Rx", False),
    ("Null", "true", ABSENT, True),
    ("Null", "true", "x", False),
    ("Null", "false", "x", True),
    ("Null", "false", ABSENT, False),
    ("Null", ["true", "false"], ABSENT, True),
]


@pytest.mark.parametrize(("operator", "values", "request_value", "expected"), OPERATOR_CASES)
def test_operator_semantics(operator: str, values: Any, request_value: Any, expected: bool) -> None:
    assert holds(operator, values, request_value) is expected


# (operator, policy values, request values, expected)
SET_CASES: list[tuple[str, Any, list[str] | None, bool]] = [
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "b"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "c"], False),
    ("ForAllValues:StringEquals", ["a", "b"], None, True),
    ("ForAllValues:StringNotEquals", ["a", "b"], ["c", "d"], True),
    ("ForAllValues:StringNotEquals", ["a", "b"], ["c", "a"], False),
    ("ForAnyValue:StringEquals", ["a", "b"], ["x", "b"], True),
    ("ForAnyValue:StringEquals", ["a", "b"], ["x", "y"], False),
    ("ForAnyValue:StringEquals", ["a", "b"], None, False),
    ("ForAnyValue:StringNotEquals", ["a"], ["a", "b"], True),
    ("ForAnyValue:StringNotEquals", ["a"], ["a", "a"], False),
    ("ForAnyValue:StringLikeIfExists", ["a*"], None, True),
    ("ForAnyValue:NumericGreaterThan", "5", ["1", "9"], True),
    ("ForAllValues:NumericGreaterThan", "5", ["1", "9"], False),
    ("ForAllValues:IpAddress", "10.0.0.0/8", ["10.1.1.1", "10.2.2.2"], True),
    # Without a set operator a multi-valued key passes if any value matches (negated: none).
    ("StringEquals", "b", ["a", "b"], True),
    ("StringNotEquals", "b", ["a", "b"], False),
]


@pytest.mark.parametrize(("operator", "values", "request_values", "expected"), SET_CASES)
def test_set_operator_semantics(
    operator: str, values: Any, request_values: list[str] | None, expected: bool
) -> None:
    assert holds(operator, values, request_values) is expected


def test_empty_request_set_behaves_as_absent() -> None:
    for_all = compile_one("ForAllValues:StringEquals", ["a"])
    for_any = compile_one("ForAnyValue:StringEquals", ["a"])
    assert for_all.check({"k:key": ()}) is True
    assert for_any.check({"k:key": ()}) is False


def test_condition_keys_are_case_insensitive() -> None:
    condition = compile_one("StringEquals", "x", key="AWS:PrincipalTag/Team")
    assert condition.check({"aws:principaltag/team": ("x",)})


@pytest.mark.parametrize(
    ("values", "keys", "expected"),
    [
        ("${aws:username}", {"k:key": ("alice",), "aws:username": ("alice",)}, True),
        ("${aws:username}", {"k:key": ("alice",), "aws:username": ("bob",)}, False),
        # Null variable: StringEquals false, the negated form true.
        ("${aws:username}", {"k:key": ("alice",)}, False),
        ("${aws:username, 'alice'}", {"k:key": ("alice",)}, True),
        (
            "team-${aws:PrincipalTag/team}-*",
            {"k:key": ("team-blue-x",), "aws:principaltag/team": ("blue",)},
            True,
        ),
        # A variable whose key has several values is null rather than any of them.
        ("${aws:TagKeys}", {"k:key": ("a",), "aws:tagkeys": ("a", "b")}, False),
    ],
)
def test_variables_in_condition_values(
    values: str, keys: dict[str, tuple[str, ...]], expected: bool
) -> None:
    operator = "StringLike" if "*" in values else "StringEquals"
    assert compile_one(operator, values).check(keys) is expected


def test_negated_operator_with_null_variable_is_true() -> None:
    condition = compile_one("StringNotEquals", "${aws:username}")
    assert condition.check({"k:key": ("alice",)}) is True


def test_escapes_are_literal_in_like_patterns() -> None:
    condition = compile_one("StringLike", "a${*}b*")
    assert condition.check({"k:key": ("a*bcd",)})
    assert not condition.check({"k:key": ("axbcd",)})
    question = compile_one("StringEquals", "why${?}${$}")
    assert question.check({"k:key": ("why?$",)})


def test_arn_condition_with_variable() -> None:
    condition = compile_one("ArnLike", "arn:aws:iam::${aws:PrincipalAccount}:role/*")
    keys = {"aws:principalaccount": ("123456789012",)}
    assert condition.check({**keys, "k:key": ("arn:aws:iam::123456789012:role/R",)})
    assert not condition.check({**keys, "k:key": ("arn:aws:iam::210987654321:role/R",)})
    assert not condition.check({"k:key": ("arn:aws:iam::123456789012:role/R",)})


@pytest.mark.parametrize(
    ("operator", "values", "request_values", "why"),
    [
        ("StringEquals", "a", None, "key absent from the request"),
        ("StringEquals", "a", ["b"], "no listed value matched"),
        ("StringNotEquals", "a", ["a"], '"a" matched a listed value'),
        ("ForAllValues:StringEquals", "a", ["a", "z"], 'not every value passes; failing: "z"'),
        ("ForAnyValue:StringEquals", "a", ["y", "z"], "no request value passes"),
        ("Null", "true", ["x"], "key present in the request"),
    ],
)
def test_failure_explanations(
    operator: str, values: Any, request_values: list[str] | None, why: str
) -> None:
    condition = compile_one(operator, values)
    keys = {} if request_values is None else {"k:key": tuple(request_values)}
    assert condition.check(keys) is False
    assert condition.explain_failure(keys) == why


def test_parse_operator_reports_unknown_names_with_suggestions() -> None:
    assert parse_operator("DateLessThen") == "unknown operator; did you mean DateLessThan?"
    assert parse_operator("Bananas") == "unknown operator"
    parsed = parse_operator("ForAllValues:NumericLessThanIfExists")
    assert not isinstance(parsed, str)
    assert (parsed.set_op, parsed.base_name, parsed.if_exists) == (
        "ForAllValues",
        "NumericLessThan",
        True,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10", 10),
        ("-3", -3),
        ("1.50", parse_number("1.5")),
        ("1e400", parse_number("1E400")),
        ("nan", None),
        ("inf", None),
        ("", None),
        ("1" * 100, None),
    ],
)
def test_parse_number_is_exact_and_rejects_non_finite(text: str, expected: Any) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01", 0),
        ("1970-01-01T01:00:00+01:00", 0),
        ("60", 60_000_000),
        ("1.5", 1_500_000),
        ("2020-02-30", None),
        ("soon", None),
    ],
)
def test_parse_date_accepts_iso_8601_and_epoch_seconds(text: str, micros: int | None) -> None:
    assert parse_date(text) == micros
