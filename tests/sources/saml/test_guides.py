"""The attribute sets docs/saml-*.md make each IdP send, checked against the gateway.

For AD FS, Entra ID and Okta: a response shaped like the guide's claim configuration
(idp-fixtures/<idp>/attributes.json), signed with that IdP's fixture key, validated
against its fixture metadata, normalized, and run through the roles of the guide's
gateway configuration (idp-fixtures/<idp>/gateway.yaml).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from gateway.roles import eligible_roles
from gateway.sources.saml import attributes, metadata, response, sp_keys
from gateway.sources.saml.providers import Idp, IdpPolicy
from gateway.store.config_schema import parse_config
from gateway.store.snapshot import build_snapshot
from tests.sources.saml import forge
from tests.sources.saml.conftest import SP

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", ["adfs", "entra", "okta"])
def test_the_guide_attribute_set_signs_in_to_the_expected_roles(
    name: str, sp_keys_pair: sp_keys.SpKeys
) -> None:
    directory = forge.FIXTURES / name
    fixture = json.loads((directory / "attributes.json").read_text())
    assert (ROOT / fixture["guide"]).exists()
    config = yaml.safe_load((directory / "gateway.yaml").read_text())
    roles = [role for account in config["accounts"] for role in account["roles"]]
    for index, role in enumerate(roles):
        role["id"] = f"AROAGUIDE{index:012d}"  # stored roles always have an id
    snapshot = build_snapshot(parse_config(config), 1, strict=True)
    provider = snapshot.providers_by_name[fixture["provider"]]
    now = datetime.now(UTC)
    parsed = metadata.parse((directory / "metadata.xml").read_bytes(), now=now)
    idp = Idp(provider, parsed, IdpPolicy.from_options(provider.options))

    spec = forge.Spec(
        issuer=parsed.entity_id, acs_url=SP.acs_url, audience=SP.entity_id,
        name_id=fixture["name_id"]["value"], name_id_format=fixture["name_id"]["format"],
        attributes=fixture["attributes"],
        attribute_name_format=fixture["attribute_name_format"],
    )
    root = forge.signed(spec, forge.Signer.fixture(name, fixture["signing_key"]))
    validated = response.validate(
        response.open_response(forge.text(root)), idp, response.Expected(SP),
        decryption_keys=sp_keys_pair.decryption_keys, now=now,
    )
    identity = attributes.to_identity(validated)

    expect = fixture["expect"]
    assert identity.subject == expect["subject"]
    assert identity.subject_type == expect["subject_type"]
    assert identity.session_name == expect["session_name"]
    assert identity.session_duration == expect["session_duration"]
    for alias, values in expect["aliases"].items():
        assert identity.attributes[alias] == tuple(values), alias
    for key, values in expect["condition_keys"].items():
        assert identity.condition_keys[key.lower()] == tuple(values), key  # keys are case-free
    for raw in fixture["attributes"]:
        assert raw in identity.attributes  # every attribute kept under its own name
    eligibility = eligible_roles(identity, snapshot, now)
    assert sorted(r.arn for r in eligibility.roles) == sorted(expect["roles"])
    assert not eligibility.unknown_roles
