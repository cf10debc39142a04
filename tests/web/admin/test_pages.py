"""The admin forms over real HTTP: each write validated like the CLI, applied whole or not at
all, logged with the admin as actor, and live at once; bad input is a 4xx naming the path."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.runtime import Runtime
from gateway.store import audit
from gateway.store.changelog import changes
from gateway.store.config_io import export_config
from tests.sts_world import ACCOUNT_A, ACCOUNT_B, BASE_ROLE, CROSS_ROLE
from tests.web.admin.support import AdminBrowser

FIXTURES = Path(__file__).resolve().parents[3] / "idp-fixtures"
SAML_ROLE_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/Role"
CORP_ARN = f"arn:aws:iam::{ACCOUNT_A}:saml-provider/corp"
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Federated": CORP_ARN}, "Action": "sts:AssumeRoleWithSAML",
}]}
READ = {"Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def errors_of(page: str, field_id: str) -> str:
    """The text of the inline error list under one field ('' if none)."""
    found = re.search(rf'<ul class="field-errors" id="{field_id}-errors">(.*?)</ul>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))) if found else ""


def role_form(**fields: Any) -> dict[str, Any]:
    data = {"account": ACCOUNT_A, "name": "Reader", "path": "/",
            "max_session_duration": "3600", "trust_policy": json.dumps(TRUST),
            "policy_count": "1", "policy-0-name": "Read", "policy-0-document": json.dumps(READ)}
    data.update(fields)
    return data


# ---------------------------------------------------------------- accounts


def test_creating_an_account_is_live_at_once_and_logged_with_the_admin(
    admin: AdminBrowser, rt: Runtime
) -> None:
    version = rt.snapshot.version
    response = admin.post("/admin/accounts", {"id": "333333333333", "alias": "team-c"})
    assert response.status_code == 303
    assert rt.snapshot.accounts_by_id["333333333333"].alias == "team-c"
    assert rt.snapshot.version > version
    change = changes(rt.engine, limit=1)[0]
    assert change.actor.startswith("break-glass:")
    assert (change.action, change.entity_key) == ("create", "333333333333")
    page = admin.get("/admin/accounts").text
    assert "Account 333333333333 created." in page


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"id": "12345"}, "id"),
        ({"id": "<script>x</script>"}, "id"),
        ({"id": ACCOUNT_A}, "id"),
        ({"id": "333333333333", "alias": "Not An Alias!"}, "alias"),
        ({"id": "333333333333", "alias": "team-a"}, "alias"),
    ],
)
def test_a_bad_account_is_refused_at_its_field_and_nothing_is_written(
    admin: AdminBrowser, rt: Runtime, data: dict[str, str], path: str
) -> None:
    before = export_config(rt.engine)
    response = admin.post("/admin/accounts", data)
    assert response.status_code == 400
    field = "account-id" if path == "id" else "account-alias"
    assert errors_of(response.text, field), response.text
    assert "<script>x" not in response.text
    assert export_config(rt.engine) == before


def test_an_alias_can_be_changed_and_removed(admin: AdminBrowser, rt: Runtime) -> None:
    url = f"/admin/accounts/{ACCOUNT_A}/alias"
    assert admin.post(url, {"alias": "renamed"}, page="/admin/accounts").status_code == 303
    assert rt.snapshot.accounts_by_id[ACCOUNT_A].alias == "renamed"
    assert admin.post(url, {"alias": ""}, page="/admin/accounts").status_code == 303
    assert rt.snapshot.accounts_by_id[ACCOUNT_A].alias is None
    missing = admin.post("/admin/accounts/999999999999/alias", {"alias": "x-y-z"},
                         page="/admin/accounts")
    assert missing.status_code == 404


# ---------------------------------------------------------------- roles


def test_a_role_is_created_with_its_policies_tags_and_duration(
    admin: AdminBrowser, rt: Runtime
) -> None:
    response = admin.post("/admin/roles", role_form(tags="team=data\ncost-center=42",
                                                    max_session_duration="7200",
                                                    description="Reads things"),
                          page="/admin/roles/new")
    assert response.status_code == 303, response.text
    role = rt.snapshot.roles_by_arn[f"arn:aws:iam::{ACCOUNT_A}:role/Reader"]
    assert role.max_session_duration == 7200
    assert dict(role.tags) == {"team": "data", "cost-center": "42"}
    assert set(role.policies) == {"Read"}
    assert role.description == "Reads things"


@pytest.mark.parametrize(
    ("fields", "field_id", "expected"),
    [
        ({"trust_policy": json.dumps({**TRUST, "Statement": [{**TRUST["Statement"][0],
                                                              "Effect": "Maybe"}]})},
         "role-trust", "trust_policy.Statement[0].Effect"),
        ({"trust_policy": '{"Version": "2012-10-17", "Statement": [}'},
         "role-trust", "not valid JSON"),
        ({"trust_policy": ""}, "role-trust", "required"),
        ({"policy-0-document": json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject"}]})},
         "policy-0-document", "policies.Read.Statement[0]"),
        ({"max_session_duration": "99"}, "role-duration", "max_session_duration"),
        ({"max_session_duration": "an hour"}, "role-duration", "max_session_duration"),
        ({"name": "bad name!"}, "role-name", "name"),
        ({"tags": "no equals sign"}, "role-tags", "key=value"),
        ({"tags": "aws:reserved=x"}, "role-tags", "aws:"),
    ],
)
def test_role_problems_are_shown_inline_at_their_json_path_and_nothing_is_written(
    admin: AdminBrowser, rt: Runtime, fields: dict[str, str], field_id: str, expected: str
) -> None:
    before = export_config(rt.engine)
    response = admin.post("/admin/roles", role_form(**fields), page="/admin/roles/new")
    assert response.status_code == 400
    assert expected in errors_of(response.text, field_id), response.text
    assert 'aria-invalid="true"' in response.text
    assert "Nothing was saved" in response.text
    assert export_config(rt.engine) == before


def test_the_form_keeps_what_was_typed_after_a_refusal(admin: AdminBrowser) -> None:
    response = admin.post("/admin/roles", role_form(max_session_duration="1", description="Keep"),
                          page="/admin/roles/new")
    assert response.status_code == 400
    assert 'value="Keep"' in response.text
    assert json.dumps(READ) in html.unescape(response.text)


def test_editing_a_role_keeps_its_id_and_applies_at_once(admin: AdminBrowser,
                                                         rt: Runtime) -> None:
    role = rt.snapshot.roles_by_arn[BASE_ROLE]
    page = admin.get(f"/admin/roles/{ACCOUNT_A}/Base").text
    trust = html.unescape(re.search(r'id="role-trust"[^>]*>(.*?)</textarea>', page, re.S)
                          .group(1))  # type: ignore[union-attr]
    work = html.unescape(re.search(r'id="policy-0-document"[^>]*>(.*?)</textarea>', page, re.S)
                         .group(1))  # type: ignore[union-attr]
    response = admin.post(f"/admin/roles/{ACCOUNT_A}/Base", {
        "description": "Edited", "max_session_duration": "3600", "trust_policy": trust,
        "policy_count": "2", "policy-0-name": "Work", "policy-0-document": work,
        "policy-1-name": "Extra", "policy-1-document": json.dumps(READ), "tags": "k=v",
    })
    assert response.status_code == 303, response.text
    edited = rt.snapshot.roles_by_arn[BASE_ROLE]
    assert edited.role_id == role.role_id
    assert (edited.description, edited.max_session_duration) == ("Edited", 3600)
    assert set(edited.policies) == {"Work", "Extra"}
    change = changes(rt.engine, entity_key=BASE_ROLE, limit=1)[0]
    assert change.before is not None and change.after is not None
    assert change.before["max_session_duration"] == 43200
    assert change.after["max_session_duration"] == 3600


def test_removing_a_policy_through_its_checkbox(admin: AdminBrowser, rt: Runtime) -> None:
    admin.post("/admin/roles", role_form(), page="/admin/roles/new")
    response = admin.post(f"/admin/roles/{ACCOUNT_A}/Reader", {
        **role_form(), "policy-0-remove": "1",
    })
    assert response.status_code == 303
    assert not rt.snapshot.roles_by_arn[f"arn:aws:iam::{ACCOUNT_A}:role/Reader"].policies


def test_a_role_that_rules_still_name_cannot_be_deleted(admin: AdminBrowser,
                                                         rt: Runtime) -> None:
    _add_rule(admin, "groups", "eng", BASE_ROLE)
    response = admin.post(f"/admin/roles/{ACCOUNT_A}/Base/delete",
                          page=f"/admin/roles/{ACCOUNT_A}/Base")
    assert response.status_code == 409
    assert "mapping_rules[0].role" in response.text
    assert BASE_ROLE in rt.snapshot.roles_by_arn


def test_unknown_roles_and_providers_are_404_pages(admin: AdminBrowser) -> None:
    for path in ["/admin/roles/111111111111/Nope", "/admin/roles/x/y",
                 "/admin/providers/nope", "/admin/providers/nope/rules"]:
        assert admin.get(path).status_code == 404, path


# ---------------------------------------------------------------- identity providers


def test_a_saml_provider_from_pasted_metadata_shows_entity_id_and_certificates(
    admin: AdminBrowser, rt: Runtime
) -> None:
    metadata = (FIXTURES / "okta" / "metadata.xml").read_text()
    response = admin.post("/admin/providers", {
        "kind": "saml", "name": "okta", "account": ACCOUNT_A, "display_name": "Okta",
        "metadata_xml": metadata, "opt-allow_idp_initiated": "on",
    }, page="/admin/providers/new?kind=saml")
    assert response.status_code == 303, response.text
    provider = rt.snapshot.providers_by_name["okta"]
    assert provider.options["allow_idp_initiated"] is True
    page = admin.get("/admin/providers/okta").text
    assert "http://www.okta.com/exk1fixture0example7" in page
    assert "Signing certificates" in page and "CN=example.okta.com" in page
    assert "2046-11-22" in page  # the certificate's expiry
    assert f"{admin.base}/saml/metadata" in page


def test_a_saml_provider_from_an_uploaded_metadata_file(admin: AdminBrowser,
                                                        rt: Runtime) -> None:
    metadata = (FIXTURES / "entra" / "metadata.xml").read_bytes()
    response = admin.post("/admin/providers", {"kind": "saml", "name": "entra",
                                               "account": ACCOUNT_A},
                          page="/admin/providers/new?kind=saml",
                          files={"metadata_file": ("metadata.xml", metadata, "text/xml")})
    assert response.status_code == 303, response.text
    assert rt.snapshot.providers_by_name["entra"].metadata_xml == metadata.decode().strip()


@pytest.mark.parametrize(
    ("fields", "field_id", "expected"),
    [
        ({"metadata_xml": "<not-metadata/>"}, "provider-metadata", "identity provider"),
        ({"metadata_xml": "<<<"}, "provider-metadata", "unreadable"),
        ({}, "provider-metadata", "paste or upload"),
        ({"metadata_url": "ftp://example.com/md"}, "provider-metadata-url", "metadata_url"),
        ({"name": "-bad", "metadata_url": "https://idp.example.com/md"}, "provider-name",
         "name"),
        ({"name": "corp", "metadata_url": "https://idp.example.com/md"}, "provider-name",
         "exists already"),
        ({"account": "999999999999", "metadata_url": "https://idp.example.com/md"},
         "provider-account", "no account"),
    ],
)
def test_a_bad_saml_provider_is_refused_at_its_field(
    admin: AdminBrowser, rt: Runtime, fields: dict[str, str], field_id: str, expected: str
) -> None:
    before = export_config(rt.engine)
    data = {"kind": "saml", "name": "new-idp", "account": ACCOUNT_A, **fields}
    response = admin.post("/admin/providers", data, page="/admin/providers/new?kind=saml")
    assert response.status_code == 400
    assert expected in errors_of(response.text, field_id), response.text
    assert export_config(rt.engine) == before


def test_an_openid_provider_keeps_its_secret_out_of_the_page(admin: AdminBrowser,
                                                             rt: Runtime) -> None:
    response = admin.post("/admin/providers", {
        "kind": "oidc", "name": "corp-oidc", "account": ACCOUNT_B,
        "issuer": "https://login.example.com/", "client_ids": "app-1\napp-2",
        "client_secret": "s3cret-value", "scopes": "openid email",
    }, page="/admin/providers/new?kind=oidc")
    assert response.status_code == 303, response.text
    provider = rt.snapshot.providers_by_name["corp-oidc"]
    assert provider.client_ids == ("app-1", "app-2")
    assert provider.client_secret == "s3cret-value"
    page = admin.get("/admin/providers/corp-oidc").text
    assert "s3cret-value" not in page and "A secret is stored" in page
    # Saving without typing the secret again keeps it.
    assert admin.post("/admin/providers/corp-oidc", {
        "account": ACCOUNT_B, "issuer": "https://login.example.com/", "client_ids": "app-1",
        "display_name": "Corp",
    }).status_code == 303
    assert rt.snapshot.providers_by_name["corp-oidc"].client_secret == "s3cret-value"
    assert rt.snapshot.providers_by_name["corp-oidc"].display_name == "Corp"
    change = changes(rt.engine, entity_key="corp-oidc", limit=2)[-1]
    assert "s3cret-value" not in json.dumps(change.after)


def test_a_social_provider_defaults_its_issuer(admin: AdminBrowser, rt: Runtime) -> None:
    response = admin.post("/admin/providers", {
        "kind": "google", "name": "google", "account": ACCOUNT_A,
        "client_ids": "123.apps.googleusercontent.com",
    }, page="/admin/providers/new?kind=google")
    assert response.status_code == 303, response.text
    assert rt.snapshot.providers_by_name["google"].issuer == "https://accounts.google.com"
    missing = admin.post("/admin/providers", {"kind": "facebook", "name": "fb",
                                              "account": ACCOUNT_A},
                         page="/admin/providers/new?kind=facebook")
    assert missing.status_code == 400
    assert "client_ids" in errors_of(missing.text, "provider-client-ids")


def test_a_display_name_with_a_script_tag_is_shown_as_text(admin: AdminBrowser,
                                                           rt: Runtime) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = admin.post("/admin/providers/corp", {"account": ACCOUNT_A,
                                                    "display_name": evil[:60],
                                                    "metadata_url": "https://idp.example/md"})
    assert response.status_code == 303, response.text
    assert rt.snapshot.providers_by_name["corp"].display_name == evil[:60]
    for path in ["/admin/providers", "/admin/providers/corp", "/admin/audit", "/admin/"]:
        page = admin.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page, path
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in admin.get("/admin/providers").text


def test_admin_rules_are_added_and_removed_on_the_provider_page(
    admin: AdminBrowser, rt: Runtime
) -> None:
    response = admin.post("/admin/providers/corp/admin-rules", {
        "admin_description": "platform team", "admin-0-claim": "groups",
        "admin-0-operator": "equals", "admin-0-value": "gateway-admins",
    }, page="/admin/providers/corp")
    assert response.status_code == 303
    rules = rt.snapshot.providers_by_name["corp"].admin_rules
    assert [(r.description, r.conditions[0].values) for r in rules] == [
        ("platform team", ("gateway-admins",))]
    empty = admin.post("/admin/providers/corp/admin-rules", {}, page="/admin/providers/corp")
    assert empty.status_code == 400
    assert "at least one condition" in empty.text
    removed = admin.post("/admin/providers/corp/admin-rules/0/delete",
                         page="/admin/providers/corp")
    assert removed.status_code == 303
    assert rt.snapshot.providers_by_name["corp"].admin_rules == ()


def test_a_provider_can_be_deleted(admin: AdminBrowser, rt: Runtime) -> None:
    response = admin.post("/admin/providers/corp/delete", page="/admin/providers/corp")
    assert response.status_code == 303
    assert "corp" not in rt.snapshot.providers_by_name


# ---------------------------------------------------------------- mapping rules


def _add_rule(admin: AdminBrowser, claim: str, value: str, role: str, *,
              provider: str = "corp", operator: str = "equals",
              action: str = "add") -> Any:
    return admin.post(f"/admin/providers/{provider}/rules", {
        "cond-0-claim": claim, "cond-0-operator": operator, "cond-0-value": value,
        "role": role, "action": action, "description": f"{claim} {value}",
    })


def test_mapping_rules_are_added_in_order_and_reordered(admin: AdminBrowser,
                                                        rt: Runtime) -> None:
    assert _add_rule(admin, "groups", "eng", BASE_ROLE).status_code == 303
    assert _add_rule(admin, "groups", "ops", CROSS_ROLE).status_code == 303
    rules = rt.snapshot.rules_by_provider["corp"]
    assert [r.conditions[0].values[0] for r in rules] == ["eng", "ops"]
    assert admin.post("/admin/providers/corp/rules/1/move", {"direction": "up"},
                      page="/admin/providers/corp/rules").status_code == 303
    assert [r.role_arn for r in rt.snapshot.rules_by_provider["corp"]] == [CROSS_ROLE, BASE_ROLE]
    assert admin.post("/admin/providers/corp/rules/1/move", {"direction": "down"},
                      page="/admin/providers/corp/rules").status_code == 400
    assert admin.post("/admin/providers/corp/rules/0/delete",
                      page="/admin/providers/corp/rules").status_code == 303
    assert [r.role_arn for r in rt.snapshot.rules_by_provider["corp"]] == [BASE_ROLE]


def test_an_in_condition_takes_comma_separated_values(admin: AdminBrowser,
                                                      rt: Runtime) -> None:
    assert _add_rule(admin, "groups", "a, b,c", BASE_ROLE, operator="in").status_code == 303
    assert rt.snapshot.rules_by_provider["corp"][0].conditions[0].values == ("a", "b", "c")


@pytest.mark.parametrize(
    ("claim", "value", "role", "expected"),
    [
        ("", "", BASE_ROLE, "at least one condition"),
        ("groups", "x", "", "role"),
        ("groups", "x", "arn:aws:iam::111111111111:role/Missing", "no role"),
        ("groups", "x", "not-an-arn", "expected a role ARN"),
    ],
)
def test_a_bad_rule_is_refused_with_its_problem(
    admin: AdminBrowser, rt: Runtime, claim: str, value: str, role: str, expected: str
) -> None:
    before = export_config(rt.engine)
    response = _add_rule(admin, claim, value, role)
    assert response.status_code == 400
    assert expected in html.unescape(response.text)
    assert export_config(rt.engine) == before


def test_a_rule_to_a_role_that_does_not_trust_the_provider_is_flagged_and_fixable(
    admin: AdminBrowser, rt: Runtime
) -> None:
    assert _add_rule(admin, "groups", "partners", CROSS_ROLE).status_code == 303
    page = admin.get("/admin/providers/corp/rules").text
    assert "does not trust this provider" in page
    assert "Add a trust statement for corp to CrossAccount" in page
    fixed = admin.post("/admin/providers/corp/trust", {"role": CROSS_ROLE},
                       page="/admin/providers/corp/rules")
    assert fixed.status_code == 303
    statements = rt.snapshot.roles_by_arn[CROSS_ROLE].trust_policy
    page = admin.get("/admin/providers/corp/rules").text
    assert "does not trust this provider" not in page
    assert "trusts this provider" in page
    assert statements is not None
    document = json.loads(html.unescape(re.search(
        r'id="role-trust"[^>]*>(.*?)</textarea>',
        admin.get(f"/admin/roles/{ACCOUNT_B}/CrossAccount").text, re.S).group(1)))  # type: ignore[union-attr]
    added = document["Statement"][-1]
    assert added["Principal"] == {"Federated": CORP_ARN}
    assert added["Condition"] == {"StringEquals": {"saml:aud": f"{admin.base}/saml/acs"}}


def test_the_preview_says_so_when_sign_ins_carry_no_claims(admin: AdminBrowser,
                                                           rt: Runtime) -> None:
    audit.record(rt.engine, audit.AuditEvent(event_type=audit.SIGNIN, outcome="success",
                                             provider="corp", subject="alice"))
    response = _add_rule(admin, "groups", "eng", BASE_ROLE, action="preview")
    assert response.status_code == 200
    assert "did not record their claims" in response.text
    assert not rt.snapshot.rules_by_provider["corp"]  # a preview writes nothing


def test_the_preview_replays_recorded_sign_ins(admin: AdminBrowser, rt: Runtime) -> None:
    for subject, groups in [("alice", ["eng"]), ("bob", ["sales"])]:
        audit.record(rt.engine, audit.AuditEvent(
            event_type=audit.SIGNIN, outcome="success", provider="corp", subject=subject,
            detail={"attributes": {"nameid": subject, "groups": groups}},
        ))
    response = _add_rule(admin, "groups", "eng", BASE_ROLE, action="preview")
    assert response.status_code == 200
    table = response.text.split("If this rule were saved", 1)[1]
    assert "alice" in table and BASE_ROLE in table and "bob" not in table
    assert "1 would change" in table


# ---------------------------------------------------------------- simulator


def test_the_simulator_explains_a_trust_policy_denial(admin: AdminBrowser) -> None:
    _add_rule(admin, "groups", "partners", CROSS_ROLE)
    claims = {"nameid": "pat@example.com", "groups": ["partners"]}
    response = admin.post("/admin/simulator", {"provider": "corp", "claims": json.dumps(claims)})
    assert response.status_code == 200
    text = html.unescape(response.text)
    assert CROSS_ROLE in text
    assert "rule 1: groups equals" in text
    assert "Denied" in text and "DENIED sts:AssumeRoleWithSAML" in text
    assert "Roles were mapped to you, but their trust policies refused" in text


def test_the_simulator_allows_an_asserted_role_and_names_the_duration_bound(
    admin: AdminBrowser,
) -> None:
    claims = {"nameid": "ann", SAML_ROLE_ATTRIBUTE: f"{BASE_ROLE},{CORP_ARN}",
              "https://aws.amazon.com/SAML/Attributes/SessionDuration": "7200"}
    response = admin.post("/admin/simulator", {"provider": "corp", "claims": json.dumps(claims)})
    text = html.unescape(response.text)
    assert response.status_code == 200
    assert "SAML Role attribute" in text and "Allowed" in text
    assert "2.0 h" in text and "asserted SessionDuration" in text


BAD_SIMULATIONS = [
    ({"provider": "corp", "claims": "{not json"}, "not valid JSON"),
    ({"provider": "corp", "claims": "[1, 2]"}, "expected a JSON object"),
    ({"provider": "corp", "claims": '{"groups": {"a": 1}}'}, "claims.groups"),
    ({"provider": "nope", "claims": "{}"}, "choose a configured identity provider"),
]


def test_bad_simulator_input_is_a_400_saying_what(admin: AdminBrowser) -> None:
    for data, expected in BAD_SIMULATIONS:
        response = admin.post("/admin/simulator", data)
        assert response.status_code == 400, data
        assert expected in html.unescape(response.text)


def test_a_recorded_sign_in_can_be_replayed_in_the_simulator(admin: AdminBrowser,
                                                             rt: Runtime) -> None:
    page = admin.get("/admin/simulator").text
    assert "No sign-ins in the audit trail yet" in page
    event = audit.record(rt.engine, audit.AuditEvent(
        event_type=audit.SIGNIN, outcome="success", provider="corp", subject="carol",
        detail={"attributes": {"nameid": "carol", "groups": ["ops"]}},
    ))
    page = admin.get("/admin/simulator").text
    assert f"event={event.id}" in page
    filled = admin.get(f"/admin/simulator?event={event.id}").text
    assert "&#34;ops&#34;" in filled


# ---------------------------------------------------------------- audit


def _events(rt: Runtime) -> None:
    for subject, outcome in [("alice", "success"), ("bob", "failure"), ("=cmd|' /C calc'!A0",
                                                                      "success")]:
        audit.record(rt.engine, audit.AuditEvent(
            event_type=audit.CREDENTIALS_ISSUED if outcome == "success"
            else audit.CREDENTIALS_REFUSED, outcome=outcome,  # type: ignore[arg-type]
            subject=subject, provider="corp", role_arn=BASE_ROLE, account=ACCOUNT_A,
            access_key_id=f"ASIA{subject[:4].upper()}", detail={"expires_at": 1},
        ))


def test_the_audit_page_filters_by_person_provider_role_account_outcome_and_time(
    admin: AdminBrowser, rt: Runtime
) -> None:
    _events(rt)
    page = admin.get("/admin/audit?person=alice").text
    assert "ASIAALIC" in page and "ASIABOB" not in page
    page = admin.get("/admin/audit?outcome=failure&provider=corp").text
    assert "ASIABOB" in page and "ASIAALIC" not in page
    page = admin.get(f"/admin/audit?role={BASE_ROLE}&account={ACCOUNT_A}").text
    assert "ASIAALIC" in page and "ASIABOB" in page
    assert "ASIAALIC" not in admin.get("/admin/audit?since=2999-01-01T00:00").text
    assert "ASIAALIC" in admin.get("/admin/audit?until=2999-01-01T00:00").text
    bad = admin.get("/admin/audit?since=yesterday&outcome=maybe")
    assert bad.status_code == 400
    assert "since" in bad.text and "outcome" in bad.text


def test_the_audit_exports_as_csv_and_json_lines_with_the_same_filters(
    admin: AdminBrowser, rt: Runtime
) -> None:
    _events(rt)
    exported = admin.get("/admin/audit/export.csv?provider=corp")
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["subject"] for r in rows} == {"alice", "bob", "'=cmd|' /C calc'!A0"}
    assert json.loads(rows[0]["detail"]) == {"expires_at": 1}
    lines = admin.get("/admin/audit/export.jsonl?person=alice").text.splitlines()
    assert [json.loads(line)["subject"] for line in lines] == ["alice"]
    assert admin.get("/admin/audit/export.csv?since=nope").status_code == 400


def test_admin_changes_show_before_and_after(admin: AdminBrowser) -> None:
    admin.post(f"/admin/accounts/{ACCOUNT_A}/alias", {"alias": "renamed"},
               page="/admin/accounts")
    page = html.unescape(re.sub(r"<[^>]+>", "", admin.get("/admin/audit").text))
    changes_section = page.split("Admin changes", 1)[1]
    assert f"update account {ACCOUNT_A}" in changes_section
    assert '"alias": "team-a"' in changes_section and '"alias": "renamed"' in changes_section


# ---------------------------------------------------------------- config


def test_config_export_is_the_cli_export(admin: AdminBrowser, rt: Runtime) -> None:
    exported = admin.get("/admin/config/export.yaml")
    assert exported.status_code == 200
    assert exported.text == export_config(rt.engine)


def test_config_import_lists_every_problem_with_its_path_and_writes_nothing(
    admin: AdminBrowser, rt: Runtime
) -> None:
    before = export_config(rt.engine)
    broken = before.replace("id: '111111111111'", "id: '1111'").replace(
        "max_session_duration: 43200", "max_session_duration: 5")
    response = admin.post("/admin/config", {"yaml": broken, "action": "import"})
    assert response.status_code == 400
    text = html.unescape(response.text)
    assert "accounts[0].id" in text
    assert "accounts[0].roles[0].max_session_duration" in text
    assert export_config(rt.engine) == before
    syntax = admin.post("/admin/config", {"yaml": "accounts: [", "action": "import"})
    assert syntax.status_code == 400 and "YAML syntax error" in syntax.text


def test_config_check_is_a_dry_run_and_import_applies(admin: AdminBrowser, rt: Runtime) -> None:
    before = export_config(rt.engine)
    changed = before.replace("alias: team-b", "alias: team-bee")
    checked = admin.post("/admin/config", {"yaml": changed, "action": "check"})
    assert checked.status_code == 200
    assert "would change: 0 created, 1 updated, 0 deleted" in checked.text
    assert export_config(rt.engine) == before
    applied = admin.post("/admin/config", {"action": "import"},
                         files={"file": ("c.yaml", changed.encode(), "application/yaml")})
    assert applied.status_code == 200
    assert rt.snapshot.accounts_by_id[ACCOUNT_B].alias == "team-bee"
    assert changes(rt.engine, limit=1)[0].actor.startswith("break-glass:")


# ---------------------------------------------------------------- never a 500


NEVER_500 = [
    ("/admin/accounts", {}),
    ("/admin/roles", {}),
    ("/admin/roles", {"account": ACCOUNT_A, "policy_count": "9999999999"}),
    ("/admin/roles", {"account": ACCOUNT_A, "policy_count": "-1", "trust_policy": "null"}),
    ("/admin/roles/111111111111/Base", {"trust_policy": "[]", "policy_count": "x"}),
    ("/admin/providers", {"kind": "ldap"}),
    ("/admin/providers", {"kind": "oidc"}),
    ("/admin/providers/corp", {"account": "\x00"}),
    ("/admin/providers/corp/rules", {"cond-0-operator": "nonsense", "cond-0-claim": "x"}),
    ("/admin/providers/corp/rules/99/move", {"direction": "up"}),
    ("/admin/providers/corp/rules/0/move", {"direction": "sideways"}),
    ("/admin/providers/corp/rules/5/delete", {}),
    ("/admin/providers/corp/admin-rules/3/delete", {}),
    ("/admin/providers/corp/trust", {"role": "arn:aws:iam::111111111111:role/Nope"}),
    ("/admin/roles/111111111111/Base/sessions/revoke", {"access_key_id": "ASIANOPE"}),
    ("/admin/simulator", {}),
    ("/admin/simulator/saml", {}),
    ("/admin/simulator/saml", {"saml_provider": "corp", "mode": "validate",
                               "saml_response": "PHNhbWxwOlJlc3BvbnNlLz4="}),
    ("/admin/providers/nope/disable", {}),
    ("/admin/providers/nope/enable", {}),
    ("/admin/config", {"yaml": "- just\n- a list"}),
    ("/admin/config", {"yaml": "accounts: !!python/object:os.system {}"}),
]


def test_bad_input_is_never_a_500(admin: AdminBrowser) -> None:
    for path, data in NEVER_500:
        response = admin.post(path, data, page="/admin/")
        assert 400 <= response.status_code < 500, (path, response.status_code,
                                                   response.text[-500:])


def test_nothing_from_the_admin_console_is_cached(admin: AdminBrowser) -> None:
    for path in ["/admin/config/export.yaml", "/admin/audit/export.csv",
                 "/admin/audit/export.jsonl", "/admin/roles"]:
        assert admin.get(path).headers["Cache-Control"] == "no-store", path
