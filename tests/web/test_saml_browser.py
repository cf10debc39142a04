"""SAML sign-in and logout in headless Chromium (Playwright), gateway and demo IdP as servers.

Needs /usr/bin/chromium (Debian's `chromium` package); Playwright's own browser
download is not used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import RedisServer
from tests.web.saml_support import ADMIN, DEVELOPER, READONLY_DEV, READONLY_PROD, World, world

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("saml-browser")
    redis_server = RedisServer(tmp / "redis")
    redis_server.start()
    try:
        with world(tmp, redis_server.url) as running:
            yield running
    finally:
        redis_server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "install Debian's chromium package (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context()  # a fresh cookie jar per test
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page: Page, w: World, user: str) -> None:
    page.goto(f"{w.url}/login")
    page.click("#idp-demo-saml")
    page.wait_for_url(re.compile(r".*/sso/redirect.*"))
    assert "(signed)" in page.inner_text("body")  # our AuthnRequest carried a signature
    page.click(f"#user-{user}")
    page.wait_for_url(f"{w.url}/console")


def test_sp_initiated_sign_in_and_credentials(page: Page, w: World) -> None:
    sign_in(page, w, "alice")
    assert "Signed in as alice@example.com" in page.inner_text("#who")
    roles = page.locator("tr.role")
    arns = {roles.nth(i).get_attribute("data-role-arn") for i in range(roles.count())}
    assert arns == {ADMIN, READONLY_PROD, DEVELOPER, READONLY_DEV}
    page.locator(f"tr.role[data-role-arn='{DEVELOPER}'] button.get-credentials").click()
    page.wait_for_selector("#credentials")
    assert page.inner_text("#access-key-id").startswith("ASIA")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", page.inner_text("#expiration"))
    # The last choice is remembered on the picker.
    page.goto(f"{w.url}/login")
    assert "used last time" in page.inner_text("#providers li:first-child")


def test_idp_initiated_sign_in_follows_an_allowed_relay_state(page: Page, w: World) -> None:
    page.goto(f"{w.idp.idp.base_url}/initiate?RelayState={w.url}/console?from=idp")
    page.click("#user-bob")
    page.wait_for_url(f"{w.url}/console?from=idp")
    assert "Signed in as bob@example.com" in page.inner_text("#who")
    assert page.locator("tr.role").count() == 1


def test_a_user_without_roles_is_told_why(page: Page, w: World) -> None:
    sign_in(page, w, "carol")
    assert "No mapping rule matched your attributes" in page.inner_text("#no-roles")


def test_sp_initiated_logout(page: Page, w: World) -> None:
    sign_in(page, w, "alice")
    page.click("#sign-out")
    page.wait_for_selector("#signed-out")
    assert "signed out of the gateway and of Demo corporate sign-in" in page.inner_text(
        "#signed-out")
    page.goto(f"{w.url}/console")
    assert page.url == f"{w.url}/login"


def test_idp_initiated_logout(page: Page, w: World) -> None:
    sign_in(page, w, "bob")
    page.goto(f"{w.idp.idp.base_url}/logout?user=bob")
    page.wait_for_selector("#slo-result")
    assert "Success" in page.inner_text("#slo-result")
    page.goto(f"{w.url}/console")
    assert page.url == f"{w.url}/login"


def test_a_refused_response_shows_a_clear_page(page: Page, w: World) -> None:
    """A tampered response posted by the browser: an HTML page with the reason, status 403."""
    from tests.sources.saml import forge
    from tests.web.saml_support import demo_signer, spec_for

    xml = forge.tampered(forge.signed(spec_for(w), demo_signer()))
    page.set_content(
        f"<form method='post' action='{w.url}/saml/acs'>"
        f"<input type='hidden' name='SAMLResponse' value='{forge.b64(xml)}'>"
        "<button id='go'>post</button></form>"
    )
    with page.expect_response(f"{w.url}/saml/acs") as answer:
        page.click("#go")
    assert answer.value.status == 403
    page.wait_for_load_state()
    assert "does not verify with the identity provider's certificate" in page.inner_text("body")
