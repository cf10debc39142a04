"""What a browser session keeps of a sign-in's claims."""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

from gateway.store.config_io import import_config
from gateway.store.config_schema import AdminRuleSpec, ConditionSpec
from gateway.store.db import make_engine
from gateway.store.migrate import upgrade
from gateway.store.snapshot import load_snapshot
from gateway.web.signin import session_claims


def test_session_keeps_the_claims_mapping_and_admin_rules_read(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/c.db")
    upgrade(engine)
    import_config(engine, resources.files("gateway").joinpath("demo_config.yaml").read_text(),
                  actor="t")
    provider = load_snapshot(engine, 1).providers_by_name["demo-saml"]
    department = AdminRuleSpec((ConditionSpec("department", "equals", ("it",)),))
    provider = dataclasses.replace(provider, admin_rules=(department,))
    kept = session_claims(provider)
    assert "department" in kept, "an admin rule's claim must survive into the session"
    assert "groups" in kept  # read by the demo's mapping rules
    assert "favourite_colour" not in kept
