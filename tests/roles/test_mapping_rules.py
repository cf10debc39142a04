"""Cognito-style mapping rules: every operator, the default role, validation, round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine

from gateway.identity import FederatedIdentity
from gateway.problems import Invalid
from gateway.roles.rules import condition_holds, matching_rules
from gateway.store.config_io import export_config, import_config
from gateway.store.config_schema import ConditionSpec, RuleSpec, parse_config, validate_config

ROLE_A = "arn:aws:iam::111111111111:role/A"
ROLE_B = "arn:aws:iam::111111111111:role/B"
ROLE_DEFAULT = "arn:aws:iam::111111111111:role/Default"


def who(**attributes: Any) -> FederatedIdentity:
    return FederatedIdentity(
        provider="p", kind="oidc", issuer="https://idp.example", subject="s", subject_type="oidc",
        audience=("c",),
        attributes={k: tuple(v) if isinstance(v, list) else (v,) for k, v in attributes.items()},
    )


def holds(operator: str, value: str | tuple[str, ...], **attributes: Any) -> bool:
    values = value if isinstance(value, tuple) else (value,)
    return condition_holds(ConditionSpec("groups", operator, values), who(**attributes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operator", "value", "groups", "expected"),
    [
        ("equals", "admins", ["eng", "admins"], True),
        ("equals", "admins", ["ADMINS", "admins "], False),
        ("not_equals", "contractors", ["eng"], True),
        ("not_equals", "contractors", ["eng", "contractors"], False),
        ("contains", "dmi", ["admins"], True),
        ("starts_with", "adm", ["admins"], True),
        ("starts_with", "dmi", ["admins"], False),
        ("matches", "ad*s", ["admins"], True),
        ("regex", r"team-(red|blue)", ["team-blue"], True),
        ("regex", r"team-(red|blue)", ["team-blue-x"], False),  # full match, not search
        ("regex", r"a.*", ["a" * 5000], False),  # oversized values never reach the regex
        ("in_group", "Admins", ["Users,Admins"], False),  # no splitting on separators
        ("in_group", "Admins", ["Users", "Admins"], True),
        ("in", ("x", "admins"), ["admins"], True),
    ],
)
def test_each_operator(operator: str, value: Any, groups: list[str], expected: bool) -> None:
    assert holds(operator, value, groups=groups) is expected


def test_every_operator_needs_the_claim_to_be_asserted() -> None:
    for operator in ("equals", "not_equals", "contains", "starts_with", "matches", "regex",
                     "in_group"):
        assert not holds(operator, "x", email="someone@example.com"), operator


def test_default_role_applies_only_when_no_rule_matched() -> None:
    rules = (
        RuleSpec(ROLE_A, (ConditionSpec("groups", "equals", ("eng",)),)),
        RuleSpec(ROLE_B, (ConditionSpec("groups", "regex", ("ops|sre",)),)),
        RuleSpec(ROLE_DEFAULT, ()),
    )
    assert [r.role_arn for _, r in matching_rules(rules, who(groups=["eng", "sre"]))] == [
        ROLE_A, ROLE_B]
    assert [(i, r.role_arn) for i, r in matching_rules(rules, who(groups=["sales"]))] == [
        (3, ROLE_DEFAULT)]
    assert matching_rules(rules[:2], who(groups=["sales"])) == []


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    from gateway.store import migrate
    from gateway.store.db import make_engine

    created = make_engine(f"sqlite:///{tmp_path / 'config.db'}")
    migrate.upgrade(created)
    return created


def document(**provider_extra: Any) -> dict[str, Any]:
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "accounts.google.com"},
        "Action": "sts:AssumeRoleWithWebIdentity"}]}
    return {
        "accounts": [{"id": "111111111111", "roles": [
            {"name": n, "trust_policy": json.loads(json.dumps(trust))}
            for n in ("A", "B", "Default")]}],
        "identity_providers": [{
            "name": "google", "kind": "google", "account": "111111111111",
            "client_ids": ["c.apps.googleusercontent.com"],
            "mapping_rules": [
                {"when": [{"claim": "email", "operator": "regex", "value": r".*@example\.com"}],
                 "role": ROLE_A},
                {"when": [{"claim": "groups", "operator": "in_group", "value": "eng"},
                          {"claim": "hd", "operator": "not_equals", "value": "evil.example"}],
                 "role": ROLE_B},
            ],
            **provider_extra,
        }],
    }


def test_new_operators_default_role_and_options_round_trip(engine: Engine) -> None:
    doc = document(default_role=ROLE_DEFAULT, options={
        "hosted_domains": ["example.com"], "cors_origins": ["https://app.example.com"]})
    import_config(engine, yaml.safe_dump(doc), actor="test")
    exported = yaml.safe_load(export_config(engine))
    provider = exported["identity_providers"][0]
    assert provider["default_role"] == ROLE_DEFAULT
    assert [r["role"] for r in provider["mapping_rules"]] == [ROLE_A, ROLE_B]
    assert provider["options"] == {"cors_origins": ["https://app.example.com"],
                                   "hosted_domains": ["example.com"]}
    spec = parse_config(exported)
    assert spec.providers[0].rules[-1] == RuleSpec(ROLE_DEFAULT, (), "default role")
    again = export_config(engine)
    import_config(engine, again, actor="test")
    assert export_config(engine) == again


def test_bad_regex_unknown_default_role_and_bad_domain_are_reported() -> None:
    doc = document(default_role="arn:aws:iam::111111111111:role/Nope",
                   options={"hosted_domains": ["not a domain"]})
    doc["identity_providers"][0]["mapping_rules"][0]["when"][0]["value"] = "(unclosed"
    problems = {p.path: p.message for p in validate_config(doc)}
    assert problems["identity_providers[0].mapping_rules[0].when[0].value"].startswith(
        "not a valid regular expression")
    assert problems["identity_providers[0].default_role"] == (
        "no role arn:aws:iam::111111111111:role/Nope in this configuration")
    assert "identity_providers[0].options.hosted_domains[0]" in problems
    with pytest.raises(Invalid):
        parse_config(doc)
