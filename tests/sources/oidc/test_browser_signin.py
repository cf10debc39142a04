"""Browser sign-in through every provider kind in headless Chromium (Playwright), against
the live gateway and the emulators, ending on the console with credentials."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from gateway.runtime import Runtime
from gateway.store import audit
from tests.conftest import LiveServer
from tests.sources.oidc.world import (
    AMAZON_READER,
    FACEBOOK_READER,
    GOOGLE_READER,
    OIDC_BUILDER,
    OIDC_READER,
)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(15000)
    yield opened
    context.close()


def sign_in(page: Page, gateway: LiveServer, provider: str, person: str) -> None:
    page.goto(f"{gateway.url}/login")
    page.click(f"a[href='/oidc/{provider}/login']")
    page.get_by_role("button", name=f"Sign in as {person}").click()
    page.wait_for_url(f"{gateway.url}/console")


@pytest.mark.parametrize(
    ("provider", "person", "roles", "subject"),
    [
        ("test-oidc", "Alice Example", {OIDC_READER, OIDC_BUILDER}, "user-alice"),
        ("google", "Alice Example", {GOOGLE_READER}, "user-alice"),
        ("facebook", "Alice Example", {FACEBOOK_READER}, "10000000000000001"),
        ("amazon", "Alice Example", {AMAZON_READER}, "amzn1.account.ALICE000000000000"),
    ],
)
def test_sign_in_lists_the_mapped_roles_and_gives_credentials(
    page: Page, gateway: LiveServer, rt: Runtime, provider: str, person: str,
    roles: set[str], subject: str,
) -> None:
    sign_in(page, gateway, provider, person)
    assert subject in page.inner_text("#who")
    shown = set(page.eval_on_selector_all("tr.role", "rows => rows.map(r => r.dataset.roleArn)"))
    assert shown == roles
    first = sorted(roles)[0]
    page.click(f"tr.role[data-role-arn='{first}'] button")
    assert page.inner_text("#access-key-id").startswith("ASIA")
    events = audit.recent(rt.engine, audit.AuditFilter(event_type="signin", provider=provider))
    assert events and events[0].outcome == "success" and events[0].subject == subject


def test_person_without_a_mapped_role_sees_why(page: Page, gateway: LiveServer) -> None:
    """Mallory has no Workspace domain, so Google's only rule (hd) does not match."""
    sign_in(page, gateway, "google", "Mallory Outsider")
    assert page.locator("tr.role").count() == 0
    assert "No mapping rule matched" in page.inner_text("#no-roles")


def test_cancel_at_the_provider_shows_a_page(page: Page, gateway: LiveServer) -> None:
    page.goto(f"{gateway.url}/oidc/facebook/login")
    response: Any = None
    with page.expect_response(lambda r: "/oidc/facebook/callback" in r.url) as info:
        page.get_by_role("button", name="Cancel").click()
    response = info.value
    assert response.status == 403
    assert "did not sign you in" in page.content()
