"""The admin console in headless Chromium: key flows by mouse and keyboard, axe-core on every
page (no serious or critical violations), no CSP violations, and a screenshot of each page."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from gateway.runtime import Runtime
from tests.sts_world import ACCOUNT_A, BASE_ROLE, CHAINED_ROLE, CROSS_ROLE, first_credentials
from tests.web.admin.browser import ARGS, CHROMIUM, accessibility_violations, screenshot
from tests.web.admin.support import BoundServer, admin_link

PAGES = [
    ("overview", "/admin/"),
    ("accounts", "/admin/accounts"),
    ("providers", "/admin/providers"),
    ("provider-kinds", "/admin/providers/new"),
    ("provider-new-saml", "/admin/providers/new?kind=saml"),
    ("provider-new-oidc", "/admin/providers/new?kind=oidc"),
    ("provider-corp", "/admin/providers/corp"),
    ("rules-corp", "/admin/providers/corp/rules"),
    ("roles", "/admin/roles"),
    ("role-new", "/admin/roles/new"),
    ("role-base", f"/admin/roles/{ACCOUNT_A}/Base"),
    ("simulator", "/admin/simulator"),
    ("audit", "/admin/audit"),
    ("config", "/admin/config"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


class Watched:
    """A page whose console errors (CSP violations among them) and dialogs are recorded."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def _console(self, message: ConsoleMessage) -> None:
        # HTTP statuses (the 401 page, a missing favicon) are checked where they matter;
        # everything else logged as an error (a CSP violation, a script error) fails.
        if message.type == "error" and not message.text.startswith(
            "Failed to load resource: the server responded with a status of"
        ):
            self.errors.append(message.text)


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield Watched(page)
    context.close()


def sign_in(page: Page, gateway: BoundServer, env: dict[str, str]) -> None:
    page.goto(admin_link(env))
    page.get_by_role("button", name="Sign in as administrator").click()
    page.wait_for_url(f"{gateway.url}/admin/")


def check(watched: Watched, name: str) -> None:
    """Screenshot, then no serious/critical axe findings and no console errors."""
    screenshot(watched.page, name)
    assert accessibility_violations(watched.page) == [], name
    assert watched.errors == [], name
    assert watched.dialogs == [], name


def test_every_admin_page_is_accessible_and_runs_under_the_strict_csp(
    watched: Watched, gateway: BoundServer, env: dict[str, str]
) -> None:
    page = watched.page
    page.goto(f"{gateway.url}/admin/roles")
    expect(page.get_by_role("heading", name="Sign in to use the admin console")).to_be_visible()
    check(watched, "denied-401")
    page.goto(admin_link(env))
    check(watched, "break-glass-link")
    page.get_by_role("button", name="Sign in as administrator").click()
    page.wait_for_url(f"{gateway.url}/admin/")
    for name, path in PAGES:
        response = page.goto(gateway.url + path)
        assert response is not None and response.status == 200, path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        check(watched, name)
    # A form refused with problems shown inline is accessible too.
    page.goto(f"{gateway.url}/admin/roles/{ACCOUNT_A}/Base")
    page.get_by_label("Trust policy (JSON): who may assume this role").fill('{"Version": 1}')
    page.get_by_role("button", name="Save role").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    expect(page.locator("#role-trust")).to_have_attribute("aria-invalid", "true")
    check(watched, "role-base-refused")
    # Small screens: the navigation moves above the content.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{gateway.url}/admin/providers/corp/rules")
    check(watched, "rules-corp-narrow")


def test_keyboard_focus_moves_from_the_navigation_into_the_page(
    watched: Watched, gateway: BoundServer, env: dict[str, str]
) -> None:
    page = watched.page
    sign_in(page, gateway, env)
    page.goto(f"{gateway.url}/admin/accounts")
    focused = []
    for _ in range(10):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.textContent.trim() || "
                                     "document.activeElement.id"))
    assert focused[:3] == ["Federation Gateway", "Sign out", "Overview"]
    assert focused.index("Accounts") < focused.index("Config") < len(focused) - 1


def test_an_admin_adds_a_mapping_rule_in_the_browser_and_it_is_live(
    watched: Watched, gateway: BoundServer, env: dict[str, str], rt: Runtime
) -> None:
    page = watched.page
    sign_in(page, gateway, env)
    page.get_by_role("link", name="Identity providers").click()
    page.get_by_role("link", name="0 rules").click()
    page.get_by_label("Description").fill("engineers")
    page.get_by_label("Condition 1: attribute or claim").fill("groups")
    page.get_by_label("Condition 1: match type").select_option("equals")
    page.get_by_label("Condition 1: value").fill("engineering")
    page.get_by_label("Target role").select_option(BASE_ROLE)
    page.get_by_role("button", name="Add rule").click()
    expect(page.get_by_role("status")).to_contain_text("Rule 1 added to corp.")
    expect(page.locator("ol.rules")).to_contain_text('groups equals "engineering"')
    expect(page.locator("ol.rules")).to_contain_text("trusts this provider")
    rules = rt.snapshot.rules_by_provider["corp"]
    assert [(r.role_arn, r.conditions[0].values) for r in rules] == [
        (BASE_ROLE, ("engineering",))]
    check(watched, "rules-corp-added")


def test_the_simulator_explains_a_denial_in_the_browser(
    watched: Watched, gateway: BoundServer, env: dict[str, str]
) -> None:
    page = watched.page
    sign_in(page, gateway, env)
    page.goto(f"{gateway.url}/admin/providers/corp/rules")
    page.get_by_label("Condition 1: attribute or claim").fill("groups")
    page.get_by_label("Condition 1: value").fill("partners")
    page.get_by_label("Target role").select_option(CROSS_ROLE)
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator(".warning")).to_contain_text("does not trust this provider")
    page.get_by_role("link", name="Simulator").click()
    page.get_by_label("Claims (JSON object)").fill(
        json.dumps({"nameid": "pat", "groups": ["partners"]}))
    page.get_by_role("button", name="Simulate").click()
    result = page.locator("section.result")
    expect(result).to_contain_text("Denied")
    expect(result).to_contain_text("rule 1: groups equals")
    result.get_by_text("Explanation").click()
    expect(result.locator("pre").first).to_contain_text("DENIED sts:AssumeRoleWithSAML")
    expect(result.locator("pre").first).to_contain_text("the trust policy does not allow")
    check(watched, "simulator-denial")
    # The page offers the fix; after it the same person is allowed.
    page.goto(f"{gateway.url}/admin/providers/corp/rules")
    page.get_by_role("button", name="Add a trust statement for corp to CrossAccount").click()
    expect(page.get_by_role("status")).to_contain_text("CrossAccount now trusts corp.")
    page.get_by_role("link", name="Simulator").click()
    page.get_by_label("Claims (JSON object)").fill(
        json.dumps({"nameid": "pat", "groups": ["partners"]}))
    page.get_by_role("button", name="Simulate").click()
    expect(page.locator("section.result")).to_contain_text("Allowed")


def test_revoking_a_session_in_the_browser_makes_sts_refuse_it(
    watched: Watched, gateway: BoundServer, env: dict[str, str]
) -> None:
    config = Config(retries={"max_attempts": 1})
    base = boto3.client("sts", endpoint_url=f"{gateway.url}/sts", region_name="us-east-1",
                        config=config, **first_credentials(gateway.app).boto_kwargs())
    creds = base.assume_role(RoleArn=CHAINED_ROLE, RoleSessionName="browser")["Credentials"]
    chained = boto3.client("sts", endpoint_url=f"{gateway.url}/sts", region_name="us-east-1",
                           config=config, aws_access_key_id=creds["AccessKeyId"],
                           aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"])
    assert chained.get_caller_identity()["Arn"].endswith("/browser")

    page = watched.page
    sign_in(page, gateway, env)
    page.goto(f"{gateway.url}/admin/roles/{ACCOUNT_A}/Chained")
    check(watched, "role-chained-sessions")
    page.get_by_role("button", name=f"Revoke session {creds['AccessKeyId']}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Session {creds['AccessKeyId']} revoked")
    with pytest.raises(ClientError) as refused:
        chained.get_caller_identity()
    assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_a_display_name_with_a_script_tag_is_shown_as_text_in_the_browser(
    watched: Watched, gateway: BoundServer, env: dict[str, str], rt: Runtime
) -> None:
    page = watched.page
    sign_in(page, gateway, env)
    evil = '<script>alert("owned")</script>'
    page.goto(f"{gateway.url}/admin/providers/corp")
    page.get_by_label("Display name").fill(evil)
    page.get_by_label("Or its URL").fill("https://idp.example.com/metadata")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Identity provider corp saved.")
    assert rt.snapshot.providers_by_name["corp"].display_name == evil
    page.get_by_role("link", name="Identity providers").click()
    expect(page.get_by_role("link", name=evil)).to_be_visible()
    page.goto(f"{gateway.url}/admin/audit")
    assert watched.dialogs == []
    assert page.evaluate("() => document.querySelectorAll('main script').length") == 0
    check(watched, "script-display-name")
