"""The trust check behind the mapping-rules warning, and the simulator's identity mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.admin import simulate, trust
from gateway.admin.authz import admin_for
from gateway.problems import Invalid
from gateway.store.config_db import resolve
from gateway.store.config_io import load_yaml
from gateway.store.config_schema import ConfigSpec
from gateway.store.config_schema import parse_config as parse
from gateway.store.snapshot import Snapshot, build_snapshot
from tests.sts_world import BASE_ROLE, CROSS_ROLE, WORLD

ACS = "https://gw.example.com/saml/acs"
GOOGLE = {
    "name": "google", "kind": "google", "account": "111111111111",
    "client_ids": ["app.apps.googleusercontent.com"],
}


def parse_config(document: Any) -> ConfigSpec:
    """The spec as stored: role ids assigned, as an import would."""
    return resolve(ConfigSpec(), parse(document))[0]


def snapshot(extra_providers: list[dict[str, Any]] | None = None,
             admin_rules: list[dict[str, Any]] | None = None) -> Snapshot:
    document = load_yaml(WORLD)
    document["identity_providers"] += extra_providers or []
    if admin_rules:
        document["identity_providers"][0]["admin_rules"] = admin_rules
    return build_snapshot(parse_config(document), 1)


def test_a_role_naming_the_provider_is_trusted_and_others_are_not() -> None:
    snap = snapshot()
    corp = snap.providers_by_name["corp"]
    assert trust.check(snap.roles_by_arn[BASE_ROLE], corp, ACS).verdict == "trusted"
    assert trust.check(snap.roles_by_arn[CROSS_ROLE], corp, ACS).verdict == "untrusted"


@pytest.mark.parametrize("provider", ["corp", "google"])
def test_the_offered_statement_makes_the_role_trust_the_provider(provider: str) -> None:
    snap = snapshot([GOOGLE])
    chosen = snap.providers_by_name[provider]
    document = load_yaml(WORLD)
    cross = document["accounts"][1]["roles"][0]
    cross["trust_policy"] = trust.with_statement(cross["trust_policy"], chosen, ACS)
    document["identity_providers"].append(GOOGLE)
    fixed = build_snapshot(parse_config(document), 2)
    assert trust.check(fixed.roles_by_arn[CROSS_ROLE], fixed.providers_by_name[provider],
                       ACS).verdict == "trusted"
    sids = [s.get("Sid") for s in cross["trust_policy"]["Statement"]]
    assert len(sids) == len(set(sids))


def test_a_statement_with_an_unmet_condition_is_reported_as_conditional() -> None:
    document = load_yaml(WORLD)
    base = document["accounts"][0]["roles"][0]
    base["trust_policy"]["Statement"][0]["Condition"] = {
        "StringEquals": {"saml:edupersonaffiliation": "staff"}}
    snap = build_snapshot(parse_config(document), 1)
    check = trust.check(snap.roles_by_arn[BASE_ROLE], snap.providers_by_name["corp"], ACS)
    assert check.verdict == "conditional"
    assert "saml:edupersonaffiliation" in check.message


def test_simulated_saml_attributes_map_like_a_sign_in() -> None:
    snap = snapshot()
    claims = {"nameid": "ann", "https://aws.amazon.com/SAML/Attributes/Role":
              f"{BASE_ROLE},arn:aws:iam::111111111111:saml-provider/corp",
              "http://schemas.xmlsoap.org/claims/Group": ["eng"]}
    result = simulate.simulate(snap, snap.providers_by_name["corp"], claims, acs_url=ACS)
    assert result.identity.subject == "ann"
    assert result.identity.attributes["groups"] == ("eng",)  # the AD FS alias, as at sign-in
    assert [c.role.arn for c in result.eligibility.candidates] == [BASE_ROLE]
    assert result.results[0].bound.seconds == 43200


def test_simulated_openid_claims_need_a_subject_and_hide_unverified_email() -> None:
    snap = snapshot([GOOGLE])
    google = snap.providers_by_name["google"]
    with pytest.raises(Invalid) as excinfo:
        simulate.simulate(snap, google, {"email": "a@b.c"}, acs_url=ACS)
    assert excinfo.value.problems[0].path == "claims.sub"
    result = simulate.simulate(snap, google, {"sub": "1", "email": "a@b.c"}, acs_url=ACS)
    assert "email" not in result.identity.attributes
    assert result.identity.condition_keys["accounts.google.com:aud"] == (
        "app.apps.googleusercontent.com",)


def test_the_duration_bound_names_the_idp_session_when_it_is_shortest() -> None:
    snap = snapshot()
    now = datetime(2030, 1, 1, tzinfo=UTC)
    identity = simulate.identity_from_claims(snap.providers_by_name["corp"], {"nameid": "x"},
                                             acs_url=ACS, now=now)
    from dataclasses import replace

    from gateway.roles import eligible_roles
    from gateway.roles.resolve import gate

    short = replace(identity, session_not_on_or_after=now + timedelta(minutes=20))
    candidate = gate(short, snap.providers_by_name["corp"], snap.roles_by_arn[BASE_ROLE], "t")
    bound = simulate.duration_bound(candidate, short, now)
    assert (bound.seconds, bound.because) == (1200, "the end of the identity provider's session")
    assert eligible_roles(short, snap, now).candidates == ()


def test_admin_rules_decide_who_is_an_admin() -> None:
    rules = [{"when": [{"claim": "groups", "operator": "equals", "value": "admins"},
                       {"claim": "email", "operator": "starts_with", "value": "root@"}]}]
    snap = snapshot(admin_rules=rules)
    corp = snap.providers_by_name["corp"]

    def person(**claims: Any) -> Any:
        return simulate.identity_from_claims(corp, {"nameid": "p", **claims}, acs_url=ACS,
                                             now=datetime.now(UTC))

    assert admin_for(person(groups=["admins"], email="root@x"), snap) is not None
    assert admin_for(person(groups=["admins"], email="me@x"), snap) is None
    assert admin_for(person(), snap) is None
    assert admin_for(person(groups=["admins"], email="root@x"), snapshot()) is None
    assert json.dumps(rules)  # the document shape the YAML holds
