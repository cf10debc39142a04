"""The role pages with thousands of roles: one role's edit, creation or deletion is written
and applied alone, still refused at its JSON path (or naming the rules that refer to it)
when wrong, and the list comes a page at a time.

How fast is bench/bench_scale.py's business ("admin: edit one role", "admin: create and
delete one role"); these tests check that the fast path gives the same answers."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from gateway import create_app
from gateway.admin.edit import current_spec
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.changelog import changes
from gateway.store.config_io import import_document
from gateway.store.snapshot import load_snapshot
from tests.store.conftest import whole_table_reads
from tests.web.admin.support import AdminBrowser, BoundServer, admin_link

ROLES = 2_000
RULES = 200
ACCOUNTS = 8
PROVIDER = "corp"
DASH = "\N{EN DASH}"  # the list's heading: "Roles 1-100 of 2000" with an en dash


def account_id(n: int) -> str:
    return f"{100000000000 + n % ACCOUNTS}"


def role_name(n: int) -> str:
    return f"Role{n:05d}"


def role(n: int) -> dict[str, Any]:
    """Each role with trust and permission documents of its own, as bench_scale builds."""
    return {
        "name": role_name(n), "path": "/teams/", "description": f"team {n}",
        "trust_policy": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{account_id(0)}:saml-provider/{PROVIDER}"},
            "Action": "sts:AssumeRoleWithSAML",
        }]},
        "policies": {"Data": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::team-{n}/*",
        }]}},
        "tags": {"team": f"t{n % 97}"},
    }


def document() -> dict[str, Any]:
    accounts: list[dict[str, Any]] = [{"id": account_id(a), "roles": []} for a in range(ACCOUNTS)]
    for n in range(ROLES):
        accounts[n % ACCOUNTS]["roles"].append(role(n))
    rules = [{"when": [{"claim": "groups", "operator": "equals", "value": f"g{n}"}],
              "role": f"arn:aws:iam::{account_id(n * 7 % ROLES)}:role/teams/"
                      f"{role_name(n * 7 % ROLES)}"} for n in range(RULES)]
    return {"accounts": accounts, "identity_providers": [
        {"name": PROVIDER, "kind": "saml", "account": account_id(0), "mapping_rules": rules}]}


@pytest.fixture(scope="module")
def large_document() -> dict[str, Any]:
    return document()


@pytest.fixture
def large(admin_settings: Settings, large_document: dict[str, Any]) -> Iterator[BoundServer]:
    app = create_app(admin_settings)
    rt: Runtime = app.extensions["gateway"]
    import_document(rt.engine, large_document, actor="test")
    rt.config.bump()
    server = BoundServer(app, int(admin_settings.base_url.rsplit(":", 1)[1]))
    yield server
    server.stop()


@pytest.fixture
def admin(large: BoundServer, env: dict[str, str]) -> AdminBrowser:
    browser = AdminBrowser(large.url)
    browser.sign_in(admin_link(env))
    return browser


# A role in the middle of an account that no mapping rule names (rule n names role n * 7,
# and 1,234 is no multiple of 7): the delete test relies on it.
TARGET = 1_234
ACCOUNT, NAME = account_id(TARGET), role_name(TARGET)
ARN = f"arn:aws:iam::{ACCOUNT}:role/teams/{NAME}"
PAGE = f"/admin/roles/{ACCOUNT}/{NAME}"


def textarea(page: str, field_id: str) -> str:
    found = re.search(rf'id="{field_id}"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, field_id
    return html.unescape(found.group(1))


def errors_of(page: str, field_id: str) -> str:
    found = re.search(rf'<ul class="field-errors" id="{field_id}-errors">(.*?)</ul>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))) if found else ""


def form(page: str, **fields: str) -> dict[str, str]:
    """The role form as a browser would send it back, with `fields` changed."""
    data = {"description": f"team {TARGET}", "max_session_duration": "3600",
            "tags": "team=t70", "trust_policy": textarea(page, "role-trust"),
            "policy_count": "2", "policy-0-name": "Data",
            "policy-0-document": textarea(page, "policy-0-document")}
    data.update(fields)
    return data


def test_editing_one_role_among_thousands_writes_and_applies_only_that_role(
    admin: AdminBrowser, large: BoundServer
) -> None:
    rt = large.runtime
    before, role_id = current_spec(rt.engine), rt.snapshot.roles_by_arn[ARN].role_id
    logged = changes(rt.engine, limit=1)[0].id
    page = admin.get(PAGE).text
    policy = json.loads(textarea(page, "policy-0-document"))
    policy["Statement"][0]["Action"] = ["s3:GetObject", "s3:ListBucket"]
    response = admin.post(PAGE, form(page, description="Edited at scale",
                                     **{"policy-0-document": json.dumps(policy)}))
    assert response.status_code == 303, response.text
    landing = admin.get(response.headers["Location"])
    assert landing.status_code == 200
    assert f"Role {NAME} saved." in landing.text
    assert "Edited at scale" in landing.text

    # Live in this process at once, and what a full load of the database gives.
    edited = rt.snapshot.roles_by_arn[ARN]
    assert (edited.description, edited.role_id) == ("Edited at scale", role_id)
    reloaded = load_snapshot(rt.engine, rt.snapshot.version).roles_by_arn[ARN]
    assert edited.policies["Data"].source == reloaded.policies["Data"].source
    assert "s3:ListBucket" in edited.policies["Data"].source
    assert len(rt.snapshot.roles_by_arn) == ROLES

    # Stored: that role changed, nothing else; one change-log row with before and after.
    after = current_spec(rt.engine)
    assert (after.accounts, after.providers) == (before.accounts, before.providers)
    old, new = {r.key: r for r in before.roles}, {r.key: r for r in after.roles}
    assert new.keys() == old.keys()
    assert [key for key in new if new[key] != old[key]] == [(ACCOUNT, NAME)]
    newest = [c for c in changes(rt.engine, limit=10) if c.id > logged]
    assert len(newest) == 1
    assert (newest[0].entity_key, newest[0].action) == (ARN, "update")
    assert newest[0].before["description"] == f"team {TARGET}"  # type: ignore[index]
    assert newest[0].after["description"] == "Edited at scale"  # type: ignore[index]


@pytest.mark.parametrize(("field", "document", "field_id", "path"), [
    ("policy-0-document", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Maybe", "Action": "s3:GetObject", "Resource": "*"}]},
     "policy-0-document", "policies.Data.Statement[0].Effect"),
    ("policy-0-document", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject"}]},
     "policy-0-document", "policies.Data.Statement[0]"),
    ("trust_policy", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": "x"}, "Action": "sts:Nope:x"}]},
     "role-trust", "trust_policy.Statement[0].Action"),
])
def test_a_bad_policy_among_thousands_is_refused_at_its_path_and_nothing_changes(
    admin: AdminBrowser, large: BoundServer, field: str, document: dict[str, Any],
    field_id: str, path: str,
) -> None:
    rt = large.runtime
    before, logged = current_spec(rt.engine), changes(rt.engine, limit=1)[0].id
    version, stored = rt.snapshot.version, rt.snapshot.roles_by_arn[ARN]
    page = admin.get(PAGE).text
    response = admin.post(PAGE, form(page, **{field: json.dumps(document)}))
    assert response.status_code == 400
    assert path in errors_of(response.text, field_id), response.text
    assert "Nothing was saved" in response.text
    assert current_spec(rt.engine) == before
    assert changes(rt.engine, limit=1)[0].id == logged
    assert (rt.snapshot.version, rt.snapshot.roles_by_arn[ARN]) == (version, stored)


def role_links(page: str) -> list[str]:
    return re.findall(r'href="/admin/roles/(\d{12}/Role\d{5})"', page)


def test_the_roles_list_comes_a_page_at_a_time_and_filters_on_the_server(
    admin: AdminBrowser,
) -> None:
    first = admin.get("/admin/roles")
    assert first.status_code == 200
    text = html.unescape(first.text)
    assert len(role_links(first.text)) == 100
    assert f"Roles 1{DASH}100 of {ROLES}" in text and "Page 1 of 20" in text
    assert 'rel="next" href="/admin/roles?page=2"' in first.text
    assert 'rel="prev"' not in first.text

    last = admin.get("/admin/roles?page=20")
    assert f"Roles 1901{DASH}2000 of {ROLES}" in html.unescape(last.text)
    assert 'rel="next"' not in last.text
    # A page past the end (roles deleted since the link was made) is the last page;
    # something that is not a number is the first. Never an error.
    assert role_links(admin.get("/admin/roles?page=999").text) == role_links(last.text)
    assert role_links(admin.get("/admin/roles?page=two").text) == role_links(first.text)

    # Text matches name, ARN, id or description, without regard to case.
    found = admin.get(f"/admin/roles?q={NAME.lower()}")
    assert role_links(found.text) == [f"{ACCOUNT}/{NAME}"]
    assert role_links(admin.get(f"/admin/roles?q=team+{TARGET}").text) == [f"{ACCOUNT}/{NAME}"]
    assert role_links(admin.get("/admin/roles?q=no-such-role").text) == []

    # One account: its roles only, paged with the filter kept in the links.
    mine = admin.get(f"/admin/roles?account={ACCOUNT}")
    assert {link.split("/")[0] for link in role_links(mine.text)} == {ACCOUNT}
    assert f"of {ROLES // ACCOUNTS}" in html.unescape(mine.text)
    assert f'href="/admin/roles?account={ACCOUNT}&amp;page=2"' in mine.text
    assert "Role01234" in admin.get(f"/admin/roles?account={ACCOUNT}&q=role0123").text
    # An unknown account is ignored rather than shown as empty.
    assert len(role_links(admin.get("/admin/roles?account=999999999999").text)) == 100


# ---------------------------------------------------------------- create and delete

NEW_NAME = "Fresh"
NEW_ARN = f"arn:aws:iam::{ACCOUNT}:role/teams/{NEW_NAME}"
# Role00070 is what mapping rule 10 names (rule n names role n * 7).
NAMED = 70
NAMED_ACCOUNT, NAMED_NAME = account_id(NAMED), role_name(NAMED)


def new_role_form(name: str = NEW_NAME) -> dict[str, str]:
    document = role(9_999)
    return {"account": ACCOUNT, "name": name, "path": "/teams/", "description": "brand new",
            "max_session_duration": "7200", "tags": "team=new",
            "trust_policy": json.dumps(document["trust_policy"]),
            "policy_count": "1", "policy-0-name": "Data",
            "policy-0-document": json.dumps(document["policies"]["Data"])}


def test_creating_a_role_among_thousands_writes_that_role_alone_and_serves_it(
    admin: AdminBrowser, large: BoundServer
) -> None:
    rt = large.runtime
    before, logged = current_spec(rt.engine), changes(rt.engine, limit=1)[0].id
    with whole_table_reads(rt.engine) as reads:
        response = admin.post("/admin/roles", new_role_form(), page="/admin/roles/new")
        assert response.status_code == 303, response.text
        assert response.headers["Location"].endswith(f"/admin/roles/{ACCOUNT}/{NEW_NAME}")
        landing = admin.get(response.headers["Location"])
    # Neither the write nor this process's reload read the configuration whole.
    assert reads == []
    assert landing.status_code == 200
    assert f"Role {NEW_NAME} created." in landing.text and "brand new" in landing.text
    assert f"create role {NEW_ARN}" in html.unescape(landing.text)

    # Served: in every index of this process's snapshot, as a full load has it.
    created = rt.snapshot.roles_by_arn[NEW_ARN]
    assert rt.snapshot.roles_by_id[created.role_id] is created
    assert created in rt.snapshot.roles_by_account[ACCOUNT]
    assert (created.description, created.max_session_duration) == ("brand new", 7200)
    full = load_snapshot(rt.engine, rt.snapshot.version)
    assert full.roles_by_arn[NEW_ARN].policies["Data"].source == created.policies["Data"].source
    assert len(rt.snapshot.roles_by_arn) == ROLES + 1

    # Stored: that role added, nothing else; one change-log row as the import writes it.
    after = current_spec(rt.engine)
    assert (after.accounts, after.providers) == (before.accounts, before.providers)
    assert set(after.roles) - set(before.roles) == {
        r for r in after.roles if r.arn == NEW_ARN}
    assert set(before.roles) <= set(after.roles)
    newest = [c for c in changes(rt.engine, limit=10) if c.id > logged]
    assert [(c.action, c.entity_type, c.entity_key, c.before) for c in newest] == [
        ("create", "role", NEW_ARN, None)]
    assert newest[0].actor.startswith("break-glass:")
    assert newest[0].after is not None
    assert {k: newest[0].after[k] for k in ("account", "name", "path", "id")} == {
        "account": ACCOUNT, "name": NEW_NAME, "path": "/teams/", "id": created.role_id}


@pytest.mark.parametrize("name", [NAME, NAME.upper()])
def test_a_taken_name_is_refused_with_a_400_and_nothing_is_written(
    admin: AdminBrowser, large: BoundServer, name: str
) -> None:
    rt = large.runtime
    before, logged = current_spec(rt.engine), changes(rt.engine, limit=1)[0].id
    version = rt.snapshot.version
    response = admin.post("/admin/roles", new_role_form(name), page="/admin/roles/new")
    assert response.status_code == 400
    assert f"account {ACCOUNT} has a role {NAME} already" in errors_of(response.text, "role-name")
    assert "Nothing was saved" in response.text
    assert current_spec(rt.engine) == before
    assert changes(rt.engine, limit=1)[0].id == logged
    assert rt.snapshot.version == version


def test_deleting_a_role_among_thousands_removes_that_role_alone(
    admin: AdminBrowser, large: BoundServer
) -> None:
    rt = large.runtime
    before, logged = current_spec(rt.engine), changes(rt.engine, limit=1)[0].id
    stored = rt.snapshot.roles_by_arn[ARN]
    with whole_table_reads(rt.engine) as reads:
        response = admin.post(f"{PAGE}/delete", page=PAGE)
        assert response.status_code == 303, response.text
        assert response.headers["Location"].endswith("/admin/roles")
        landing = admin.get("/admin/roles")
    assert reads == []
    assert f"Role {NAME} deleted." in landing.text
    assert f"delete role {ARN}" in html.unescape(landing.text)

    # Gone from every index, and from the role's page.
    snapshot = rt.snapshot
    assert ARN not in snapshot.roles_by_arn and stored.role_id not in snapshot.roles_by_id
    assert NAME not in {r.name for r in snapshot.roles_by_account[ACCOUNT]}
    assert len(snapshot.roles_by_arn) == ROLES - 1
    assert ARN not in load_snapshot(rt.engine, snapshot.version).roles_by_arn
    assert admin.get(PAGE).status_code == 404

    after = current_spec(rt.engine)
    assert (after.accounts, after.providers) == (before.accounts, before.providers)
    assert [r.arn for r in set(before.roles) - set(after.roles)] == [ARN]
    assert set(after.roles) <= set(before.roles)
    newest = [c for c in changes(rt.engine, limit=10) if c.id > logged]
    assert [(c.action, c.entity_type, c.entity_key, c.after) for c in newest] == [
        ("delete", "role", ARN, None)]
    assert newest[0].before is not None
    assert (newest[0].before["id"], newest[0].before["description"]) == (
        stored.role_id, f"team {TARGET}")


def test_a_role_a_rule_names_is_not_deleted_and_the_page_says_which_rule(
    admin: AdminBrowser, large: BoundServer
) -> None:
    rt = large.runtime
    before, logged = current_spec(rt.engine), changes(rt.engine, limit=1)[0].id
    page = f"/admin/roles/{NAMED_ACCOUNT}/{NAMED_NAME}"
    response = admin.post(f"{page}/delete", page=page)
    assert response.status_code == 409
    text = html.unescape(response.text)
    assert f"The role {NAMED_NAME} is still referred to; change those first." in text
    assert "identity_providers[0].mapping_rules[10].role" in text
    assert current_spec(rt.engine) == before
    assert changes(rt.engine, limit=1)[0].id == logged
    assert f"arn:aws:iam::{NAMED_ACCOUNT}:role/teams/{NAMED_NAME}" in rt.snapshot.roles_by_arn
