"""The demo IdP as `gateway demo` starts it: its metadata, and the demo configuration."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime
from importlib import resources

import yaml

from gateway.devtools import saml_idp
from gateway.sources.saml import metadata, ns
from gateway.store.config_schema import parse_config


def test_demo_config_points_the_demo_provider_at_a_running_idp() -> None:
    text = resources.files("gateway").joinpath("demo_config.yaml").read_text()
    configured, running = saml_idp.demo_config(text, "http://127.0.0.1:18000")
    try:
        document = yaml.safe_load(configured)
        parse_config(document)  # still a valid configuration
        provider = next(p for p in document["identity_providers"] if p["name"] == "demo-saml")
        assert provider["metadata_url"] == running.metadata_url
        assert provider["options"]["relay_state_allowlist"] == ["http://127.0.0.1:18000/"]
        assert "http://127.0.0.1:18000/saml/acs" in configured
        assert "http://127.0.0.1:8000/saml/acs" not in configured
        with urllib.request.urlopen(running.metadata_url, timeout=5) as reply:
            parsed = metadata.parse(reply.read(), now=datetime.now(UTC))
        assert parsed.entity_id == running.metadata_url
        assert parsed.endpoint("sso", ns.BINDING_REDIRECT) is not None
        assert parsed.endpoint("slo", ns.BINDING_POST) is not None
    finally:
        running.stop()


def test_demo_users_cover_several_roles_one_role_and_none() -> None:
    alice, bob, carol = (saml_idp.USERS[u] for u in ("alice", "bob", "carol"))
    assert "admins" in alice.attributes["groups"] and alice.attributes[
        saml_idp.AWS + "Role"]
    assert bob.attributes["groups"] == ("staff",)
    assert carol.attributes["email"] == ("carol@partner.test",)
