"""`edit_role`: one role's edit, validated and written like the whole-document `edit_config`
would, without reading or validating the rest of the configuration."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import Engine

from gateway.admin.edit import edit_config, edit_role, find_role, stored_role
from gateway.problems import Invalid
from gateway.store.changelog import changes
from gateway.store.config_io import export_config, import_config
from tests.store.conftest import dump_database

ACCOUNT = "222222222222"
DEVELOPER = f"arn:aws:iam::{ACCOUNT}:role/engineering/Developer"
READ = {"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


@pytest.fixture
def demo(engine: Engine, demo_text: str) -> Engine:
    import_config(engine, demo_text, actor="t")
    return engine


def edit(role: dict[str, Any]) -> dict[str, Any]:
    role["description"] = "Edited"
    role["max_session_duration"] = 7200
    role["tags"] = {"team": "data"}
    role["policies"] = {**role.get("policies", {}), "Read": READ}
    return role


def test_the_result_is_the_whole_document_edit_s(
    demo: Engine, demo_text: str, tmp_path_factory: pytest.TempPathFactory, engine: Engine
) -> None:
    """Same stored configuration, same change-log row, same report as `edit_config`."""
    report = edit_role(demo, ACCOUNT, "Developer", edit, actor="alice")
    exported, logged = export_config(demo), changes(demo, limit=1)[0]
    # Undo through an import of the original, then the same change the whole-document way.
    import_config(demo, demo_text, actor="t")

    def whole(config: dict[str, Any]) -> None:
        a_index, r_index, role = find_role(config, ACCOUNT, "Developer")
        config["accounts"][a_index]["roles"][r_index] = edit(role)

    whole_report, _ = edit_config(demo, whole, actor="alice")
    assert export_config(demo) == exported
    expected = changes(demo, limit=1)[0]
    assert (logged.action, logged.entity_key, logged.before, logged.after, logged.actor) == (
        expected.action, expected.entity_key, expected.before, expected.after, expected.actor)
    assert [str(c) for c in report.changes] == [str(c) for c in whole_report.changes] == [
        f"update role {DEVELOPER}"]


def test_a_bad_policy_is_refused_at_its_path_and_nothing_is_written(demo: Engine) -> None:
    before = dump_database(demo)

    def bad(role: dict[str, Any]) -> dict[str, Any]:
        role["policies"]["Read"] = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Maybe", "Action": "s3:GetObject", "Resource": "*"}]}
        role["max_session_duration"] = 60
        return role

    with pytest.raises(Invalid) as refused:
        edit_role(demo, ACCOUNT, "Developer", bad, actor="t")
    paths = [p.path for p in refused.value.problems]
    assert "policies.Read.Statement[0].Effect" in paths
    assert "max_session_duration" in paths  # every problem, not the first
    assert dump_database(demo) == before


@pytest.mark.parametrize(("field", "value", "path"), [
    ("name", "Other", "name"), ("path", "/elsewhere/", "path"),
    ("id", "AROAAAAAAAAAAAAAAAAAA", "id"),
])
def test_what_other_entities_refer_to_cannot_change_here(
    demo: Engine, field: str, value: str, path: str
) -> None:
    before = dump_database(demo)

    def move(role: dict[str, Any]) -> dict[str, Any]:
        role[field] = value
        return role

    with pytest.raises(Invalid) as refused:
        edit_role(demo, ACCOUNT, "Developer", move, actor="t")
    assert [p.path for p in refused.value.problems] == [path]
    assert dump_database(demo) == before


def test_an_unknown_role_is_refused(demo: Engine) -> None:
    with pytest.raises(Invalid) as refused:
        edit_role(demo, ACCOUNT, "Nobody", edit, actor="t")
    assert "there is no role Nobody" in str(refused.value)


def test_revocation_only_moves_forward_and_no_change_writes_nothing(demo: Engine) -> None:
    def revoke(at: str) -> Any:
        def change(role: dict[str, Any]) -> dict[str, Any]:
            role["revoke_sessions_before"] = at
            return role
        return change

    edit_role(demo, ACCOUNT, "Developer", revoke("2030-01-01T00:00:00Z"), actor="t")
    report = edit_role(demo, ACCOUNT, "Developer", revoke("2020-01-01T00:00:00Z"), actor="t")
    assert not report.changed and report.notes
    assert stored_role(demo, ACCOUNT, "Developer")["revoke_sessions_before"] == (  # type: ignore[index]
        "2030-01-01T00:00:00Z")
    before = dump_database(demo)
    assert not edit_role(demo, ACCOUNT, "Developer", copy.deepcopy, actor="t").changed
    assert dump_database(demo) == before
