"""Properties that must hold for every policy and request, checked with hypothesis."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.iam import (
    SessionPermissions,
    evaluate_session,
    parse_policy,
    validate_policy,
)
from gateway.iam.arn import compile_arn_pattern
from gateway.iam.conditions import BASE_OPERATORS, compile_conditions
from gateway.iam.wildcard import compile_pattern, compile_patterns
from tests.iam.support import ctx, policy

SETTINGS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

ACTIONS = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "ec2:DescribeInstances",
    "iam:CreateUser",
]
ACTION_PATTERNS = [*ACTIONS, "s3:*", "*", "s3:Get*", "ec2:Describe*", "iam:*User", "S3:getobject"]
RESOURCES = [
    "arn:aws:s3:::a/x",
    "arn:aws:s3:::a/y",
    "arn:aws:s3:::b/x",
    "arn:aws:iam::123456789012:user/u",
]
RESOURCE_PATTERNS = [
    *RESOURCES,
    "*",
    "arn:aws:s3:::a/*",
    "arn:aws:s3:::*/x",
    "arn:aws:iam::*:user/*",
]
CONDITIONS = [
    {"StringEquals": {"k:a": "1"}},
    {"StringNotEquals": {"k:a": ["1", "2"]}},
    {"StringLike": {"k:a": "${k:b}"}},
    {"ForAllValues:StringEquals": {"k:a": ["1"]}},
    {"NumericLessThan": {"k:a": "2"}},
    {"Null": {"k:b": "true"}},
]


def one_or_many(values: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(values), st.lists(st.sampled_from(values), min_size=1, max_size=3)
    )


@st.composite
def statements(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    out["NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action"] = draw(
        one_or_many(ACTION_PATTERNS)
    )
    out["NotResource" if draw(st.booleans()) and draw(st.booleans()) else "Resource"] = draw(
        one_or_many(RESOURCE_PATTERNS)
    )
    if draw(st.booleans()):
        out["Condition"] = draw(st.sampled_from(CONDITIONS))
    return out


def documents(effect: str | None = None) -> st.SearchStrategy[dict[str, Any]]:
    return st.lists(statements(effect), min_size=1, max_size=4).map(
        lambda items: {"Version": "2012-10-17", "Statement": items}
    )


requests = st.tuples(
    st.sampled_from(ACTIONS),
    st.sampled_from(RESOURCES),
    st.fixed_dictionaries(
        {}, optional={"k:a": st.sampled_from(["1", "2", "3"]), "k:b": st.sampled_from(["1", "x"])}
    ),
)


@SETTINGS
@given(
    identity=st.lists(documents(), max_size=3),
    session=st.lists(documents(), max_size=2),
    request=requests,
    deny_position=st.integers(0, 3),
    wildcard=st.booleans(),
)
def test_explicit_deny_always_wins(
    identity: list[dict[str, Any]],
    session: list[dict[str, Any]],
    request: tuple[str, str, dict[str, str]],
    deny_position: int,
    wildcard: bool,
) -> None:
    action, resource, keys = request
    deny = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Deny",
            "Action": "*" if wildcard else action,
            "Resource": "*" if wildcard else resource,
        },
    }
    identity_policies = [policy(d) for d in identity]
    identity_policies.insert(min(deny_position, len(identity_policies)), policy(deny, name="deny"))
    perms = SessionPermissions(
        tuple(identity_policies), tuple(policy(d, kind="session") for d in session)
    )
    decision = evaluate_session(perms, ctx(action, resource, keys=keys))
    assert not decision.allowed
    assert decision.reason == "explicit_deny"


@SETTINGS
@given(
    identity=st.lists(documents(), max_size=3),
    session=st.lists(documents(), min_size=1, max_size=3),
    request=requests,
)
def test_session_policies_never_grant_more_and_intersect_exactly(
    identity: list[dict[str, Any]],
    session: list[dict[str, Any]],
    request: tuple[str, str, dict[str, str]],
) -> None:
    action, resource, keys = request
    context = ctx(action, resource, keys=keys)
    role = tuple(policy(d) for d in identity)
    limits = tuple(policy(d, kind="session") for d in session)
    without = evaluate_session(SessionPermissions(role), context).allowed
    with_session = evaluate_session(SessionPermissions(role, limits), context).allowed
    session_alone = evaluate_session(
        SessionPermissions(tuple(policy(d) for d in session)), context
    ).allowed
    assert not with_session or without
    assert with_session == (without and session_alone)


FAMILY_VALUES: dict[str, st.SearchStrategy[str]] = {
    # No `$`: with policy variables on, "${" is a malformed variable (a problem reported),
    # which is not what this family's properties are about.
    "String": st.text(max_size=5).filter(lambda s: "$" not in s),
    "Numeric": st.integers(-1000, 1000).map(str),
    "Date": st.sampled_from(["2020-01-01T00:00:00Z", "1577836800", "2030-06-01"]),
    "Bool": st.sampled_from(["true", "false"]),
    "Binary": st.binary(max_size=6).map(lambda b: __import__("base64").b64encode(b).decode()),
    "Ip": st.sampled_from(["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"]),
    "Arn": st.sampled_from(["arn:aws:s3:::b/*", "arn:aws:iam::*:role/R", "*"]),
}
NON_NULL = sorted(name for name, base in BASE_OPERATORS.items() if base.family != "Null")


@SETTINGS
@given(data=st.data(), base=st.sampled_from(NON_NULL), if_exists=st.booleans(), empty=st.booleans())
def test_for_all_values_is_true_and_for_any_value_false_on_an_empty_set(
    data: st.DataObject, base: str, if_exists: bool, empty: bool
) -> None:
    family = BASE_OPERATORS[base].family
    values = data.draw(st.lists(FAMILY_VALUES[family], min_size=1, max_size=3))
    keys: dict[str, tuple[str, ...]] = {"k:key": ()} if empty else {}
    suffix = "IfExists" if if_exists else ""
    for prefix, expected in (("ForAllValues", True), ("ForAnyValue", if_exists)):
        block = {f"{prefix}:{base}{suffix}": {"k:key": values}}
        conditions, problems = compile_conditions(block, path="", variables=True)
        assert problems == []
        assert conditions[0].check(keys) is expected, block


def reference_regex(pattern: str, *, segment: bool = False) -> str:
    """The obvious translation: `*` → any run, `?` → one character, the rest literal."""
    star, one = ("[^:]*", "[^:]") if segment else (".*", ".")
    return "".join(star if c == "*" else one if c == "?" else re.escape(c) for c in pattern)


PATTERN_TEXT = st.text(alphabet="ab*?./:+\n", max_size=8)
PLAIN_TEXT = st.text(alphabet="ab./:+\n", max_size=10)


@SETTINGS
@given(pattern=PATTERN_TEXT, text=PLAIN_TEXT)
def test_wildcard_matching_agrees_with_reference_regex(pattern: str, text: str) -> None:
    expected = re.fullmatch(reference_regex(pattern), text, re.DOTALL) is not None
    assert compile_pattern(pattern)(text) is expected


@SETTINGS
@given(pattern=st.text(alphabet="aAbB*?", max_size=6), text=st.text(alphabet="aAbB", max_size=8))
def test_case_insensitive_wildcard_agrees_with_reference_regex(pattern: str, text: str) -> None:
    expected = re.fullmatch(reference_regex(pattern.lower()), text.lower(), re.DOTALL) is not None
    assert compile_pattern(pattern, ignore_case=True)(text) is expected


@SETTINGS
@given(patterns=st.lists(PATTERN_TEXT, max_size=4), text=PLAIN_TEXT)
def test_pattern_lists_are_the_or_of_their_patterns(patterns: list[str], text: str) -> None:
    assert compile_patterns(patterns)(text) is any(compile_pattern(p)(text) for p in patterns)


SEGMENT = st.text(alphabet="ab*?/", max_size=3)


@SETTINGS
@given(
    pattern=st.lists(SEGMENT, min_size=5, max_size=5).flatmap(
        lambda head: st.text(alphabet="ab*?/:", max_size=4).map(lambda tail: [*head, tail])
    ),
    arn=st.lists(st.text(alphabet="ab/", max_size=3), min_size=5, max_size=5).flatmap(
        lambda head: st.text(alphabet="ab/:", max_size=5).map(lambda tail: [*head, tail])
    ),
)
def test_arn_matching_agrees_with_per_segment_reference(pattern: list[str], arn: list[str]) -> None:
    expected = all(
        re.fullmatch(reference_regex(p, segment=i < 5), a, re.DOTALL) is not None
        for i, (p, a) in enumerate(zip(pattern, arn, strict=True))
    )
    assert compile_arn_pattern(":".join(pattern))(":".join(arn)) is expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)
policy_like = st.fixed_dictionaries(
    {},
    optional={
        "Version": st.sampled_from(["2012-10-17", "2008-10-17", "x"]) | json_values,
        "Statement": json_values
        | st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "Effect": st.sampled_from(["Allow", "Deny"]) | json_values,
                    "Action": st.sampled_from(ACTION_PATTERNS) | json_values,
                    "Resource": st.sampled_from(RESOURCE_PATTERNS) | json_values,
                    "Principal": st.sampled_from(["*", {"AWS": "123456789012"}]) | json_values,
                    "Condition": st.dictionaries(
                        st.sampled_from(["StringEquals", "Null", "Bogus", "ForAnyValue:IpAddress"]),
                        json_values,
                        max_size=2,
                    )
                    | json_values,
                },
            ),
            max_size=3,
        ),
    },
)


@SETTINGS
@given(document=policy_like, kind=st.sampled_from(["trust", "identity", "session", "resource"]))
def test_validation_never_raises_and_agrees_with_parsing(
    document: dict[str, Any], kind: Any
) -> None:
    from_mapping = validate_policy(document, kind=kind)
    from_text = validate_policy(json.dumps(document, ensure_ascii=False), kind=kind)
    assert all(p.path is not None and p.message for p in from_mapping)
    assert [p.path for p in from_mapping] == [p.path for p in from_text]
    if not from_mapping:
        compiled = parse_policy(document, kind=kind)
        assert len(compiled.statements) >= 1


@SETTINGS
@given(text=st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    assert isinstance(validate_policy(text, kind="identity"), list)
