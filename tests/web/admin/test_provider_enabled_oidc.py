"""Disabled OpenID and social providers (emulators): browser sign-in refused with a page and
an audit event; AssumeRoleWithWebIdentity and /api/v1/token refuse their tokens with their
own protocol's error; enabled again, the same tokens work."""

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

from gateway import create_app
from gateway.devtools.emulators import AMAZON_CLIENT, DEMO_USERS, OIDC_CLIENT, Emulators
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store import audit
from gateway.store.config_io import import_config
from tests.sources.oidc import signin
from tests.sources.oidc.conftest import emulators, fresh_emulators  # noqa: F401  (fixtures)
from tests.sources.oidc.world import AMAZON_READER, OIDC_READER, world_yaml
from tests.web.admin.support import AdminBrowser, BoundServer, csrf_token

ALICE = DEMO_USERS[0]
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture
def gateway(admin_settings: Settings, emulators: Emulators) -> Iterator[BoundServer]:  # noqa: F811
    app = create_app(admin_settings)
    rt: Runtime = app.extensions["gateway"]
    import_config(rt.engine, world_yaml(emulators), actor="test")
    rt.config.bump()
    server = BoundServer(app, int(admin_settings.base_url.rsplit(":", 1)[1]))
    yield server
    server.stop()


def toggle(admin: AdminBrowser, rt: Runtime, name: str, enabled: bool) -> None:
    action = "enable" if enabled else "disable"
    response = admin.post(f"/admin/providers/{name}/{action}", page=f"/admin/providers/{name}")
    assert response.status_code == 303, response.text
    assert rt.snapshot.providers_by_name[name].enabled is enabled


def web_identity(gateway: BoundServer, token: str, role: str, **extra: Any) -> Any:
    client = boto3.client("sts", endpoint_url=f"{gateway.url}/sts", region_name="us-east-1",
                          config=Config(signature_version=UNSIGNED,
                                        retries={"max_attempts": 1}))
    return client.assume_role_with_web_identity(RoleArn=role, RoleSessionName="app",
                                                WebIdentityToken=token, **extra)


def exchange(gateway: BoundServer, token: str, token_type: str = ID_TOKEN,
             **extra: str) -> requests.Response:
    return requests.post(f"{gateway.url}/api/v1/token", timeout=20, data={
        "grant_type": GRANT, "subject_token": token, "subject_token_type": token_type, **extra})


def refusals(rt: Runtime, event_type: str) -> list[audit.AuditEvent]:
    return audit.recent(rt.engine, audit.AuditFilter(event_type=event_type), limit=5)


def test_browser_sign_in_is_refused_at_login_and_at_the_callback(
    gateway: BoundServer, admin: AdminBrowser, rt: Runtime
) -> None:
    browser = requests.Session()
    begun = signin.start(browser, gateway, "test-oidc")  # before the provider is disabled
    toggle(admin, rt, "test-oidc", False)
    login = browser.get(f"{gateway.url}/oidc/test-oidc/login", allow_redirects=False, timeout=10)
    assert login.status_code == 403 and login.headers["Content-Type"].startswith("text/html")
    assert "is turned off on this gateway" in login.text
    landed = signin.finish(browser, signin.approve(browser, begun, "alice"))
    assert landed.status_code == 403
    assert "is turned off on this gateway" in landed.text
    events = refusals(rt, audit.SIGNIN_REFUSED)
    assert [(e.provider, e.error_code) for e in events[:2]] == [
        ("test-oidc", "provider_disabled")] * 2
    assert not audit.recent(rt.engine, audit.AuditFilter(event_type=audit.SIGNIN), limit=1)

    toggle(admin, rt, "test-oidc", True)
    query = signin.start(browser, gateway, "test-oidc")
    landed = signin.finish(browser, signin.approve(browser, query, "alice"))
    assert landed.status_code == 303 and landed.headers["Location"] == "/console"


def test_assume_role_with_web_identity_refuses_a_disabled_providers_tokens(
    gateway: BoundServer, admin: AdminBrowser, rt: Runtime, emulators: Emulators  # noqa: F811
) -> None:
    token = emulators.oidc.id_token(ALICE, OIDC_CLIENT[0])
    toggle(admin, rt, "test-oidc", False)
    with pytest.raises(ClientError) as refused:
        web_identity(gateway, token, OIDC_READER)
    error = refused.value.response
    assert error["Error"]["Code"] == "InvalidIdentityToken"
    assert error["Error"]["Message"] == (
        "The identity provider test-oidc is disabled on this gateway; its tokens are not "
        "accepted.")
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    event = refusals(rt, audit.CREDENTIALS_REFUSED)[0]
    assert event.error_code == "InvalidIdentityToken"
    toggle(admin, rt, "test-oidc", True)
    assert web_identity(gateway, token, OIDC_READER)["Credentials"]["AccessKeyId"]


def test_the_token_exchange_refuses_a_disabled_providers_tokens_in_rfc_6749_json(
    gateway: BoundServer, admin: AdminBrowser, rt: Runtime, emulators: Emulators  # noqa: F811
) -> None:
    token = emulators.oidc.id_token(ALICE, OIDC_CLIENT[0])
    toggle(admin, rt, "test-oidc", False)
    answer = exchange(gateway, token, audience=OIDC_READER)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    assert body["error"] == "invalid_grant"
    assert "test-oidc is disabled" in body["error_description"]
    assert "credentials" not in body
    assert refusals(rt, audit.CREDENTIALS_REFUSED)[0].detail["error"] == "invalid_grant"
    toggle(admin, rt, "test-oidc", True)
    assert exchange(gateway, token, audience=OIDC_READER).status_code == 200


def test_opaque_access_tokens_of_a_disabled_social_provider_are_refused(
    gateway: BoundServer, admin: AdminBrowser, rt: Runtime, emulators: Emulators  # noqa: F811
) -> None:
    token = emulators.amazon.issue_token(ALICE, AMAZON_CLIENT[0])
    toggle(admin, rt, "amazon", False)
    with pytest.raises(ClientError) as refused:
        web_identity(gateway, token, AMAZON_READER, ProviderId="www.amazon.com")
    assert refused.value.response["Error"]["Code"] == "InvalidIdentityToken"
    assert "amazon is disabled" in refused.value.response["Error"]["Message"]
    answer = exchange(gateway, token, ACCESS_TOKEN, provider_id="www.amazon.com",
                      audience=AMAZON_READER)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    toggle(admin, rt, "amazon", True)
    assert web_identity(gateway, token, AMAZON_READER,
                        ProviderId="www.amazon.com")["Credentials"]["AccessKeyId"]


def test_an_openid_sign_in_is_followed_by_the_trail_like_a_saml_one(
    gateway: BoundServer, admin: AdminBrowser, rt: Runtime
) -> None:
    browser = AdminBrowser(gateway.url)
    query = signin.start(browser.http, gateway, "test-oidc")
    landed = signin.finish(browser.http, signin.approve(browser.http, query, "alice"))
    assert landed.status_code == 303
    console = browser.get("/console").text
    minted = browser.http.post(f"{gateway.url}/console/credentials", timeout=20, data={
        "csrf_token": csrf_token(console), "role_arn": OIDC_READER, "duration": "900"})
    assert minted.status_code == 200, minted.text[-500:]
    event = audit.recent(rt.engine, audit.AuditFilter(event_type=audit.SIGNIN), limit=1)[0]
    detail = event.detail or {}
    assert detail["signin_id"] and detail["upstream_id"]
    page = admin.get(f"/admin/audit/trail/{event.id}").text
    assert re.findall(r'data-kind="([a-z]+)"', page) == ["signin", "issued"]
    assert detail["upstream_id"] in page
    assert 'rule 1: groups equals "engineering"' in page.replace("&#34;", '"')
