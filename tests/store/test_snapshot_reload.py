"""A reload after role changes re-reads only those roles, and ends where a full load ends.

Every case here compares the patched snapshot with a full load of the same database:
the patch is an optimisation and must never be a different answer.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
from sqlalchemy import Engine

from gateway import iam
from gateway.admin.edit import create_role, delete_role, edit_role
from gateway.problems import Invalid, Problem
from gateway.store import snapshot as snapshot_module
from gateway.store.config_io import import_document, load_yaml
from gateway.store.snapshot import Role, Snapshot, load_snapshot
from tests.store.conftest import selects

ACCOUNT = "111111111111"
DEV_DEVELOPER = "arn:aws:iam::222222222222:role/engineering/Developer"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Admin"
SAML_PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/demo-saml"
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Federated": SAML_PROVIDER},
    "Action": "sts:AssumeRoleWithSAML",
}]}
INDEXES = ("accounts_by_id", "roles_by_arn", "roles_by_id", "roles_by_account",
           "providers_by_name", "providers_by_saml_arn", "providers_by_issuer",
           "rules_by_provider")


def spare_role(name: str, bucket: str = "spare", path: str = "/") -> dict[str, Any]:
    """A role no mapping rule names: adding, moving or deleting it changes only roles."""
    return {"name": name, "path": path, "trust_policy": TRUST, "policies": {"Data": {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/*"}]}}}


@pytest.fixture
def document(demo_text: str) -> dict[str, Any]:
    doc: dict[str, Any] = load_yaml(demo_text)
    account = next(a for a in doc["accounts"] if a["id"] == ACCOUNT)
    account["roles"] += [spare_role("Scratch"), spare_role("Spare", "other")]
    return doc


@pytest.fixture
def first(engine: Engine, document: dict[str, Any]) -> Snapshot:
    import_document(engine, document, actor="t")
    return load_snapshot(engine, 1)


def roles_of(doc: dict[str, Any], account_id: str = ACCOUNT) -> list[dict[str, Any]]:
    roles: list[dict[str, Any]] = next(a for a in doc["accounts"] if a["id"] == account_id)["roles"]
    return roles


def plain(value: Any) -> Any:
    """Indexes with roles as plain values: compiled policies by their source text (two
    compilations of one document need not compare equal: compiled matchers do not)."""
    if isinstance(value, Role):
        return (*(getattr(value, f.name) for f in dataclasses.fields(Role)
                  if f.name not in ("trust_policy", "policies")),
                value.trust_policy.source,
                {name: policy.source for name, policy in value.policies.items()})
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


def assert_same(patched: Snapshot, full: Snapshot) -> None:
    for name in INDEXES:
        assert {k: plain(v) for k, v in getattr(patched, name).items()} == {
            k: plain(v) for k, v in getattr(full, name).items()}, name
    assert sorted(map(str, patched.problems)) == sorted(map(str, full.problems))
    assert (patched.version, patched.change_id) == (full.version, full.change_id)


def test_a_role_edit_re_reads_that_role_only(engine: Engine, first: Snapshot) -> None:
    def change(role: dict[str, Any]) -> dict[str, Any]:
        role["description"] = "edited"
        role["policies"]["AdministratorAccess"]["Statement"][0]["Action"] = "s3:*"
        return role

    edit_role(engine, ACCOUNT, "Admin", change, actor="t")
    with selects(engine) as statements:
        second = load_snapshot(engine, 2, previous=first)
    assert not any("mapping_rules" in s or "identity_providers" in s for s in statements)
    assert_same(second, load_snapshot(engine, 2))
    assert second.roles_by_arn[ADMIN].description == "edited"
    # Everything else is the previous snapshot's, object for object.
    assert second.providers_by_name is first.providers_by_name
    assert second.roles_by_arn[DEV_DEVELOPER] is first.roles_by_arn[DEV_DEVELOPER]
    assert (second.roles_by_arn[ADMIN].trust_policy
            is first.roles_by_arn[ADMIN].trust_policy)  # unchanged document, not recompiled


def test_roles_created_deleted_and_moved_are_patched(
    engine: Engine, first: Snapshot, document: dict[str, Any]
) -> None:
    changed = copy.deepcopy(document)
    roles = roles_of(changed)
    roles[:] = [r for r in roles if r["name"] != "Scratch"]
    next(r for r in roles if r["name"] == "Spare")["path"] = "/moved/"
    roles.append(spare_role("Fresh", "fresh"))
    roles_of(changed, "222222222222").append(spare_role("Scratch", "same-name-elsewhere"))
    import_document(engine, changed, actor="t")
    second = load_snapshot(engine, 2, previous=first)
    assert second.providers_by_name is first.providers_by_name  # patched, not re-read
    assert_same(second, load_snapshot(engine, 2))
    arns = set(second.roles_by_arn)
    assert f"arn:aws:iam::{ACCOUNT}:role/Scratch" not in arns
    assert f"arn:aws:iam::{ACCOUNT}:role/moved/Spare" in arns
    assert f"arn:aws:iam::{ACCOUNT}:role/Spare" not in arns
    assert {f"arn:aws:iam::{ACCOUNT}:role/Fresh",
            "arn:aws:iam::222222222222:role/Scratch"} <= arns
    assert [r.name for r in second.roles_by_account[ACCOUNT]] == sorted(
        r["name"] for r in roles_of(changed))


def test_a_role_created_then_deleted_on_the_admin_page_is_patched_in_and_out(
    engine: Engine, first: Snapshot
) -> None:
    """`create_role` and `delete_role` (the role pages' writes): the reload re-reads that
    role only, and it is in, then out of, every index a full load has."""
    arn = f"arn:aws:iam::{ACCOUNT}:role/teams/Fresh"
    create_role(engine, ACCOUNT, spare_role("Fresh", "fresh", "/teams/"), actor="t")
    with selects(engine) as statements:
        second = load_snapshot(engine, 2, previous=first)
    assert not any("mapping_rules" in s or "identity_providers" in s for s in statements)
    assert second.providers_by_name is first.providers_by_name
    assert_same(second, load_snapshot(engine, 2))
    created = second.roles_by_arn[arn]
    assert second.roles_by_id[created.role_id] is created
    assert created in second.roles_by_account[ACCOUNT]
    assert "arn:aws:s3:::fresh/*" in created.policies["Data"].source  # compiled

    delete_role(engine, ACCOUNT, "Fresh", actor="t")
    third = load_snapshot(engine, 3, previous=second)
    assert third.providers_by_name is first.providers_by_name
    assert_same(third, load_snapshot(engine, 3))
    assert arn not in third.roles_by_arn and created.role_id not in third.roles_by_id
    assert "Fresh" not in {r.name for r in third.roles_by_account[ACCOUNT]}
    assert not any("arn:aws:s3:::fresh/*" in text for _, text in third.compiled)


def test_deleting_every_role_of_an_account_drops_its_entry(
    engine: Engine, demo_text: str
) -> None:
    doc = load_yaml(demo_text)
    doc["accounts"].append({"id": "333333333333", "roles": [spare_role("Only")]})
    import_document(engine, doc, actor="t")
    first = load_snapshot(engine, 1)
    roles_of(doc, "333333333333").clear()
    import_document(engine, doc, actor="t")
    second = load_snapshot(engine, 2, previous=first)
    assert second.providers_by_name is first.providers_by_name
    assert "333333333333" not in second.roles_by_account
    assert_same(second, load_snapshot(engine, 2))


def test_any_other_change_reads_everything(
    engine: Engine, first: Snapshot, document: dict[str, Any]
) -> None:
    changed = copy.deepcopy(document)
    changed["identity_providers"][0]["display_name"] = "Renamed"
    roles_of(changed)[-1]["description"] = "and a role"
    import_document(engine, changed, actor="t")
    second = load_snapshot(engine, 2, previous=first)
    assert second.providers_by_name is not first.providers_by_name
    assert_same(second, load_snapshot(engine, 2))


def test_more_changes_than_the_limit_read_everything(
    engine: Engine, first: Snapshot, document: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_module, "PATCH_LIMIT", 1)
    changed = copy.deepcopy(document)
    for role in roles_of(changed)[-2:]:
        role["description"] = "changed"
    import_document(engine, changed, actor="t")
    second = load_snapshot(engine, 2, previous=first)
    assert second.providers_by_name is not first.providers_by_name
    assert_same(second, load_snapshot(engine, 2))


def test_a_bump_without_a_change_keeps_the_snapshot_under_the_new_version(
    engine: Engine, first: Snapshot
) -> None:
    with selects(engine) as statements:
        second = load_snapshot(engine, 2, previous=first)
    assert len(statements) == 1  # the newest change id, nothing else
    assert second.version == 2 and second.roles_by_arn is first.roles_by_arn
    assert_same(second, load_snapshot(engine, 2))


def test_a_refused_role_is_reported_until_fixed_then_indexed_and_back(
    engine: Engine, document: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The policy engine refusing a stored document (a newer engine, say) leaves the role
    out with a problem; the patch drops that problem when the role changes."""
    real = iam.parse_policy

    def parse_policy(doc: Any, *, kind: iam.PolicyKind, path: str = "") -> Any:
        if "refuse-me" in json.dumps(doc):
            raise Invalid([Problem(f"{path}.Statement[0]", "refused by the engine")])
        return real(doc, kind=kind, path=path)

    monkeypatch.setattr(iam, "parse_policy", parse_policy)
    scratch = f"arn:aws:iam::{ACCOUNT}:role/Scratch"
    refused = copy.deepcopy(document)
    roles_of(refused)[-2] = spare_role("Scratch", "refuse-me")
    import_document(engine, refused, actor="t")
    first = load_snapshot(engine, 1)
    assert scratch not in first.roles_by_arn and len(first.problems) == 1

    import_document(engine, document, actor="t")
    second = load_snapshot(engine, 2, previous=first)
    assert second.providers_by_name is first.providers_by_name
    assert scratch in second.roles_by_arn and second.problems == ()
    assert_same(second, load_snapshot(engine, 2))

    import_document(engine, refused, actor="t")
    third = load_snapshot(engine, 3, previous=second)
    assert scratch not in third.roles_by_arn
    assert [p.path for p in third.problems] == [f"roles[{scratch}].policies.Data.Statement[0]"]
    assert_same(third, load_snapshot(engine, 3))


def test_patches_in_a_row_hold_only_the_compiled_policies_in_use(
    engine: Engine, first: Snapshot
) -> None:
    current = first
    for edition in range(5):
        def change(role: dict[str, Any], edition: int = edition) -> dict[str, Any]:
            role["policies"]["Data"]["Statement"][0]["Resource"] = f"arn:aws:s3:::e{edition}/*"
            return role

        edit_role(engine, ACCOUNT, "Scratch", change, actor="t")
        current = load_snapshot(engine, 2 + edition, previous=current)
    full = load_snapshot(engine, 6)
    assert_same(current, full)
    assert set(current.compiled) == set(full.compiled)
