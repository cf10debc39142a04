"""Every configuration change leaves a change-log row: actor, action, before and after."""

from __future__ import annotations

import yaml
from sqlalchemy import Engine

from gateway.store.changelog import changes, redact
from gateway.store.config_io import export_config, import_config


def test_import_logs_each_created_entity_with_the_actor(engine: Engine, demo_text: str) -> None:
    import_config(engine, demo_text, actor="alice")
    log = changes(engine, limit=1000)
    assert {c.actor for c in log} == {"alice"}
    assert {c.action for c in log} == {"create"}
    kinds = sorted((c.entity_type, c.entity_key) for c in log)
    assert ("account", "111111111111") in kinds
    assert ("role", "arn:aws:iam::222222222222:role/engineering/Developer") in kinds
    assert ("identity_provider", "demo-saml") in kinds
    assert len(log) == 2 + 4 + 5
    role = changes(engine, entity_key="arn:aws:iam::111111111111:role/Admin")[0]
    assert role.before is None
    assert role.after is not None and role.after["account"] == "111111111111"
    assert role.after["trust_policy"]["Statement"][0]["Sid"] == "SamlSignIn"


def test_update_and_delete_record_before_and_after(engine: Engine, demo_text: str) -> None:
    import_config(engine, demo_text, actor="alice")
    document = yaml.safe_load(export_config(engine))
    document["accounts"][0]["alias"] = "acme-production"
    document["identity_providers"] = [
        p for p in document["identity_providers"] if p["name"] != "amazon"
    ]
    import_config(engine, yaml.safe_dump(document), actor="bob")
    log = [c for c in changes(engine) if c.actor == "bob"]
    assert sorted((c.action, c.entity_key) for c in log) == [
        ("delete", "amazon"),
        ("update", "111111111111"),
    ]
    update = next(c for c in log if c.action == "update")
    assert update.before == {"id": "111111111111", "alias": "acme-prod"}
    assert update.after == {"id": "111111111111", "alias": "acme-production"}
    delete = next(c for c in log if c.action == "delete")
    assert delete.after is None and delete.before is not None
    assert delete.before["kind"] == "amazon"


def test_secrets_never_reach_the_change_log(engine: Engine, demo_text: str) -> None:
    import_config(engine, demo_text, actor="alice")
    [entry] = changes(engine, entity_type="identity_provider", entity_key="demo-oidc")
    assert entry.after is not None
    assert "demo-secret" not in str(entry.after)
    assert entry.after["client_secret"].startswith("sha256:")


def test_redact_fingerprints_nested_secrets() -> None:
    redacted = redact({"a": [{"client_secret": "s3cret", "x": 1}]})
    assert redacted["a"][0]["x"] == 1
    assert redacted["a"][0]["client_secret"] == redact({"client_secret": "s3cret"})["client_secret"]
    assert "s3cret" not in str(redacted)
