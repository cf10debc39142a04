"""Driving a browser sign-in over plain HTTP (requests) for the attack tests."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import requests

from gateway.runtime import Runtime
from tests.conftest import LiveServer


def start(
    browser: requests.Session, gateway: LiveServer, provider: str, next_path: str | None = None
) -> dict[str, str]:
    """GET /oidc/<provider>/login; the query of the authorization URL it redirects to."""
    params = {"next": next_path} if next_path is not None else None
    response = browser.get(f"{gateway.url}/oidc/{provider}/login", params=params,
                           allow_redirects=False, timeout=10)
    assert response.status_code == 303, response.text
    location = response.headers["Location"]
    query = dict(parse_qsl(urlsplit(location).query))
    query["_authorize"] = location.split("?", 1)[0]
    return query


def approve(browser: requests.Session, query: dict[str, str], login: str = "alice") -> str:
    """Press the emulator's button for `login`; the callback URL it redirects to."""
    fields = {k: v for k, v in query.items() if not k.startswith("_")}
    fields.pop("response_type", None)
    fields.pop("code_challenge_method", None)
    fields["login"] = login
    response = browser.post(query["_authorize"], data=fields, allow_redirects=False, timeout=10)
    assert response.status_code in (302, 303), response.text
    return str(response.headers["Location"])


def finish(browser: requests.Session, callback: str) -> requests.Response:
    return browser.get(callback, allow_redirects=False, timeout=20)


def session_data(rt: Runtime, browser_cookie: str | None) -> dict[str, object]:
    assert browser_cookie
    raw = rt.redis.get(rt.keys.session(browser_cookie))
    assert raw is not None
    data: dict[str, object] = json.loads(raw)
    return data
