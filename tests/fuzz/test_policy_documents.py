"""Policy documents (gateway.iam): any JSON or text parses to a Policy or raises `Invalid`.

A policy that parses must also evaluate against any request without an exception: the
evaluator runs on every STS call and authorize question.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, get_args

from hypothesis import given
from hypothesis import strategies as st

from gateway.iam import Principal, RequestContext, evaluate, parse_policy, validate_policy
from gateway.iam.conditions import BASE_OPERATORS, SET_OPERATORS
from gateway.iam.document import PolicyKind
from gateway.problems import Invalid
from tests.fuzz.strategies import JSON, WORD, key, mixed

KINDS = get_args(PolicyKind)
OPERATORS = [
    *BASE_OPERATORS,
    *(f"{op}IfExists" for op in BASE_OPERATORS),
    *(f"{prefix}:{op}" for prefix in SET_OPERATORS for op in BASE_OPERATORS),
]
KEYS = ["aws:SourceIp", "aws:CurrentTime", "aws:PrincipalTag/team", "saml:aud", "s3:prefix",
        "aws:MultiFactorAuthPresent", "aws:TokenIssueTime", "sts:ExternalId", "x:y"]
VALUES = ["10.0.0.0/8", "::1/128", "2026-01-01T00:00:00Z", "1700000000", "true", "${aws:username}",
          "${*}", "a*b?c", "arn:aws:s3:::b/*", "", "999999999999999999999", "1e400", "300.1.1.1/33"]
PATTERNS = ["*", "s3:*", "s3:Get*", "arn:aws:s3:::b/${aws:userid}/*", "arn:aws:iam::*:role/?",
            "arn:aws:sts::123456789012:assumed-role/R/*", "${aws:PrincipalTag/x}", "*:*:*"]

conditions = st.dictionaries(
    key(*OPERATORS),
    st.dictionaries(key(*KEYS), st.one_of(mixed(*VALUES), st.lists(mixed(*VALUES),
                                                                       max_size=3)), max_size=3),
    max_size=3,
)
principals = st.one_of(
    st.just("*"),
    st.dictionaries(st.sampled_from(["AWS", "Federated", "Service", "CanonicalUser", "x"]),
                    st.one_of(mixed("*", "arn:aws:iam::123456789012:root", "123456789012",
                                    "arn:aws:iam::123456789012:saml-provider/corp",
                                    "accounts.google.com", "arn:aws:sts::1:assumed-role/R/s"),
                              st.lists(mixed("*", "arn:aws:iam::123456789012:role/R"),
                                       max_size=3)),
                    max_size=3),
    JSON,
)
statement = st.dictionaries(
    st.sampled_from(["Sid", "Effect", "Action", "NotAction", "Resource", "NotResource",
                     "Principal", "NotPrincipal", "Condition", "Extra"]),
    st.one_of(mixed("Allow", "Deny", *PATTERNS), st.lists(mixed(*PATTERNS), max_size=3),
              conditions, principals),
    max_size=7,
)
documents = st.one_of(
    st.fixed_dictionaries(
        {"Version": mixed("2012-10-17", "2008-10-17"),
         "Statement": st.one_of(statement, st.lists(statement, max_size=4))},
        optional={"Id": WORD},
    ),
    JSON,
)


def _context(action: str, resource: str, keys: dict[str, Any]) -> RequestContext:
    principal = Principal.aws("arn:aws:sts::123456789012:assumed-role/R/alice")
    return RequestContext(action, resource, principal, keys,
                          now=datetime(2026, 5, 1, tzinfo=UTC))


@given(document=documents, kind=st.sampled_from(KINDS), as_text=st.booleans(),
       action=mixed("s3:GetObject", "sts:AssumeRole", "iam:CreateUser"),
       resource=mixed("arn:aws:s3:::b/alice/x", "*"),
       keys=st.dictionaries(key(*KEYS), st.one_of(mixed(*VALUES), st.lists(WORD, max_size=3)),
                            max_size=4))
def test_any_document_parses_or_is_invalid_and_parsed_ones_evaluate(
    document: Any, kind: PolicyKind, as_text: bool, action: Any, resource: Any,
    keys: dict[Any, Any],
) -> None:
    source: Any = document
    if as_text:
        try:
            source = json.dumps(document)
        except (TypeError, ValueError):
            source = str(document)
    problems = validate_policy(source, kind=kind)
    assert isinstance(problems, list)
    try:
        policy = parse_policy(source, kind=kind)
    except Invalid as exc:
        assert exc.problems  # every refusal says why
        return
    assert not problems
    if not (isinstance(action, str) and isinstance(resource, str)):
        return
    context_keys = {k: v for k, v in keys.items() if isinstance(k, str)}
    context_keys = {k: (tuple(str(x) for x in v) if isinstance(v, list) else (str(v),))
                    for k, v in context_keys.items()}
    decision = evaluate([policy], _context(action, resource, context_keys))
    assert isinstance(decision.allowed, bool)


@given(text=st.text(max_size=400) | st.binary(max_size=400).map(
    lambda b: b.decode("latin-1")), kind=st.sampled_from(KINDS))
def test_any_text_parses_or_is_invalid(text: str, kind: PolicyKind) -> None:
    try:
        parse_policy(text, kind=kind)
    except Invalid as exc:
        assert exc.problems


plausible_statement = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Deny"]),
     "Action": st.one_of(st.sampled_from(PATTERNS), st.lists(st.sampled_from(PATTERNS),
                                                              min_size=1, max_size=3)),
     "Resource": st.one_of(st.sampled_from(PATTERNS), st.lists(st.sampled_from(PATTERNS),
                                                                min_size=1, max_size=3))},
    optional={"Condition": st.dictionaries(
        st.sampled_from(OPERATORS),
        st.dictionaries(st.sampled_from(KEYS), st.one_of(
            st.sampled_from(VALUES), st.lists(st.sampled_from(VALUES), min_size=1, max_size=3)),
            min_size=1, max_size=2),
        min_size=1, max_size=2)},
)


@given(statements=st.lists(plausible_statement, min_size=1, max_size=3),
       action=st.sampled_from(["s3:GetObject", "sts:AssumeRole", "iam:CreateUser"]),
       resource=st.sampled_from(["arn:aws:s3:::b/alice/x", "arn:aws:iam::1:role/R", "*"]),
       keys=st.dictionaries(st.sampled_from(KEYS), st.one_of(
           st.sampled_from(VALUES), WORD, st.lists(WORD, max_size=3)), max_size=4))
def test_plausible_policies_evaluate_against_any_context(
    statements: list[dict[str, Any]], action: str, resource: str, keys: dict[str, Any]
) -> None:
    document = {"Version": "2012-10-17", "Statement": statements}
    try:
        policy = parse_policy(document, kind="identity")
    except Invalid as exc:
        assert exc.problems
        return
    decision = evaluate([policy], _context(action, resource, keys))
    assert isinstance(decision.allowed, bool)
