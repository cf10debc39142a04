"""Configuration as code: declarative, all-or-nothing, idempotent, byte-stable."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from gateway import iam
from gateway.problems import Invalid, Problem
from gateway.store.changelog import changes
from gateway.store.config_io import (
    dump_yaml,
    export_config,
    import_config,
    load_yaml,
    validate_config,
    validate_identity_provider,
    validate_role,
)
from tests.store.conftest import dump_database

Doc = dict[str, Any]
PROD_ADMIN = "arn:aws:iam::111111111111:role/Admin"
DEV_READONLY = "arn:aws:iam::222222222222:role/ReadOnly"


@pytest.fixture
def demo(demo_text: str) -> Doc:
    """The demo configuration as data; tests mutate their own copy."""
    return copy.deepcopy(load_yaml(demo_text))


def _import(engine: Engine, document: Mapping[str, Any], actor: str = "test") -> Any:
    return import_config(engine, dump_yaml(document), actor=actor)


def _role(document: Doc, account: int, name: str) -> Doc:
    return next(r for r in document["accounts"][account]["roles"] if r["name"] == name)


def _problems(excinfo: pytest.ExceptionInfo[Invalid]) -> list[str]:
    return [str(p) for p in excinfo.value.problems]


# ---------------------------------------------------------------- happy paths


def test_demo_config_is_valid_and_imports_cleanly(engine: Engine, demo_text: str) -> None:
    assert validate_config(load_yaml(demo_text)) == []
    report = import_config(engine, demo_text, actor="demo")
    assert report.changed
    assert (report.count("create"), report.count("update"), report.count("delete")) == (11, 0, 0)
    assert "11 created" in str(report)


def test_export_import_export_is_byte_identical(engine: Engine, demo_text: str) -> None:
    import_config(engine, demo_text, actor="t")
    first = export_config(engine)
    report = import_config(engine, first, actor="t")
    assert not report.changed
    assert export_config(engine) == first


def test_restoring_an_export_into_an_empty_store_reproduces_it(
    engine: Engine, demo_text: str
) -> None:
    import_config(engine, demo_text, actor="t")
    backup = export_config(engine)
    import_config(engine, "accounts: []\nidentity_providers: []\n", actor="t")
    assert export_config(engine) == "accounts: []\nidentity_providers: []\n"
    import_config(engine, backup, actor="t")
    assert export_config(engine) == backup  # role ids included


def test_second_import_of_the_same_file_writes_nothing(engine: Engine, demo_text: str) -> None:
    import_config(engine, demo_text, actor="t")
    before = dump_database(engine)
    report = import_config(engine, demo_text, actor="t")
    assert not report.changed and str(report) == "no changes"
    assert dump_database(engine) == before  # not even a change-log row


def test_export_has_a_documented_shape(engine: Engine, demo_text: str) -> None:
    import_config(engine, demo_text, actor="t")
    text = export_config(engine)
    assert text.startswith("accounts:\n  - id: '111111111111'\n    alias: acme-prod\n    roles:\n")
    document = load_yaml(text)
    admin = _role(document, 0, "Admin")
    assert list(admin) == [
        "name", "id", "path", "description", "max_session_duration", "tags",
        "trust_policy", "policies",
    ]  # fmt: skip
    assert admin["trust_policy"]["Version"] == "2012-10-17"  # a mapping, not a JSON string
    saml = document["identity_providers"][2]
    assert (saml["name"], saml["kind"]) == ("demo-saml", "saml")
    assert saml["mapping_rules"][0] == {
        "description": "Administrators run production.",
        "when": [{"claim": "groups", "operator": "equals", "value": "admins"}],
        "role": PROD_ADMIN,
    }
    google = next(p for p in document["identity_providers"] if p["name"] == "google")
    assert google["issuer"] == "https://accounts.google.com"  # the kind's default, made explicit


def test_entities_missing_from_the_file_are_deleted(engine: Engine, demo: Doc) -> None:
    _import(engine, demo)
    smaller = copy.deepcopy(demo)
    smaller["accounts"] = [smaller["accounts"][0]]  # drops acme-dev and its roles
    smaller["accounts"][0]["roles"] = [_role(demo, 0, "Admin")]  # drops prod ReadOnly
    smaller["identity_providers"] = [
        {**p, "mapping_rules": [r for r in p["mapping_rules"] if r["role"] == PROD_ADMIN]}
        for p in smaller["identity_providers"]
        if p["account"] == "111111111111" and p["name"] != "google"
    ]
    report = _import(engine, smaller)
    deleted = sorted(str(c) for c in report.changes if c.action == "delete")
    assert deleted == [
        "delete account 222222222222",
        "delete identity provider amazon",
        "delete identity provider facebook",
        "delete identity provider google",
        "delete role arn:aws:iam::111111111111:role/ReadOnly",
        "delete role arn:aws:iam::222222222222:role/ReadOnly",
        "delete role arn:aws:iam::222222222222:role/engineering/Developer",
    ]
    document = load_yaml(export_config(engine))
    assert [a["id"] for a in document["accounts"]] == ["111111111111"]
    assert [r["name"] for r in document["accounts"][0]["roles"]] == ["Admin"]
    assert [p["name"] for p in document["identity_providers"]] == ["demo-oidc", "demo-saml"]
    assert "mapping_rules" not in document["identity_providers"][0]
    assert len(document["identity_providers"][1]["mapping_rules"]) == 1


def test_role_ids_are_generated_once_and_kept_by_files_without_them(
    engine: Engine, demo: Doc
) -> None:
    for account in demo["accounts"]:
        for role in account["roles"]:
            del role["id"]
    _import(engine, demo)
    ids = {r["name"]: r["id"] for r in load_yaml(export_config(engine))["accounts"][0]["roles"]}
    assert all(len(i) == 21 and i.startswith("AROA") for i in ids.values())
    _role(demo, 0, "Admin")["description"] = "changed"
    report = _import(engine, demo)
    assert [str(c) for c in report.changes] == [f"update role {PROD_ADMIN}"]
    after = {r["name"]: r["id"] for r in load_yaml(export_config(engine))["accounts"][0]["roles"]}
    assert after == ids


def test_a_role_id_cannot_be_changed_by_a_file(engine: Engine, demo: Doc) -> None:
    _import(engine, demo)
    before = dump_database(engine)
    _role(demo, 0, "ReadOnly")["id"] = "AROAZZZZZZZZZZZZZZZZZ"
    with pytest.raises(Invalid) as excinfo:
        _import(engine, demo)
    assert _problems(excinfo) == [
        "accounts[0].roles[1].id: role arn:aws:iam::111111111111:role/ReadOnly already has id "
        "AROA1111READONLY00001; a role's id cannot change"
    ]
    assert dump_database(engine) == before


def test_a_new_role_cannot_take_the_id_of_a_role_that_stays(engine: Engine, demo: Doc) -> None:
    _import(engine, demo)
    del _role(demo, 0, "Admin")["id"]  # Admin stays, its id is only left out of the file
    demo["accounts"][0]["roles"].append(
        {**_role(demo, 0, "ReadOnly"), "name": "Auditor", "id": "AROA1111ADMIN00000001"}
    )
    with pytest.raises(Invalid) as excinfo:
        _import(engine, demo)
    assert _problems(excinfo) == [f"accounts[0].roles[2].id: already the id of role {PROD_ADMIN}"]


def test_a_renamed_role_may_keep_its_id(engine: Engine, demo: Doc) -> None:
    _import(engine, demo)
    _role(demo, 0, "ReadOnly")["name"] = "Reader"
    for provider in demo["identity_providers"]:
        for rule in provider.get("mapping_rules", []):
            if rule["role"] == "arn:aws:iam::111111111111:role/ReadOnly":
                rule["role"] = "arn:aws:iam::111111111111:role/Reader"
    report = _import(engine, demo)
    assert "create role arn:aws:iam::111111111111:role/Reader" in map(str, report.changes)
    reader = _role(load_yaml(export_config(engine)), 0, "Reader")
    assert reader["id"] == "AROA1111READONLY00001"


def test_changing_a_role_path_moves_its_rules_too(engine: Engine, demo: Doc) -> None:
    _import(engine, demo)
    _role(demo, 0, "Admin")["path"] = "/ops/"
    demo["identity_providers"][0]["mapping_rules"][0]["role"] = (
        "arn:aws:iam::111111111111:role/ops/Admin"
    )
    report = _import(engine, demo)
    assert sorted(map(str, report.changes)) == [
        "update identity provider demo-saml",
        "update role arn:aws:iam::111111111111:role/ops/Admin",
    ]
    exported = load_yaml(export_config(engine))
    assert _role(exported, 0, "Admin")["id"] == "AROA1111ADMIN00000001"


def test_two_accounts_can_swap_aliases_and_two_providers_their_issuers(
    engine: Engine, demo: Doc
) -> None:
    _import(engine, demo)
    prod, dev = demo["accounts"]
    prod["alias"], dev["alias"] = dev["alias"], prod["alias"]
    oidc = demo["identity_providers"][1]
    google = demo["identity_providers"][2]
    oidc["issuer"], google["issuer"] = "https://accounts.google.com", oidc["issuer"]
    _import(engine, demo)
    exported = load_yaml(export_config(engine))
    assert [a["alias"] for a in exported["accounts"]] == ["acme-dev", "acme-prod"]
    issuers = {p["name"]: p["issuer"] for p in exported["identity_providers"] if "issuer" in p}
    assert issuers["demo-oidc"] == "https://accounts.google.com"
    assert issuers["google"] == "http://127.0.0.1:8000/demo/oidc"


def test_a_provider_can_move_off_an_account_deleted_in_the_same_import(
    engine: Engine, demo: Doc
) -> None:
    _import(engine, demo)
    prod = demo["accounts"][0]
    # acme-dev goes away; its alias passes to a new account, its providers move to prod.
    demo["accounts"] = [prod, {"id": "333333333333", "alias": "acme-dev"}]
    for provider in demo["identity_providers"]:
        provider["account"] = "111111111111"
        provider["mapping_rules"] = [
            r for r in provider.get("mapping_rules", []) if "222222222222" not in r["role"]
        ]
    _import(engine, demo)
    exported = load_yaml(export_config(engine))
    assert [(a["id"], a.get("alias")) for a in exported["accounts"]] == [
        ("111111111111", "acme-prod"),
        ("333333333333", "acme-dev"),
    ]
    assert {p["account"] for p in exported["identity_providers"]} == {"111111111111"}


def test_policies_are_stored_in_one_canonical_key_order(engine: Engine, demo: Doc) -> None:
    _import(engine, demo)
    exported = export_config(engine)
    trust = _role(demo, 0, "Admin")["trust_policy"]
    statement = trust["Statement"][0]
    # The same policy with keys shuffled, and given as JSON text as pasted from AWS.
    shuffled = {"Statement": [dict(reversed(list(statement.items())))], "Version": "2012-10-17"}
    import json

    _role(demo, 0, "Admin")["trust_policy"] = json.dumps(shuffled)
    assert not _import(engine, demo).changed
    assert export_config(engine) == exported


def test_revoke_sessions_before_only_moves_forward(engine: Engine, demo: Doc) -> None:
    _role(demo, 0, "Admin")["revoke_sessions_before"] = "2024-05-01T14:00:00+02:00"
    _import(engine, demo)
    exported = load_yaml(export_config(engine))
    assert _role(exported, 0, "Admin")["revoke_sessions_before"] == "2024-05-01T12:00:00Z"
    del _role(demo, 0, "Admin")["revoke_sessions_before"]
    report = _import(engine, demo)  # an older file must not revive revoked sessions
    assert not report.changed
    assert report.notes == (f"{PROD_ADMIN}: kept the later revoke_sessions_before already stored",)
    _role(demo, 0, "Admin")["revoke_sessions_before"] = "2025-01-01T00:00:00Z"
    assert _import(engine, demo).changed
    exported = load_yaml(export_config(engine))
    assert _role(exported, 0, "Admin")["revoke_sessions_before"] == "2025-01-01T00:00:00Z"


def test_dry_run_reports_and_writes_nothing(engine: Engine, demo_text: str) -> None:
    before = dump_database(engine)
    report = import_config(engine, demo_text, actor="t", dry_run=True)
    assert report.count("create") == 11 and "would change" in str(report)
    assert dump_database(engine) == before


def test_yaml_dates_and_yes_no_stay_strings(engine: Engine, demo: Doc) -> None:
    text = dump_yaml(demo).replace("Version: '2012-10-17'", "Version: 2012-10-17", 1)
    text = text.replace("team: platform", "team: no", 1)
    assert "Version: 2012-10-17\n" in text
    import_config(engine, text, actor="t")
    admin = _role(load_yaml(export_config(engine)), 0, "Admin")
    assert admin["trust_policy"]["Version"] == "2012-10-17"
    assert admin["tags"] == {"team": "no"}


def test_multi_line_text_is_exported_as_a_literal_block(engine: Engine, demo: Doc) -> None:
    xml = '<EntityDescriptor entityID="https://idp.example.com">\n  <x/>\n</EntityDescriptor>\n'
    demo["identity_providers"][0]["metadata_xml"] = xml
    _import(engine, demo)
    text = export_config(engine)
    assert "    metadata_xml: |\n      <EntityDescriptor" in text
    assert load_yaml(text)["identity_providers"][2]["metadata_xml"] == xml


# ---------------------------------------------------------------- bad input


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    """A mutation setting a dotted/indexed path, e.g. accounts[0].roles[1].name."""

    def mutate(document: Doc) -> None:
        target: Any = document
        parts = path.replace("[", ".").replace("]", "").split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if value is _DELETE:
            del target[last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


_DELETE = object()

BAD_INPUT = [
    (
        "unknown-key",
        _set("accounts[0].roles[0].colour", "blue"),
        "accounts[0].roles[0].colour: unknown key (expected one of: name, trust_policy, id, path,"
        " description, max_session_duration, revoke_sessions_before, tags, policies)",
    ),
    (
        "unknown-top-level-key",
        _set("roles", []),
        "roles: unknown key (expected one of: accounts, identity_providers)",
    ),
    (
        "missing-required-key",
        _set("accounts[0].roles[0].trust_policy", _DELETE),
        "accounts[0].roles[0].trust_policy: required",
    ),
    (
        "wrong-type",
        _set("accounts[0].roles[0].max_session_duration", "3600"),
        "accounts[0].roles[0].max_session_duration: expected an integer from 3600 to 43200"
        " (seconds), got a string",
    ),
    (
        "wrong-type-list",
        _set("accounts[1].roles", {"name": "x"}),
        "accounts[1].roles: expected a list, got a mapping",
    ),
    (
        "duration-too-long",
        _set("accounts[0].roles[1].max_session_duration", 43201),
        "accounts[0].roles[1].max_session_duration: expected an integer from 3600 to 43200"
        " (seconds), got 43201",
    ),
    (
        "duration-too-short",
        _set("accounts[0].roles[1].max_session_duration", 900),
        "accounts[0].roles[1].max_session_duration: expected an integer from 3600 to 43200"
        " (seconds), got 900",
    ),
    (
        "invalid-account-id",
        _set("accounts[1].id", "12345"),
        "accounts[1].id: expected 12 digits, got '12345'",
    ),
    (
        "unquoted-account-id",
        _set("accounts[1].id", 222222222222),
        "accounts[1].id: expected 12 digits, got an integer (quote it)",
    ),
    (
        "invalid-alias",
        _set("accounts[0].alias", "Acme_Prod"),
        "accounts[0].alias: expected 3-63 lowercase letters, digits and single hyphens, not at"
        " either end, got 'Acme_Prod'",
    ),
    (
        "invalid-role-name",
        _set("accounts[0].roles[0].name", "Admin Role"),
        "accounts[0].roles[0].name: expected 1-64 characters from letters, digits and +=,.@_-,"
        " got 'Admin Role'",
    ),
    (
        "invalid-role-path",
        _set("accounts[0].roles[0].path", "ops"),
        'accounts[0].roles[0].path: expected a path "/" or "/segment/.../" of printable ASCII'
        " without spaces, got 'ops'",
    ),
    (
        "invalid-role-id",
        _set("accounts[0].roles[0].id", "AIDA1111ADMIN00000001"),
        "accounts[0].roles[0].id: expected AROA followed by 17 uppercase letters or digits,"
        " got 'AIDA1111ADMIN00000001'",
    ),
    (
        "invalid-arn",
        _set("identity_providers[0].mapping_rules[0].role", "arn:aws:iam::1111:role/Admin"),
        "identity_providers[0].mapping_rules[0].role: expected a role ARN"
        " arn:aws:iam::<12 digits>:role/<path/><name>, got 'arn:aws:iam::1111:role/Admin'",
    ),
    (
        "rule-to-unknown-role",
        _set("identity_providers[1].mapping_rules[1].role", "arn:aws:iam::222222222222:role/Nope"),
        "identity_providers[1].mapping_rules[1].role: no role arn:aws:iam::222222222222:role/Nope"
        " in this configuration",
    ),
    (
        "provider-in-unknown-account",
        _set("identity_providers[3].account", "333333333333"),
        "identity_providers[3].account: no account 333333333333 in this configuration",
    ),
    (
        "duplicate-account-id",
        _set("accounts[1].id", "111111111111"),
        "accounts[1].id: duplicate account id: already used at accounts[0].id",
    ),
    (
        "duplicate-alias",
        _set("accounts[1].alias", "acme-prod"),
        "accounts[1].alias: duplicate alias: already used at accounts[0].alias",
    ),
    (
        "duplicate-role-name-any-case",
        _set("accounts[0].roles[1].name", "ADMIN"),
        "accounts[0].roles[1].name: duplicate role name in this account: already used at"
        " accounts[0].roles[0].name",
    ),
    (
        "duplicate-role-id",
        _set("accounts[1].roles[0].id", "AROA1111ADMIN00000001"),
        "accounts[1].roles[0].id: duplicate role id: already used at accounts[0].roles[0].id",
    ),
    (
        "duplicate-provider-name",
        _set("identity_providers[4].name", "Google"),
        "identity_providers[4].name: duplicate identity provider name: already used at"
        " identity_providers[2].name",
    ),
    (
        "duplicate-issuer",
        _set("identity_providers[1].issuer", "https://www.amazon.com/"),
        "identity_providers[4].issuer: duplicate issuer: already used at"
        " identity_providers[1].issuer",
    ),
    (
        "policy-not-json",
        _set("accounts[0].roles[0].trust_policy", '{"Version": "2012-10-17",'),
        "accounts[0].roles[0].trust_policy: not valid JSON: Expecting property name enclosed in"
        " double quotes: line 1 column 26 (char 25)",
    ),
    (
        "policy-json-duplicate-key",
        _set(
            "accounts[0].roles[0].policies.AdministratorAccess", '{"Version": "1", "Version": "2"}'
        ),
        "accounts[0].roles[0].policies.AdministratorAccess: not valid JSON: duplicate key"
        " 'Version'",
    ),
    (
        "policy-not-an-object",
        _set("accounts[1].roles[0].policies.DevelopmentAccess", ["Allow"]),
        "accounts[1].roles[0].policies.DevelopmentAccess: expected a mapping (or a JSON object),"
        " got a list",
    ),
    (
        "invalid-policy-name",
        _set("accounts[1].roles[0].policies", {"no spaces please": {"Version": "2012-10-17"}}),
        "accounts[1].roles[0].policies.no spaces please: expected 1-128 characters from letters,"
        " digits and +=,.@_-, got 'no spaces please'",
    ),
    (
        "reserved-tag-key",
        _set("accounts[0].roles[0].tags", {"aws:team": "x"}),
        'accounts[0].roles[0].tags.aws:team: tag keys must not start with "aws:"',
    ),
    (
        "bad-revoke-time",
        _set("accounts[0].roles[0].revoke_sessions_before", "2024-05-01T12:00:00"),
        "accounts[0].roles[0].revoke_sessions_before: expected an ISO 8601 time with a time zone,"
        " e.g. 2024-05-01T12:00:00Z: the time zone is missing",
    ),
    (
        "unknown-provider-kind",
        _set("identity_providers[0].kind", "ldap"),
        "identity_providers[0].kind: expected one of saml, oidc, google, facebook, amazon,"
        " got 'ldap'",
    ),
    (
        "field-of-another-kind",
        _set("identity_providers[0].issuer", "https://idp.example.com"),
        "identity_providers[0].issuer: unknown key (expected one of: name, kind, account,"
        " display_name, enabled, options, mapping_rules, admin_rules, metadata_url, metadata_xml)",
    ),
    (
        "oidc-without-issuer",
        _set("identity_providers[1].issuer", _DELETE),
        "identity_providers[1].issuer: required for kind oidc",
    ),
    (
        "oidc-without-audience",
        _set("identity_providers[2].client_ids", []),
        "identity_providers[2].client_ids: must not be empty",
    ),
    (
        "plain-http-issuer",
        _set("identity_providers[1].issuer", "http://idp.example.com"),
        "identity_providers[1].issuer: expected an https:// URL (http:// only for localhost),"
        " got 'http://idp.example.com'",
    ),
    (
        "unknown-option",
        _set("identity_providers[0].options.allow_everything", True),
        "identity_providers[0].options.allow_everything: unknown key (expected one of:"
        " allow_idp_initiated, allow_sha1, metadata_signing_certificates,"
        " relay_state_allowlist, require_signed_assertion, require_signed_response,"
        " revoke_on_logout)",
    ),
    (
        "option-wrong-type",
        _set("identity_providers[0].options.allow_idp_initiated", "yes"),
        "identity_providers[0].options.allow_idp_initiated: expected true or false, got a string",
    ),
    (
        "rule-without-conditions",
        _set("identity_providers[0].mapping_rules[0].when", []),
        "identity_providers[0].mapping_rules[0].when: at least one condition is required",
    ),
    (
        "unknown-operator",
        _set("identity_providers[0].mapping_rules[0].when[0].operator", "sounds_like"),
        "identity_providers[0].mapping_rules[0].when[0].operator: expected one of equals,"
        " not_equals, contains, starts_with, matches, regex, in, in_group, got 'sounds_like'",
    ),
    (
        "in-operator-without-values",
        _set("identity_providers[0].mapping_rules[0].when[0].operator", "in"),
        "identity_providers[0].mapping_rules[0].when[0].value: unknown key (expected one of:"
        " claim, operator, values)",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [pytest.param(m, e, id=i) for i, m, e in BAD_INPUT]
)
def test_bad_input_is_reported_with_its_exact_path_and_nothing_is_written(
    engine: Engine, demo: Doc, mutate: Callable[[Doc], None], expected: str
) -> None:
    _import(engine, demo, actor="setup")
    before = dump_database(engine)
    mutate(demo)
    assert expected in [str(p) for p in validate_config(demo)]
    with pytest.raises(Invalid) as excinfo:
        _import(engine, demo)
    assert expected in _problems(excinfo)
    assert dump_database(engine) == before


def test_every_problem_is_reported_not_only_the_first(engine: Engine, demo: Doc) -> None:
    for _, mutate, _ in BAD_INPUT[:12]:
        mutate(demo)
    problems = validate_config(demo)
    assert len(problems) >= 10
    assert all(isinstance(p, Problem) and p.path for p in problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "accounts:\n  - id: '111111111111'\n    alias: [unclosed\n",
            "YAML syntax error at line 4, column 1:",
            id="malformed",
        ),
        pytest.param(
            "accounts: []\nidentity_providers: []\naccounts: []\n",
            "YAML syntax error at line 3, column 1: duplicate key 'accounts'",
            id="duplicate-key",
        ),
        pytest.param(
            "accounts: &a []\nidentity_providers: *a\n",
            "YAML syntax error at line 2, column 21: aliases (*name) are not supported",
            id="alias",
        ),
        pytest.param(
            "accounts: []\nidentity_providers: []\n---\naccounts: []\n",
            "YAML syntax error at line 3, column 1:",
            id="two-documents",
        ),
        pytest.param(
            "", "expected a mapping with accounts and identity_providers, got null", id="empty"
        ),
        pytest.param("accounts: []\n", "identity_providers: required", id="missing-top-level-key"),
    ],
)
def test_bad_yaml_is_reported_with_line_numbers_and_nothing_is_written(
    engine: Engine, demo_text: str, text: str, expected: str
) -> None:
    import_config(engine, demo_text, actor="setup")
    before = dump_database(engine)
    with pytest.raises(Invalid) as excinfo:
        import_config(engine, text, actor="test")
    [problem] = _problems(excinfo)
    assert problem.startswith(expected), problem
    assert dump_database(engine) == before


def test_policy_engine_problems_keep_their_exact_path(
    engine: Engine, demo: Doc, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []

    def validate_policy(document: Any, *, kind: str, path: str = "") -> list[Problem]:
        seen.append((kind, path))
        return [
            Problem(f"{path}.Statement[{i}].Effect", 'expected "Allow" or "Deny"')
            for i, statement in enumerate(document.get("Statement", []))
            if statement.get("Effect") not in ("Allow", "Deny")
        ]

    monkeypatch.setattr(iam, "validate_policy", validate_policy)
    demo["accounts"][1]["roles"][1]["trust_policy"]["Statement"][0]["Effect"] = "Permit"
    with pytest.raises(Invalid) as excinfo:
        _import(engine, demo)
    assert _problems(excinfo) == [
        'accounts[1].roles[1].trust_policy.Statement[0].Effect: expected "Allow" or "Deny"'
    ]
    assert ("trust", "accounts[0].roles[0].trust_policy") in seen
    assert ("identity", "accounts[0].roles[0].policies.AdministratorAccess") in seen
    assert changes(engine) == []


def test_single_entities_validate_with_the_same_rules(demo: Doc) -> None:
    role = _role(demo, 0, "Admin")
    assert validate_role(role, account_id="111111111111") == []
    assert [
        str(p)
        for p in validate_role(
            {**role, "max_session_duration": 60}, account_id="111111111111", path="role"
        )
    ] == ["role.max_session_duration: expected an integer from 3600 to 43200 (seconds), got 60"]
    provider = demo["identity_providers"][0]
    assert validate_identity_provider(provider) == []
    assert [
        str(p)
        for p in validate_identity_provider(
            provider, account_ids={"222222222222"}, role_arns={PROD_ADMIN}
        )
    ] == [
        "account: no account 111111111111 in this configuration",
        "mapping_rules[1].role: no role arn:aws:iam::222222222222:role/engineering/Developer in"
        " this configuration",
        "mapping_rules[2].role: no role arn:aws:iam::111111111111:role/ReadOnly in this"
        " configuration",
    ]


def test_times_in_files_are_read_as_utc(engine: Engine, demo: Doc) -> None:
    _role(demo, 0, "Admin")["revoke_sessions_before"] = "2024-05-01T12:00:00.5-03:00"
    _import(engine, demo)
    [entry] = changes(engine, entity_key=PROD_ADMIN)
    assert entry.after is not None
    assert entry.after["revoke_sessions_before"] == "2024-05-01T15:00:00.500000Z"
    assert datetime.fromisoformat(entry.after["revoke_sessions_before"]).tzinfo == UTC
