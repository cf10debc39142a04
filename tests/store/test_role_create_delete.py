"""`create_role` and `delete_role`: one role added or removed, validated and written like the
whole-document `edit_config` would, without reading or validating the rest of the
configuration."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine

from gateway.admin.edit import (
    create_role,
    current_spec,
    delete_role,
    edit_config,
    find_account,
    find_role,
)
from gateway.problems import Invalid, Problem
from gateway.store.changelog import Change, changes
from gateway.store.config_db import ImportReport
from gateway.store.config_io import import_config, import_document, load_yaml
from gateway.store.config_schema import ConfigSpec
from tests.store.conftest import dump_database, whole_table_reads

PROD, DEV = "111111111111", "222222222222"
SAML = f"arn:aws:iam::{PROD}:saml-provider/demo-saml"
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Federated": SAML}, "Action": "sts:AssumeRoleWithSAML",
}]}
READ = {"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
# A role the demo's mapping rules name in five providers, one of them twice.
DEV_READONLY = f"arn:aws:iam::{DEV}:role/ReadOnly"


@pytest.fixture
def demo(engine: Engine, demo_text: str) -> Engine:
    import_config(engine, demo_text, actor="t")
    return engine


def new_role(name: str = "Reader") -> dict[str, Any]:
    return {"name": name, "path": "/data/", "description": "Reads things",
            "max_session_duration": 7200, "tags": {"team": "data"},
            "trust_policy": copy.deepcopy(TRUST), "policies": {"Read": copy.deepcopy(READ)}}


def whole_document_create(engine: Engine, account_id: str, role: dict[str, Any]
                          ) -> ImportReport:
    """What the role page's "create" wrote before `create_role`."""
    def change(config: dict[str, Any]) -> None:
        existing = find_account(config, account_id).setdefault("roles", [])
        if any(r["name"] == role["name"] for r in existing):
            raise Invalid([Problem("name", f"account {account_id} has a role "
                                           f"{role['name']} already")])
        existing.append(copy.deepcopy(role))
    return edit_config(engine, change, actor="alice")[0]


def whole_document_delete(engine: Engine, account_id: str, name: str) -> ImportReport:
    """What the role page's "delete" wrote before `delete_role`."""
    def change(config: dict[str, Any]) -> None:
        a_index, r_index, _ = find_role(config, account_id, name)
        del config["accounts"][a_index]["roles"][r_index]
    return edit_config(engine, change, actor="alice")[0]


def without_id(spec: ConfigSpec, arn: str) -> ConfigSpec:
    """`spec` with the generated id of role `arn` left out (a fresh id each time)."""
    return replace(spec, roles=tuple(
        replace(r, role_id=None) if r.arn == arn else r for r in spec.roles))


def logged(change: Change) -> tuple[Any, ...]:
    def plain(document: dict[str, Any] | None) -> dict[str, Any] | None:
        return {k: v for k, v in document.items() if k != "id"} if document else document
    return (change.actor, change.action, change.entity_type, change.entity_key,
            plain(change.before), plain(change.after))


# ---------------------------------------------------------------- create


def test_a_created_role_is_what_the_whole_document_edit_writes(
    demo: Engine, demo_text: str
) -> None:
    """Same stored configuration, same change-log row, same report as `edit_config`; and
    no role or rule table is read whole (the test that fails on the whole-document path)."""
    arn = f"arn:aws:iam::{DEV}:role/data/Reader"
    with whole_table_reads(demo) as reads:
        report = create_role(demo, DEV, new_role(), actor="alice")
    assert reads == []
    stored, row = current_spec(demo), changes(demo, limit=1)[0]
    created = next(r for r in stored.roles if r.arn == arn)
    assert created.role_id is not None and re.fullmatch(r"AROA[A-Z0-9]{17}", created.role_id)
    assert row.after is not None and row.after["id"] == created.role_id

    import_config(demo, demo_text, actor="t")  # undo, then the whole-document way
    expected = whole_document_create(demo, DEV, new_role())
    assert without_id(current_spec(demo), arn) == without_id(stored, arn)
    assert logged(row) == logged(changes(demo, limit=1)[0])
    assert row.before is None and row.after["account"] == DEV
    assert [str(c) for c in report.changes] == [str(c) for c in expected.changes] == [
        f"create role {arn}"]
    assert report.notes == expected.notes == ()


def test_a_role_with_its_own_id_keeps_it(demo: Engine) -> None:
    role = {**new_role(), "id": "AROA2222READER0000001"}
    create_role(demo, DEV, role, actor="t")
    assert any(r.role_id == "AROA2222READER0000001" for r in current_spec(demo).roles)


@pytest.mark.parametrize(("account_id", "role", "problems"), [
    (DEV, {**new_role("ReadOnly")},
     [Problem("name", f"account {DEV} has a role ReadOnly already")]),
    ("999999999999", new_role(), [Problem("account", "there is no account 999999999999")]),
])
def test_a_taken_name_or_an_unknown_account_is_refused_as_before(
    demo: Engine, account_id: str, role: dict[str, Any], problems: list[Problem]
) -> None:
    before = dump_database(demo)
    with pytest.raises(Invalid) as refused:
        create_role(demo, account_id, role, actor="t")
    assert refused.value.problems == problems
    assert dump_database(demo) == before
    # The whole-document path said the same.
    with pytest.raises(Invalid) as whole:
        whole_document_create(demo, account_id, role)
    assert whole.value.problems == problems


def test_every_problem_with_the_role_is_reported_with_its_path_and_nothing_is_written(
    demo: Engine
) -> None:
    before = dump_database(demo)
    role = new_role("readonly")  # ReadOnly, but for case
    role["policies"]["Read"]["Statement"][0]["Effect"] = "Maybe"
    role["max_session_duration"] = 60
    role["tags"] = {"aws:reserved": "x"}
    with pytest.raises(Invalid) as refused:
        create_role(demo, DEV, role, actor="t")
    paths = sorted(p.path for p in refused.value.problems)
    assert paths == ["max_session_duration", "name", "policies.Read.Statement[0].Effect",
                     "tags.aws:reserved"]
    assert dump_database(demo) == before


def test_a_name_taken_but_for_case_and_a_taken_id_are_refused(demo: Engine) -> None:
    before = dump_database(demo)
    role = {**new_role("readonly"), "id": "AROA1111ADMIN00000001"}  # Admin's, in PROD
    with pytest.raises(Invalid) as refused:
        create_role(demo, DEV, role, actor="t")
    messages = {p.path: p.message for p in refused.value.problems}
    assert messages.keys() == {"id", "name"}
    assert "ReadOnly" in messages["name"] and f"arn:aws:iam::{PROD}:role/Admin" in messages["id"]
    assert dump_database(demo) == before


# ---------------------------------------------------------------- delete


def test_a_deleted_role_is_what_the_whole_document_edit_writes(
    demo: Engine, demo_text: str
) -> None:
    arn = f"arn:aws:iam::{PROD}:role/Admin"
    doc = load_yaml(demo_text)  # nothing may name Admin: drop the rule that does
    doc["identity_providers"][0]["mapping_rules"].pop(0)
    import_document(demo, doc, actor="t")
    with whole_table_reads(demo) as reads:
        report = delete_role(demo, PROD, "Admin", actor="alice")
    assert reads == []
    stored, row = current_spec(demo), changes(demo, limit=1)[0]
    assert arn not in {r.arn for r in stored.roles}

    import_document(demo, doc, actor="t")
    expected = whole_document_delete(demo, PROD, "Admin")
    assert current_spec(demo) == stored
    assert (row.before, row.after) == (changes(demo, limit=1)[0].before, None)
    assert logged(row) == logged(changes(demo, limit=1)[0])
    assert row.before is not None and row.before["id"] == "AROA1111ADMIN00000001"
    assert [str(c) for c in report.changes] == [str(c) for c in expected.changes] == [
        f"delete role {arn}"]


def test_a_role_that_rules_name_is_refused_at_the_same_paths_as_before(
    demo: Engine, demo_text: str
) -> None:
    """Every rule and default role naming it, in document order, as `parse_config` says."""
    doc = load_yaml(demo_text)
    doc["identity_providers"][1]["default_role"] = DEV_READONLY
    import_document(demo, doc, actor="t")
    before = dump_database(demo)
    with pytest.raises(Invalid) as refused:
        delete_role(demo, DEV, "ReadOnly", actor="t")
    assert dump_database(demo) == before
    with pytest.raises(Invalid) as whole:
        whole_document_delete(demo, DEV, "ReadOnly")
    assert refused.value.problems == whole.value.problems
    paths = [p.path for p in refused.value.problems]
    # Providers by name: amazon, demo-oidc, demo-saml, facebook, google.
    assert paths == ["identity_providers[0].mapping_rules[0].role",
                     "identity_providers[1].mapping_rules[1].role",
                     "identity_providers[1].default_role",
                     "identity_providers[3].mapping_rules[0].role",
                     "identity_providers[4].mapping_rules[0].role"]


def test_an_unknown_role_is_refused(demo: Engine) -> None:
    with pytest.raises(Invalid) as refused:
        delete_role(demo, DEV, "Nobody", actor="t")
    assert refused.value.problems == [Problem("role", f"there is no role Nobody in account {DEV}")]
