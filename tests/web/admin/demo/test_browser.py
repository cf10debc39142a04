"""The new admin features in headless Chromium with the demo SAML IdP: the trail of a real
sign-in, the simulator with a pasted SAML response, disabling a provider. Every page gets
axe-core (no serious or critical violations), no CSP errors, and a screenshot."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from gateway.store import audit
from tests.web.admin.browser import ARGS, CHROMIUM, accessibility_violations, screenshot
from tests.web.portal.conftest import sign_in
from tests.web.saml_support import DEVELOPER, World


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    yield page
    context.close()
    assert not errors, f"JavaScript errors or CSP violations: {errors}"


def check(page: Page, name: str) -> None:
    screenshot(page, name)
    assert accessibility_violations(page) == [], name


def get_credentials(page: Page, w: World, role: str) -> str:
    row = f"tr.role[data-role-arn='{role}']"
    page.select_option(f"{row} select", "900")
    page.click(f"{row} button.get-credentials")
    page.wait_for_selector("#credentials")
    return page.inner_text("#access-key-id")


def test_the_trail_of_a_chromium_sign_in_shows_issuance_refresh_and_revocation_in_order(
    page: Page, w: World
) -> None:
    sign_in(page, w, "alice")  # an admin through demo-saml's admin rule
    first = get_credentials(page, w, DEVELOPER)
    page.click("#refresh")
    page.wait_for_selector("#refreshed")
    second = page.inner_text("#access-key-id")
    assert second != first

    page.goto(f"{w.url}/admin/roles/222222222222/Developer")
    page.get_by_role("button", name=f"Revoke session {first}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Session {first} revoked")

    page.goto(f"{w.url}/admin/audit?event_type=signin&person=alice@example.com")
    check(page, "audit-with-trail-links")
    page.locator("table.events tbody tr").first.get_by_role("link", name=re.compile(
        r"Trail of event \d+")).click()
    expect(page.get_by_role("heading", name="Trail", exact=True)).to_be_visible()
    steps = page.locator("ol.trail > li")
    assert [steps.nth(i).get_attribute("data-kind") for i in range(steps.count())] == [
        "signin", "issued", "refresh", "revoked"]
    assert "Signed in through demo-saml" in steps.nth(0).inner_text()
    signin = audit.recent(w.rt.engine, audit.AuditFilter(
        event_type=audit.SIGNIN, subject="alice@example.com"), limit=1)[0]
    assert page.inner_text("#upstream-id") == (signin.detail or {})["assertion_id"]
    assert first in steps.nth(1).inner_text()
    assert 'rule 2: groups equals "engineering"' in steps.nth(1).inner_text()
    assert second in steps.nth(2).inner_text()
    assert first in steps.nth(3).inner_text()
    assert "demo-saml:alice@example.com" in steps.nth(3).inner_text()  # who revoked it
    check(page, "trail")
    # From the revocation's own trail page, the same chain.
    steps.nth(3).get_by_role("link", name=first).click()
    expect(page.get_by_role("heading", name="Audit", exact=True)).to_be_visible()


def test_the_simulator_marks_a_tampered_response_not_validated(page: Page, w: World) -> None:
    sign_in(page, w, "alice")
    xml = base64.b64decode(w.idp.idp.response_b64("bob")).decode()
    tampered = base64.b64encode(xml.replace(">staff<", ">admins<").encode()).decode()
    page.goto(f"{w.url}/admin/simulator")
    page.get_by_label("SAML response (base64 or XML)").fill(tampered)
    page.get_by_role("button", name="Map the response").click()
    expect(page.get_by_role("alert")).to_contain_text("The response signature does not verify")
    check(page, "simulator-saml-refused")
    page.get_by_label("Ignore signature and time").check()
    page.get_by_role("button", name="Map the response").click()
    result = page.locator("section.result")
    expect(result.locator("#validation")).to_contain_text("NOT VALIDATED")
    expect(result.locator("#would-refuse")).to_contain_text("Full validation would refuse it")
    expect(result).to_contain_text('rule 1: groups equals "admins"')
    check(page, "simulator-saml-unverified")
    page.get_by_label("Validate fully").check()
    page.get_by_label("SAML response (base64 or XML)").fill(w.idp.idp.response_b64("bob"))
    page.get_by_role("button", name="Map the response").click()
    expect(page.locator("#validation")).to_contain_text("Validated")
    check(page, "simulator-saml-validated")


def test_disabling_a_provider_in_the_browser_hides_it_and_enabling_brings_it_back(
    page: Page, w: World
) -> None:
    sign_in(page, w, "alice")
    page.goto(f"{w.url}/admin/providers")
    check(page, "providers-with-status")
    try:
        page.get_by_role("button", name="Disable demo-oidc").click()
        expect(page.get_by_role("status")).to_contain_text("Identity provider demo-oidc disabled")
        expect(page.locator("td[data-provider='demo-oidc']")).to_contain_text("Disabled")
        check(page, "providers-one-disabled")
        page.goto(f"{w.url}/admin/providers/demo-oidc")
        expect(page.get_by_role("heading", name="Status: disabled")).to_be_visible()
        check(page, "provider-disabled")
        # Disabling the provider alice is signed in through would lock her out: refused.
        page.goto(f"{w.url}/admin/providers")
        page.get_by_role("button", name="Disable demo-saml").click()
        expect(page.locator(".admin-body")).to_contain_text("would end your own admin access")
        check(page, "provider-disable-self-refused")
        sign_in_page = page.context.new_page()
        sign_in_page.goto(f"{w.url}/login")
        assert sign_in_page.locator("#idp-demo-oidc").count() == 0
        assert sign_in_page.locator("#idp-demo-saml").count() == 1
        sign_in_page.close()
    finally:
        page.goto(f"{w.url}/admin/providers")
        page.get_by_role("button", name="Enable demo-oidc").click()
    expect(page.locator("td[data-provider='demo-oidc']")).to_contain_text("Enabled")
    assert w.rt.snapshot.providers_by_name["demo-oidc"].enabled
