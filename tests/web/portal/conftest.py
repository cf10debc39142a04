"""Fixtures for the portal tests: the live gateway + demo SAML IdP, headless Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.web.admin.browser import ARGS, CHROMIUM, accessibility_violations
from tests.web.saml_support import World, world_with_redis

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "test-artifacts" / "portal"  # git-ignored (test-artifacts/)


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_with_redis(tmp_path_factory.mktemp("portal")) as running:
        yield running


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "install Debian's chromium package (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser, w: World) -> Iterator[Page]:
    context = chromium.new_context()  # a fresh cookie jar per test
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=w.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    yield page
    context.close()
    assert not errors, f"JavaScript errors or CSP violations: {errors}"


def sign_in(page: Page, w: World, user: str, *, start: str = "/") -> None:
    page.goto(f"{w.url}{start}")
    page.click("#idp-demo-saml")
    page.wait_for_url(re.compile(r".*/sso/redirect.*"))
    page.click(f"#user-{user}")
    page.wait_for_url(re.compile(re.escape(w.url) + r"/console.*"))


def check_page(page: Page, name: str) -> None:
    """No serious or critical axe-core violations; a full-page screenshot as an artifact."""
    violations: list[dict[str, Any]] = accessibility_violations(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    assert violations == [], f"{name}: {violations}"
