"""Admin rules on identity providers: validated like mapping rules, stored, round-tripped."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import Engine

from gateway.problems import Invalid
from gateway.store.changelog import changes
from gateway.store.config_io import dump_yaml, export_config, import_config, load_yaml
from gateway.store.config_schema import validate_config
from gateway.store.snapshot import load_snapshot

ADMIN_RULES = [
    {
        "description": "platform admins",
        "when": [{"claim": "groups", "operator": "equals", "value": "gateway-admins"}],
    },
    {"when": [{"claim": "email", "operator": "in", "values": ["root@example.com", "a@b.c"]}]},
]


@pytest.fixture
def with_admin_rules(demo_text: str) -> dict[str, Any]:
    document = copy.deepcopy(load_yaml(demo_text))
    document["identity_providers"][0]["admin_rules"] = copy.deepcopy(ADMIN_RULES)
    return dict(document)


def test_admin_rules_survive_export_and_import_byte_for_byte(
    engine: Engine, with_admin_rules: dict[str, Any]
) -> None:
    import_config(engine, dump_yaml(with_admin_rules), actor="t")
    first = export_config(engine)
    assert "admin_rules:" in first
    name = with_admin_rules["identity_providers"][0]["name"]
    exported = {p["name"]: p for p in load_yaml(first)["identity_providers"]}
    assert exported[name]["admin_rules"] == ADMIN_RULES
    assert not import_config(engine, first, actor="t").changed
    assert export_config(engine) == first


def without_admin_rules(demo_text: str) -> str:
    document = load_yaml(demo_text)
    for provider in document["identity_providers"]:
        provider.pop("admin_rules", None)
    return dump_yaml(document)


def test_a_configuration_without_admin_rules_exports_no_admin_rules_key(
    engine: Engine, demo_text: str
) -> None:
    import_config(engine, without_admin_rules(demo_text), actor="t")
    assert "admin_rules" not in export_config(engine)


def test_changing_admin_rules_is_one_logged_provider_update(
    engine: Engine, with_admin_rules: dict[str, Any], demo_text: str
) -> None:
    import_config(engine, without_admin_rules(demo_text), actor="t")
    report = import_config(engine, dump_yaml(with_admin_rules), actor="alice")
    assert [str(c) for c in report.changes] == [
        f"update identity provider {with_admin_rules['identity_providers'][0]['name']}"
    ]
    latest = changes(engine, limit=1)[0]
    assert latest.actor == "alice"
    assert latest.before is not None and "admin_rules" not in latest.before
    assert latest.after is not None and latest.after["admin_rules"] == ADMIN_RULES


def test_the_snapshot_carries_admin_rules(engine: Engine, with_admin_rules: dict[str, Any]) -> None:
    import_config(engine, dump_yaml(with_admin_rules), actor="t")
    name = with_admin_rules["identity_providers"][0]["name"]
    provider = load_snapshot(engine, 1).providers_by_name[name]
    assert [r.description for r in provider.admin_rules] == ["platform admins", ""]
    assert provider.admin_rules[1].conditions[0].values == ("root@example.com", "a@b.c")


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([{"when": []}], "admin_rules[0].when: at least one condition is required"),
        ([{"description": "x"}], "admin_rules[0].when: required"),
        (
            [{"when": [{"claim": "g", "operator": "equals", "value": "x"}], "role": "r"}],
            "admin_rules[0].role: unknown key (expected one of: when, description)",
        ),
        (
            [{"when": [{"claim": "g", "operator": "like", "value": "x"}]}],
            "admin_rules[0].when[0].operator: expected one of",
        ),
        ("everyone", "admin_rules: expected a list, got a string"),
    ],
)
def test_bad_admin_rules_are_refused_at_their_path_and_nothing_is_written(
    engine: Engine, demo_text: str, rules: Any, expected: str
) -> None:
    document = copy.deepcopy(load_yaml(demo_text))
    document["identity_providers"][0]["admin_rules"] = rules
    problems = [str(p) for p in validate_config(document)]
    assert any(p.startswith(f"identity_providers[0].{expected}") for p in problems), problems
    with pytest.raises(Invalid):
        import_config(engine, dump_yaml(document), actor="t")
    assert export_config(engine) == "accounts: []\nidentity_providers: []\n"
