"""The portal in headless Chromium against the live gateway and the demo SAML IdP.

Each page is checked with axe-core (no serious or critical violations) and saved as a
screenshot under test-artifacts/portal/.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import boto3
from playwright.sync_api import Page, expect

from gateway.state.keys import Keys
from gateway.store.config_io import import_config
from tests.web.portal.conftest import check_page, sign_in
from tests.web.saml_support import (
    ADMIN,
    DEVELOPER,
    READONLY_DEV,
    READONLY_PROD,
    World,
    demo_config,
)


def creds_on(page: Page) -> dict[str, str]:
    return {name: page.inner_text(f"#{name}") for name in
            ("access-key-id", "secret-access-key", "session-token")}


def caller(w: World, creds: dict[str, str]) -> dict[str, str]:
    answer: dict[str, str] = boto3.client(
        "sts", endpoint_url=f"{w.url}/sts", region_name="us-east-1",
        aws_access_key_id=creds["access-key-id"],
        aws_secret_access_key=creds["secret-access-key"],
        aws_session_token=creds["session-token"],
    ).get_caller_identity()
    return answer


def role_row(page: Page, arn: str) -> str:
    return f"tr.role[data-role-arn='{arn}']"


def test_the_sign_in_page_lists_providers_and_remembers_the_last(page: Page, w: World) -> None:
    page.goto(f"{w.url}/")
    labels = page.locator("#providers a.provider")
    assert labels.count() >= 2
    assert page.inner_text("#idp-demo-saml .idp-name") == "Demo corporate sign-in (SAML)"
    assert page.inner_text("#idp-demo-saml .badge") == "D"
    check_page(page, "01-sign-in")
    sign_in(page, w, "alice")
    page.goto(f"{w.url}/")  # signed in: straight to the console
    assert page.url == f"{w.url}/console"
    page.goto(f"{w.url}/login")
    first = page.inner_text("#providers li:first-child")
    assert "Demo corporate sign-in" in first and "used last time" in first


def test_roles_by_account_with_filter(page: Page, w: World) -> None:
    sign_in(page, w, "alice")
    assert "Signed in as alice@example.com" in page.inner_text("#who")
    assert page.inner_text("#display-name") == "Alice Admin"
    accounts = page.locator("section.account h3").all_inner_texts()
    assert any("acme-prod" in a and "111111111111" in a for a in accounts)
    assert any("acme-dev" in a and "222222222222" in a for a in accounts)
    dev = page.locator(role_row(page, DEVELOPER))
    assert "Builds and runs services" in dev.inner_text()
    # Alice's IdP asserted SessionDuration 3600: that bound is named, not the role's 8 h.
    assert dev.locator(".max-duration").inner_text() == "1 h"
    assert "SessionDuration" in dev.locator(".bound").inner_text()
    assert [o.get_attribute("value") for o in dev.locator("select option").all()] == [
        "900", "1800", "3600"]
    check_page(page, "02-console")
    # Live filter (JavaScript)…
    page.fill("#role-filter", "readonly")
    visible = page.locator("tr.role:visible")
    assert {visible.nth(i).get_attribute("data-role-arn") for i in range(visible.count())} == {
        READONLY_PROD, READONLY_DEV}
    assert page.inner_text("#filter-status") == "2 roles match."
    page.fill("#role-filter", "builds and runs")
    assert page.locator("tr.role:visible").count() == 1
    assert page.locator("section.account:visible").count() == 1
    # …and the same form without JavaScript, as a GET query.
    page.goto(f"{w.url}/console?q=admin")
    rows = page.locator("tr.role")
    assert [rows.nth(i).get_attribute("data-role-arn") for i in range(rows.count())] == [ADMIN]
    page.goto(f"{w.url}/console?q=nothing-like-this")
    assert "No role matches" in page.inner_text("#no-match")


def test_get_credentials_use_them_and_refresh(page: Page, w: World) -> None:
    sign_in(page, w, "alice")
    row = role_row(page, DEVELOPER)
    page.select_option(f"{row} select", "900")
    page.click(f"{row} button.get-credentials")
    page.wait_for_selector("#credentials")
    creds = creds_on(page)
    assert caller(w, creds)["Arn"] == (
        "arn:aws:sts::222222222222:assumed-role/Developer/alice@example.com")
    expires = datetime.strptime(page.inner_text("#expiration"), "%Y-%m-%dT%H:%M:%SZ")
    left = expires.replace(tzinfo=UTC) - datetime.now(UTC)
    assert timedelta(minutes=14) < left <= timedelta(minutes=15)
    # Every format, each with its copy button (shown by JavaScript).
    for fmt in ("bash", "fish", "powershell", "profile", "process"):
        assert creds["access-key-id"] in page.inner_text(f"#fmt-{fmt}")
        assert page.is_visible(f"#format-{fmt} button.copy")
    assert page.inner_text("#fmt-bash").startswith(
        f"export AWS_ACCESS_KEY_ID='{creds['access-key-id']}'")
    assert page.inner_text("#fmt-profile").startswith("[acme-dev-Developer]")
    assert f'"SecretAccessKey":"{creds["secret-access-key"]}"' in page.inner_text("#fmt-process")
    page.click("#format-process button.copy")
    expect(page.locator("#copy-status")).to_have_text(
        "credential_process JSON copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == page.inner_text("#fmt-process")
    # The countdown is live.
    first = page.inner_text("#countdown")
    assert re.fullmatch(r"1[45] min \d+ s left", first), first
    expect(page.locator("#countdown")).not_to_have_text(first)
    check_page(page, "03-credentials")
    # Refresh: new credentials, same role and length.
    page.click("#refresh")
    page.wait_for_selector("#refreshed")
    again = creds_on(page)
    assert again["access-key-id"] != creds["access-key-id"]
    assert caller(w, again)["Account"] == "222222222222"
    expires = datetime.strptime(page.inner_text("#expiration"), "%Y-%m-%dT%H:%M:%SZ")
    assert expires.replace(tzinfo=UTC) - datetime.now(UTC) <= timedelta(minutes=15)


def test_refresh_is_refused_once_the_mapping_no_longer_matches(page: Page, w: World) -> None:
    sign_in(page, w, "alice")
    page.click(f"{role_row(page, DEVELOPER)} button.get-credentials")
    page.wait_for_selector("#credentials")
    original = demo_config(w.url, w.idp.metadata_url)
    changed = original.replace("value: engineering", "value: no-longer-engineering")
    assert changed != original
    import_config(w.rt.engine, changed, actor="test")
    w.rt.config.bump()
    try:
        time.sleep(0.3)  # the configuration reload interval is 0.1 s in tests
        with page.expect_response(f"{w.url}/console/credentials") as answer:
            page.click("#refresh")
        assert answer.value.status == 403
        assert "Not authorized to perform sts:AssumeRoleWithSAML" in page.inner_text(
            "#error-message")
        assert page.locator(role_row(page, DEVELOPER)).count() == 0
        check_page(page, "04-refresh-refused")
    finally:
        import_config(w.rt.engine, original, actor="test")
        w.rt.config.bump()
        time.sleep(0.3)


def test_open_console_then_switch_role_across_accounts(page: Page, w: World) -> None:
    sign_in(page, w, "alice")
    page.click(f"{role_row(page, ADMIN)} button.open-console")
    page.wait_for_url(f"{w.url}/console/session")
    assert page.inner_text("#session-role") == "Admin @ acme-prod"
    assert page.inner_text("#session-name") == "alice@example.com"
    assert re.fullmatch(r"(1 h 0 min|59 min) \d+ s left", page.inner_text("#session-remaining"))
    statement = page.locator("#permissions tr.statement").first.inner_text()
    assert "Allow" in statement and "*" in statement
    assert "credentials.issued" in page.inner_text("#activity")
    targets = page.locator("#switch li.target")
    arns = [targets.nth(i).get_attribute("data-role-arn") for i in range(targets.count())]
    assert DEVELOPER in arns and ADMIN not in arns
    assert "at most 1 h" in page.inner_text("#switch")
    # The browser session holds only the access key id and token: well under 2 KB.
    cookie = next(c for c in page.context.cookies() if c["name"] == "gw_session")
    stored = w.rt.redis.get(Keys(w.rt.settings.redis_prefix).session(cookie["value"]))
    assert stored is not None and len(stored) < 2048, len(stored or b"")
    check_page(page, "05-console-session")

    page.click(f"#switch li.target[data-role-arn='{DEVELOPER}'] button")
    page.wait_for_url(f"{w.url}/console/session")
    assert page.inner_text("#session-role") == "Developer @ acme-dev"
    assert "role chaining" in page.inner_text("#chained")
    statements = page.inner_text("#permissions")
    assert "Deny" in statements and "iam:*" in statements
    assert "AssumeRole" in page.inner_text("#activity")
    page.click("#session-credentials")
    page.wait_for_selector("#credentials")
    who = caller(w, creds_on(page))
    assert who["Arn"] == "arn:aws:sts::222222222222:assumed-role/Developer/alice@example.com"
    expires = datetime.strptime(page.inner_text("#expiration"), "%Y-%m-%dT%H:%M:%SZ")
    assert expires.replace(tzinfo=UTC) - datetime.now(UTC) <= timedelta(hours=1)
    assert page.locator("#refresh").count() == 0  # a chained session is not an offer
    check_page(page, "06-switched-credentials")


def test_a_person_without_roles_is_told_why(page: Page, w: World) -> None:
    sign_in(page, w, "carol")
    assert "No mapping rule matched your attributes" in page.inner_text("#no-roles")
    check_page(page, "07-no-roles")


def test_a_display_name_with_markup_is_shown_as_text(page: Page, w: World) -> None:
    from tests.sources.saml import forge
    from tests.web.saml_support import demo_signer, spec_for

    hostile = "<script>window.pwned=1</script><img src=x onerror=window.pwned=2>"
    spec = spec_for(w, assertion_id="_xss0000000000000000000000000001",
                    response_id="_xssr000000000000000000000000001",
                    attributes={"email": ["mallory@example.com"], "groups": ["staff"],
                                "displayName": [hostile]})
    xml = forge.b64(forge.signed(spec, demo_signer()))
    page.goto(f"{w.url}/login")
    page.evaluate(
        """([action, value]) => {
          const form = document.createElement('form');
          form.method = 'post'; form.action = action;
          const input = document.createElement('input');
          input.type = 'hidden'; input.name = 'SAMLResponse'; input.value = value;
          form.appendChild(input); document.body.appendChild(form); form.submit();
        }""", [f"{w.url}/saml/acs", xml])
    page.wait_for_url(f"{w.url}/console")
    assert page.inner_text("#display-name") == hostile
    assert page.inner_text(".nav-who") == hostile
    assert page.evaluate("window.pwned") is None
    assert page.locator("main script, main img").count() == 0


def test_sign_out_ends_the_session_here_and_at_the_idp(page: Page, w: World) -> None:
    sign_in(page, w, "alice")
    page.click(f"{role_row(page, ADMIN)} button.open-console")
    page.wait_for_url(f"{w.url}/console/session")
    before = len(w.idp.idp.logged_out)
    page.click("#sign-out")
    page.wait_for_selector("#signed-out")
    assert "signed out of the gateway and of Demo corporate sign-in" in page.inner_text(
        "#signed-out")
    assert w.idp.idp.logged_out[before:] == ["alice@example.com"]
    check_page(page, "08-signed-out")
    page.goto(f"{w.url}/console/session")
    assert page.url.startswith(f"{w.url}/login")
    page.goto(f"{w.url}/console")
    assert page.url == f"{w.url}/login"
