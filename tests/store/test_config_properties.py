"""Properties of import/export over generated configurations, on every backend."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from gateway.store.config_io import dump_yaml, export_config, import_config, load_yaml
from gateway.store.config_schema import ConfigSpec, parse_config
from gateway.store.models import Base
from gateway.store.names import role_arn

ACCOUNTS = ["111111111111", "222222222222", "333333333333"]
NAMES = st.text("ABCdev-_.", min_size=1, max_size=8).filter(lambda s: s[0].isalpha())
WORDS = st.text("abcxyz019 -é", max_size=12)


def _trust(sid: str, audience: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::111111111111:saml-provider/corp"},
                "Action": "sts:AssumeRoleWithSAML",
                "Condition": {"StringEquals": {"saml:aud": audience}},
            }
        ],
    }


def _permissions(effect: str, actions: list[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": effect, "Action": actions, "Resource": "*"}],
    }


roles_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "name": NAMES,
            "path": st.sampled_from(["/", "/ops/", "/a/b/"]),
            "description": WORDS,
            "max_session_duration": st.integers(3600, 43200),
            "tags": st.dictionaries(st.sampled_from(["team", "env", "cost"]), WORDS, max_size=2),
            "trust_policy": st.builds(
                _trust,
                st.text("AbZ09", min_size=1, max_size=5),
                st.sampled_from(["http://127.0.0.1:8000/saml/acs", "https://gw.example.com/acs"]),
            ),
            "policies": st.dictionaries(
                st.sampled_from(["Read", "Write", "Deny"]),
                st.builds(
                    _permissions,
                    st.sampled_from(["Allow", "Deny"]),
                    st.lists(
                        st.sampled_from(["s3:Get*", "ec2:*", "sqs:SendMessage"]),
                        min_size=1,
                        max_size=3,
                        unique=True,
                    ),
                ),
                max_size=2,
            ),
        }
    ),
    max_size=4,
    unique_by=lambda r: str(r["name"]).lower(),
)


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    account_ids = draw(st.lists(st.sampled_from(ACCOUNTS), min_size=1, max_size=3, unique=True))
    accounts = []
    arns = []
    for index, account_id in enumerate(account_ids):
        roles = draw(roles_strategy)
        arns += [role_arn(account_id, str(r["path"]), str(r["name"])) for r in roles]
        alias = draw(st.sampled_from([None, f"acct-{index}", f"acct-{index + 1}x"]))
        accounts.append({"id": account_id, "roles": roles, **({"alias": alias} if alias else {})})
    providers = []
    names = draw(st.lists(st.sampled_from(["corp", "okta", "partner"]), max_size=3, unique=True))
    kinds = [(name, draw(st.sampled_from(["saml", "oidc"]))) for name in names]
    # At most one google provider: issuers are unique, and google's is fixed.
    for name, kind in kinds + ([("google", "google")] if draw(st.booleans()) else []):
        provider: dict[str, Any] = {"name": name, "kind": kind, "account": account_ids[0]}
        if kind == "oidc":
            provider["issuer"] = f"https://{name}.example.com"
        if kind != "saml":
            provider["client_ids"] = draw(
                st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, unique=True)
            )
        if arns:
            provider["mapping_rules"] = draw(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "when": st.lists(
                                st.fixed_dictionaries(
                                    {
                                        "claim": st.sampled_from(["groups", "email"]),
                                        "operator": st.sampled_from(["equals", "matches"]),
                                        "value": WORDS,
                                    }
                                ),
                                min_size=1,
                                max_size=2,
                            ),
                            "role": st.sampled_from(arns),
                        }
                    ),
                    max_size=3,
                )
            )
        providers.append(provider)
    return {"accounts": accounts, "identity_providers": providers}


def _without_role_ids(spec: ConfigSpec) -> ConfigSpec:
    return dataclasses.replace(
        spec, roles=tuple(dataclasses.replace(r, role_id=None) for r in spec.roles)
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=configs(), second=configs())
def test_import_makes_the_store_equal_to_the_file_whatever_was_there(
    engine: Engine, first: dict[str, Any], second: dict[str, Any]
) -> None:
    # Each example starts from an empty store, so a failure replays the same way.
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    import_config(engine, dump_yaml(first), actor="p")
    before = {
        (r["name"], a["id"]): r["id"]
        for a in load_yaml(export_config(engine))["accounts"]
        for r in a["roles"]
    }
    import_config(engine, dump_yaml(second), actor="p")
    exported = export_config(engine)

    # The store now holds exactly the second file, role ids aside.
    assert _without_role_ids(parse_config(load_yaml(exported))) == parse_config(second)
    # Roles present in both keep the id they had.
    for account in load_yaml(exported)["accounts"]:
        for role in account["roles"]:
            if (role["name"], account["id"]) in before:
                assert role["id"] == before[(role["name"], account["id"])]
    # Export is a fixed point: importing it changes nothing and exports the same bytes.
    assert not import_config(engine, exported, actor="p").changed
    assert export_config(engine) == exported
