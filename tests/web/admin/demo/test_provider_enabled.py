"""Disabling an identity provider from the admin console (SAML demo world): hidden from the
sign-in page, refused at SP-initiated login, the ACS and AssumeRoleWithSAML (each with its
protocol's error and an audit event), logged with before/after, exported; enabled again,
everything works again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from gateway.store import audit
from gateway.store.changelog import changes
from gateway.store.config_io import export_config, load_yaml
from tests.web.admin.support import AdminBrowser, csrf_token
from tests.web.saml_support import DEMO_PROVIDER_ARN, READONLY_PROD, Browser, World

PROVIDER = "demo-saml"
REFUSED = "Sign-in through Demo corporate sign-in (SAML) is turned off on this gateway."


def set_enabled(admin: AdminBrowser, enabled: bool, name: str = PROVIDER) -> requests.Response:
    action = "enable" if enabled else "disable"
    return admin.post(f"/admin/providers/{name}/{action}", page="/admin/providers")


@pytest.fixture
def disabled(admin: AdminBrowser, w: World) -> Iterator[None]:
    response = set_enabled(admin, False)
    assert response.status_code == 303, response.text
    assert w.rt.snapshot.providers_by_name[PROVIDER].enabled is False  # live at once
    yield
    set_enabled(admin, True)


def last_refusal(w: World) -> audit.AuditEvent:
    return audit.recent(w.rt.engine, audit.AuditFilter(event_type=audit.SIGNIN_REFUSED),
                        limit=1)[0]


def sts_saml(w: World, assertion: str) -> Any:
    client = boto3.client("sts", endpoint_url=f"{w.url}/sts", region_name="us-east-1",
                          config=Config(signature_version=UNSIGNED,
                                        retries={"max_attempts": 1}))
    return client.assume_role_with_saml(RoleArn=READONLY_PROD, PrincipalArn=DEMO_PROVIDER_ARN,
                                        SAMLAssertion=assertion)


def test_disabling_is_an_audited_change_with_before_and_after_and_is_exported(
    admin: AdminBrowser, w: World, disabled: None
) -> None:
    change = changes(w.rt.engine, limit=1)[0]
    assert change.actor.startswith("break-glass:")
    assert (change.action, change.entity_type, change.entity_key) == (
        "update", "identity_provider", PROVIDER)
    assert change.before is not None and "enabled" not in change.before
    assert change.after is not None and change.after["enabled"] is False
    exported = {p["name"]: p for p in load_yaml(export_config(w.rt.engine))["identity_providers"]}
    assert exported[PROVIDER]["enabled"] is False
    listing = admin.get("/admin/providers").text
    row = re.search(rf'data-provider="{PROVIDER}">(.*?)</td>', listing, re.S)
    assert row and "Disabled" in row.group(1) and "Enable demo-saml" in row.group(1)
    assert "Status: disabled" in admin.get(f"/admin/providers/{PROVIDER}").text
    assert set_enabled(admin, True).status_code == 303
    back = changes(w.rt.engine, limit=1)[0]
    assert back.before is not None and back.before["enabled"] is False
    assert back.after is not None and "enabled" not in back.after


def test_the_sign_in_page_hides_a_disabled_provider(w: World, disabled: None) -> None:
    page = requests.get(f"{w.url}/login", timeout=10).text
    assert 'id="idp-demo-saml"' not in page
    assert 'id="idp-demo-oidc"' in page


def test_sp_initiated_sign_in_is_refused_with_a_page_and_an_audit_event(
    w: World, disabled: None
) -> None:
    answer = requests.get(f"{w.url}/saml/login/{PROVIDER}", allow_redirects=False, timeout=10)
    assert answer.status_code == 403
    assert answer.headers["Content-Type"].startswith("text/html")
    assert REFUSED in answer.text
    event = last_refusal(w)
    assert (event.provider, event.error_code) == (PROVIDER, "provider_disabled")


def test_the_acs_refuses_a_sign_in_begun_before_the_provider_was_disabled(
    admin: AdminBrowser, w: World
) -> None:
    browser = Browser(w)
    action, fields = browser.idp_login(browser.start(), "bob")
    assert set_enabled(admin, False).status_code == 303
    try:
        answer = browser.post(action, fields)
        assert answer.status_code == 403
        assert REFUSED in answer.text
        event = last_refusal(w)
        assert (event.provider, event.error_code) == (PROVIDER, "provider_disabled")
        # IdP-initiated (unsolicited) responses are refused the same way.
        unsolicited = browser.post(action, {"SAMLResponse": w.idp.idp.response_b64("bob")})
        assert unsolicited.status_code == 403 and REFUSED in unsolicited.text
    finally:
        set_enabled(admin, True)
    # Enabled again: a fresh sign-in goes through.
    landed = Browser(w).sign_in("bob")
    assert landed.status_code == 200 and landed.url == f"{w.url}/console"


def test_assume_role_with_saml_is_refused_with_the_sts_error(
    admin: AdminBrowser, w: World
) -> None:
    assert set_enabled(admin, False).status_code == 303
    try:
        with pytest.raises(ClientError) as refused:
            sts_saml(w, w.idp.idp.response_b64("alice"))
        error = refused.value.response
        assert error["Error"]["Code"] == "InvalidIdentityToken"
        assert "demo-saml is disabled on this gateway" in error["Error"]["Message"]
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        event = audit.recent(w.rt.engine, audit.AuditFilter(
            event_type=audit.CREDENTIALS_REFUSED), limit=1)[0]
        assert event.error_code == "InvalidIdentityToken"
        assert "provider_disabled" in str((event.detail or {}).get("why"))
    finally:
        set_enabled(admin, True)
    credentials = sts_saml(w, w.idp.idp.response_b64("alice"))["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")


def test_a_session_from_before_gets_no_more_credentials(admin: AdminBrowser, w: World) -> None:
    browser = Browser(w)
    browser.sign_in("bob")
    token = browser.csrf()
    assert set_enabled(admin, False).status_code == 303
    try:
        page = browser.http.get(f"{w.url}/console").text
        assert REFUSED in page
        answer = browser.http.post(f"{w.url}/console/credentials", data={
            "csrf_token": token, "role_arn": READONLY_PROD, "duration": "900"})
        assert answer.status_code == 403
        assert "ASIA" not in answer.text
    finally:
        set_enabled(admin, True)
    answer = browser.http.post(f"{w.url}/console/credentials", data={
        "csrf_token": token, "role_arn": READONLY_PROD, "duration": "900"})
    assert answer.status_code == 200 and 'id="access-key-id"' in answer.text


def test_a_disabled_provider_grants_no_admin_and_an_admin_cannot_lock_themselves_out(
    admin: AdminBrowser, w: World
) -> None:
    alice = Browser(w)
    alice.sign_in("alice")  # an admin through demo-saml's admin rule
    page = alice.http.get(f"{w.url}/admin/providers").text
    answer = alice.http.post(f"{w.url}/admin/providers/{PROVIDER}/disable",
                             data={"csrf_token": csrf_token(page)}, allow_redirects=False)
    assert answer.status_code == 409
    assert "would end your own admin access" in answer.text
    assert w.rt.snapshot.providers_by_name[PROVIDER].enabled
    assert set_enabled(admin, False).status_code == 303  # break-glass may
    try:
        assert alice.http.get(f"{w.url}/admin/", allow_redirects=False).status_code == 403
    finally:
        set_enabled(admin, True)
    assert alice.http.get(f"{w.url}/admin/", allow_redirects=False).status_code == 200


def test_enable_and_disable_need_the_csrf_token_and_a_known_provider(
    admin: AdminBrowser, w: World
) -> None:
    refused = admin.post_raw(f"/admin/providers/{PROVIDER}/disable", {})
    assert refused.status_code == 400
    assert w.rt.snapshot.providers_by_name[PROVIDER].enabled
    assert set_enabled(admin, False, "nope").status_code == 404
    # Enabling what is enabled writes nothing.
    before = len(changes(w.rt.engine, limit=500))
    assert set_enabled(admin, True).status_code == 303
    assert len(changes(w.rt.engine, limit=500)) == before
