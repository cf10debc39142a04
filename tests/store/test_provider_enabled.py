"""Disabling an identity provider: validated, stored, exported only when false, logged,
carried by the snapshot, and added to existing databases by migration 0004."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from gateway.problems import Invalid
from gateway.store import migrate
from gateway.store.changelog import changes
from gateway.store.config_io import dump_yaml, export_config, import_config, load_yaml
from gateway.store.config_schema import validate_config
from gateway.store.snapshot import load_snapshot


def _disabled(demo_text: str, index: int = 0) -> tuple[str, str]:
    document = copy.deepcopy(load_yaml(demo_text))
    provider = document["identity_providers"][index]
    provider["enabled"] = False
    return provider["name"], dump_yaml(document)


def test_a_disabled_provider_round_trips_and_enabled_ones_export_no_key(
    engine: Engine, demo_text: str
) -> None:
    import_config(engine, demo_text, actor="t")
    assert "enabled" not in export_config(engine)
    name, disabled = _disabled(demo_text)
    import_config(engine, disabled, actor="t")
    exported = export_config(engine)
    by_name = {p["name"]: p for p in load_yaml(exported)["identity_providers"]}
    assert by_name[name]["enabled"] is False
    assert all("enabled" not in p for n, p in by_name.items() if n != name)
    assert not import_config(engine, exported, actor="t").changed
    assert export_config(engine) == exported


def test_disabling_and_enabling_are_logged_provider_updates_with_before_and_after(
    engine: Engine, demo_text: str
) -> None:
    import_config(engine, demo_text, actor="t")
    name, disabled = _disabled(demo_text)
    report = import_config(engine, disabled, actor="alice")
    assert [str(c) for c in report.changes] == [f"update identity provider {name}"]
    latest = changes(engine, limit=1)[0]
    assert latest.actor == "alice"
    assert latest.before is not None and "enabled" not in latest.before
    assert latest.after is not None and latest.after["enabled"] is False
    # A file without the key is the desired state "enabled": importing it enables again.
    import_config(engine, demo_text, actor="bob")
    again = changes(engine, limit=1)[0]
    assert again.actor == "bob" and again.before is not None
    assert again.before["enabled"] is False and again.after is not None
    assert "enabled" not in again.after


def test_the_snapshot_carries_the_flag(engine: Engine, demo_text: str) -> None:
    name, disabled = _disabled(demo_text)
    import_config(engine, disabled, actor="t")
    providers = load_snapshot(engine, 1).providers_by_name
    assert providers[name].enabled is False
    assert all(p.enabled for n, p in providers.items() if n != name)


@pytest.mark.parametrize("value", ["no", 0, [], "false"])
def test_a_flag_that_is_not_a_boolean_is_refused_at_its_path_and_nothing_is_written(
    engine: Engine, demo_text: str, value: Any
) -> None:
    document = copy.deepcopy(load_yaml(demo_text))
    document["identity_providers"][1]["enabled"] = value
    problems = [str(p) for p in validate_config(document)]
    assert any(p.startswith("identity_providers[1].enabled: expected true or false")
               for p in problems), problems
    with pytest.raises(Invalid):
        import_config(engine, dump_yaml(document), actor="t")
    assert export_config(engine) == "accounts: []\nidentity_providers: []\n"


def test_migration_0004_keeps_existing_providers_enabled_and_downgrades(
    empty_engine: Engine,
) -> None:
    migrate.upgrade(empty_engine, "0003")
    with empty_engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (id, alias) VALUES ('111111111111', NULL)"))
        conn.execute(text(
            "INSERT INTO identity_providers (name, kind, account_id, arn, options, client_ids,"
            " scopes, endpoints, admin_rules) VALUES ('corp', 'saml', '111111111111',"
            " 'arn:aws:iam::111111111111:saml-provider/corp', '{}', '[]', '[]', '{}', '[]')"))
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == "0004"
    assert load_snapshot(empty_engine, 1).providers_by_name["corp"].enabled is True
    with empty_engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0003")
    columns = {c["name"] for c in inspect(empty_engine).get_columns("identity_providers")}
    assert "enabled" not in columns and "admin_rules" in columns
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM identity_providers")).scalar_one() == "corp"
