"""Admin rules with a real sign-in: the OpenID emulator's alice is in `admins`, bob is not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway import create_app
from gateway.devtools.emulators import Emulators
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.changelog import changes
from gateway.store.config_io import dump_yaml, import_config
from tests.sources.oidc import signin
from tests.sources.oidc.conftest import emulators, fresh_emulators  # noqa: F401  (fixtures)
from tests.sources.oidc.world import world
from tests.web.admin.support import AdminBrowser, BoundServer, admin_link, csrf_token

ADMINS = [{"description": "gateway admins",
           "when": [{"claim": "groups", "operator": "equals", "value": "admins"}]}]


@pytest.fixture
def gateway(admin_settings: Settings, emulators: Emulators) -> Iterator[BoundServer]:  # noqa: F811
    app = create_app(admin_settings)
    rt: Runtime = app.extensions["gateway"]
    document = world(emulators)
    document["identity_providers"][0]["admin_rules"] = ADMINS
    import_config(rt.engine, dump_yaml(document), actor="test")
    rt.config.bump()
    server = BoundServer(app, int(admin_settings.base_url.rsplit(":", 1)[1]))
    yield server
    server.stop()


def signed_in(gateway: BoundServer, login: str) -> AdminBrowser:
    browser = AdminBrowser(gateway.url)
    query = signin.start(browser.http, gateway, "test-oidc")
    landed = signin.finish(browser.http, signin.approve(browser.http, query, login))
    assert landed.status_code == 303, landed.text
    return browser


def test_a_person_matching_an_admin_rule_is_an_admin_and_is_the_actor(
    gateway: BoundServer,
) -> None:
    alice = signed_in(gateway, "alice")
    page = alice.get("/admin/")
    assert page.status_code == 200
    assert "test-oidc:user-alice" in page.text
    assert "admin rule 1 of test-oidc" in page.text
    response = alice.post("/admin/accounts/111111111111/alias", {"alias": "by-alice"},
                          page="/admin/accounts")
    assert response.status_code == 303
    assert changes(gateway.runtime.engine, limit=1)[0].actor == "test-oidc:user-alice"


def test_a_signed_in_person_matching_no_admin_rule_gets_403_not_a_redirect(
    gateway: BoundServer, env: dict[str, str]
) -> None:
    bob = signed_in(gateway, "bob")
    for path in ["/admin", "/admin/roles", "/admin/config/export.yaml"]:
        response = bob.get(path)
        assert response.status_code == 403, path
        assert "Location" not in response.headers
        assert "no admin rule of that identity provider matches you" in response.text
    # Not even with a valid CSRF token of his own session (a link's confirmation page shows
    # one without using the link up).
    token = csrf_token(bob.get("/admin/link/" + admin_link(env).rsplit("/", 1)[1]).text)
    refused = bob.post_raw("/admin/accounts", {"csrf_token": token, "id": "333333333333"})
    assert refused.status_code == 403
    assert "333333333333" not in gateway.runtime.snapshot.accounts_by_id


def test_removing_the_admin_rule_takes_admin_away_at_once(gateway: BoundServer) -> None:
    alice = signed_in(gateway, "alice")
    assert alice.get("/admin/").status_code == 200
    response = alice.post("/admin/providers/test-oidc/admin-rules/0/delete",
                          page="/admin/providers/test-oidc")
    assert response.status_code == 303
    assert alice.get("/admin/").status_code == 403
