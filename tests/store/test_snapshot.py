"""The in-memory snapshot: complete, indexed, immutable, parsed once, cheap to load."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from gateway import iam
from gateway.problems import Invalid, Problem
from gateway.store.config_io import import_config
from gateway.store.models import Account, IdentityProvider, MappingRule, Role, RolePolicy, RoleTag
from gateway.store.names import role_arn
from gateway.store.snapshot import Snapshot, load_snapshot
from tests.store.conftest import selects

DEV_DEVELOPER = "arn:aws:iam::222222222222:role/engineering/Developer"


@pytest.fixture
def snapshot(engine: Engine, demo_text: str) -> Snapshot:
    import_config(engine, demo_text, actor="t")
    return load_snapshot(engine, 7)


def test_snapshot_carries_its_version_and_every_entity(snapshot: Snapshot) -> None:
    assert snapshot.version == 7
    assert snapshot.problems == ()
    assert sorted(snapshot.accounts_by_id) == ["111111111111", "222222222222"]
    assert snapshot.accounts_by_id["222222222222"].alias == "acme-dev"
    assert len(snapshot.roles_by_arn) == 4
    assert sorted(snapshot.providers_by_name) == [
        "amazon", "demo-oidc", "demo-saml", "facebook", "google",
    ]  # fmt: skip


def test_role_indexes(snapshot: Snapshot) -> None:
    developer = snapshot.roles_by_arn[DEV_DEVELOPER]
    assert (developer.name, developer.path, developer.account_id) == (
        "Developer", "/engineering/", "222222222222",
    )  # fmt: skip
    assert developer.max_session_duration == 28800
    assert dict(developer.tags) == {"team": "engineering"}
    assert snapshot.roles_by_id["AROA2222DEVELOPER0001"] is developer
    assert [r.name for r in snapshot.roles_by_account["222222222222"]] == ["Developer", "ReadOnly"]


def test_provider_indexes_and_rules_in_order(snapshot: Snapshot) -> None:
    saml = snapshot.providers_by_saml_arn["arn:aws:iam::111111111111:saml-provider/demo-saml"]
    assert saml is snapshot.providers_by_name["demo-saml"]
    assert saml.federated_principal == saml.arn
    assert saml.options["relay_state_allowlist"] == ("http://127.0.0.1:8000/",)
    assert [r.role_arn for r in snapshot.rules_by_provider["demo-saml"]] == [
        "arn:aws:iam::111111111111:role/Admin",
        DEV_DEVELOPER,
        "arn:aws:iam::111111111111:role/ReadOnly",
    ]
    assert snapshot.rules_by_provider["demo-saml"] == saml.rules
    oidc = snapshot.providers_by_issuer["http://127.0.0.1:8000/demo/oidc"]
    assert oidc.name == "demo-oidc" and oidc.client_ids == ("gateway-demo",)
    assert oidc.arn == "arn:aws:iam::111111111111:oidc-provider/127.0.0.1:8000/demo/oidc"
    google = snapshot.providers_by_issuer["https://accounts.google.com"]
    assert google.federated_principal == "accounts.google.com"
    [first, _] = snapshot.rules_by_provider["google"]
    assert [(c.claim, c.operator, c.values) for c in first.conditions] == [
        ("hd", "equals", ("example.com",))
    ]


def test_snapshot_is_immutable(snapshot: Snapshot) -> None:
    with pytest.raises(TypeError):
        snapshot.roles_by_arn["x"] = snapshot.roles_by_arn[DEV_DEVELOPER]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.version = 8  # type: ignore[misc]
    role = snapshot.roles_by_arn[DEV_DEVELOPER]
    with pytest.raises(TypeError):
        role.tags["team"] = "x"  # type: ignore[index]
    assert isinstance(snapshot.rules_by_provider["google"], tuple)


def test_each_policy_is_parsed_once_and_the_parsed_form_kept(
    engine: Engine, demo_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_config(engine, demo_text, actor="t")
    calls: list[tuple[str, str]] = []

    def parse_policy(document: Any, *, kind: str, path: str = "") -> Any:
        calls.append((kind, path))
        return ("compiled", kind, json.dumps(document, sort_keys=True))

    monkeypatch.setattr(iam, "parse_policy", parse_policy)
    snapshot = load_snapshot(engine, 1)
    # Four trust policies and four inline ones, of which the two ReadOnlyAccess are equal.
    assert len(calls) == 7
    assert len({path for _, path in calls}) == 7
    developer = snapshot.roles_by_arn[DEV_DEVELOPER]
    assert developer.trust_policy[:2] == ("compiled", "trust")
    assert developer.policies["DevelopmentAccess"][:2] == ("compiled", "identity")
    prod, dev = (
        snapshot.roles_by_arn[f"arn:aws:iam::{a}:role/ReadOnly"] for a in ("1" * 12, "2" * 12)
    )
    assert prod.policies["ReadOnlyAccess"] is dev.policies["ReadOnlyAccess"]


def test_a_role_whose_policy_the_engine_refuses_is_left_out(
    engine: Engine, demo_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_config(engine, demo_text, actor="t")
    real = iam.parse_policy

    def parse_policy(document: Any, *, kind: iam.PolicyKind, path: str = "") -> Any:
        if DEV_DEVELOPER in path and kind == "identity":
            raise Invalid([Problem(f"{path}.Statement[1]", "unsupported")])
        return real(document, kind=kind, path=path)

    monkeypatch.setattr(iam, "parse_policy", parse_policy)
    snapshot = load_snapshot(engine, 1)
    assert DEV_DEVELOPER not in snapshot.roles_by_arn
    assert "AROA2222DEVELOPER0001" not in snapshot.roles_by_id
    assert len(snapshot.roles_by_arn) == 3
    assert [str(p) for p in snapshot.problems] == [
        f"roles[{DEV_DEVELOPER}].policies.DevelopmentAccess.Statement[1]: unsupported"
    ]
    with pytest.raises(Invalid):
        load_snapshot(engine, 1, strict=True)


def test_empty_store_gives_an_empty_snapshot(engine: Engine) -> None:
    snapshot = load_snapshot(engine, 0)
    assert snapshot.roles_by_arn == {} and snapshot.providers_by_name == {}


def _bulk_config(engine: Engine, *, accounts: int, roles: int, rules: int) -> None:
    """Rows straight into the tables: building through import would test import instead."""

    def trust(n: int) -> str:
        # Distinct documents: the worst case, as each must be compiled on its own.
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": f"Role{n}",
                        "Effect": "Allow",
                        "Principal": {"Federated": "arn:aws:iam::100000000000:saml-provider/p0"},
                        "Action": "sts:AssumeRoleWithSAML",
                        "Condition": {
                            "StringEquals": {"saml:aud": "http://127.0.0.1:8000/saml/acs"}
                        },
                    }
                ],
            }
        )

    def permissions(n: int) -> str:
        statement = {"Effect": "Allow", "Action": "s3:Get*", "Resource": f"arn:aws:s3:::b{n}/*"}
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    account_ids = [f"{100000000000 + a}" for a in range(accounts)]
    role_rows = []
    for n in range(roles):
        account = account_ids[n % accounts]
        name = f"Role{n:05d}"
        role_rows.append(
            {
                "id": n + 1,
                "role_id": f"AROA{n:017d}",
                "account_id": account,
                "name": name,
                "path": "/",
                "arn": role_arn(account, "/", name),
                "description": "",
                "trust_policy": trust(n),
                "max_session_duration": 3600,
            }
        )
    providers = 10
    with engine.begin() as conn:
        conn.execute(insert(Account), [{"id": a} for a in account_ids])
        conn.execute(insert(Role), role_rows)
        conn.execute(
            insert(RolePolicy),
            [
                {"role_pk": r["id"], "name": "Read", "document": permissions(n)}
                for n, r in enumerate(role_rows)
            ],
        )
        conn.execute(
            insert(RoleTag),
            [{"role_pk": r["id"], "key": "team", "value": "t"} for r in role_rows],
        )
        conn.execute(
            insert(IdentityProvider),
            [
                {
                    "id": p + 1,
                    "name": f"p{p}",
                    "kind": "saml",
                    "account_id": account_ids[0],
                    "arn": f"arn:aws:iam::{account_ids[0]}:saml-provider/p{p}",
                    "options": {},
                    "client_ids": [],
                    "scopes": [],
                    "endpoints": {},
                }
                for p in range(providers)
            ],
        )
        conn.execute(
            insert(MappingRule),
            [
                {
                    "provider_id": n % providers + 1,
                    "position": n // providers,
                    "description": "",
                    "conditions": [{"claim": "groups", "operator": "equals", "value": f"g{n}"}],
                    "role_arn": role_rows[n * 7 % roles]["arn"],
                }
                for n in range(rules)
            ],
        )


def test_large_configuration_loads_with_one_query_per_table(engine: Engine) -> None:
    _bulk_config(engine, accounts=20, roles=10_000, rules=1_000)
    with selects(engine) as queries:
        started = time.perf_counter()
        snapshot = load_snapshot(engine, 1)
        elapsed = time.perf_counter() - started
    # Reported, not asserted: timing depends on the machine (see the decision record).
    print(f"\nsnapshot of 10,000 roles and 1,000 rules loaded in {elapsed * 1000:.0f} ms")
    assert len(snapshot.roles_by_arn) == 10_000
    assert sum(len(r) for r in snapshot.rules_by_provider.values()) == 1_000
    assert [r.conditions[0].values for r in snapshot.rules_by_provider["p3"][:2]] == [
        ("g3",),
        ("g13",),
    ]
    # accounts, roles, role policies, role tags, providers, rules; and the newest change-log
    # id, which lets the next reload read only what changed after it
    assert len(queries) == 7


def test_a_reload_reuses_compiled_policies_and_compiles_only_changes(
    engine: Engine, demo_text: str
) -> None:
    import_config(engine, demo_text, actor="t")
    first = load_snapshot(engine, 1)
    changed = demo_text.replace("Full access to production", "Full access to prod")
    changed = changed.replace('Action: "*"', 'Action: "s3:*"', 1)
    import_config(engine, changed, actor="t")
    second = load_snapshot(engine, 2, previous=first)
    admin = "arn:aws:iam::111111111111:role/Admin"
    # Unchanged documents are the very same compiled objects; the edited one is new.
    assert second.roles_by_arn[admin].trust_policy is first.roles_by_arn[admin].trust_policy
    assert (second.roles_by_arn[admin].policies["AdministratorAccess"]
            is not first.roles_by_arn[admin].policies["AdministratorAccess"])
    assert second.roles_by_arn[DEV_DEVELOPER].policies["DevelopmentAccess"] is (
        first.roles_by_arn[DEV_DEVELOPER].policies["DevelopmentAccess"])
    assert len(second.compiled) == len(first.compiled)
