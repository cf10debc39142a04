"""Every HTML page carries the security headers; every cookie is HttpOnly (and Secure over
HTTPS). The walk covers every GET route the app has, anonymous and as an admin, plus
the error pages, so a page added later is checked without anyone listing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gateway import create_app
from tests.conftest import RedisServer, free_port, make_settings
from tests.sts_world import load_world
from tests.web.admin.support import AdminBrowser, BoundServer, admin_link, cli_env

# Values for URL variables: known entities where the world has them, else junk.
SAMPLES = {"name": "corp", "provider": "corp", "account": "111111111111",
           "account_id": "111111111111"}
HTML_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _served(tmp_path: Path, redis_url: str, scheme: str) -> tuple[BoundServer, AdminBrowser]:
    port = free_port()
    settings = make_settings(tmp_path, redis_url, GATEWAY_BASE_URL=f"{scheme}://127.0.0.1:{port}")
    app = create_app(settings)
    load_world(app)
    server = BoundServer(app, port)
    admin = AdminBrowser(server.url)
    link = admin_link(cli_env(settings, redis_url, str(tmp_path / "var")))
    if scheme == "http":
        admin.sign_in(link)
    return server, admin


@pytest.fixture
def served(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[BoundServer, AdminBrowser]]:
    server, admin = _served(tmp_path, redis_server.url, "http")
    yield server, admin
    server.stop()


def get_paths(server: BoundServer) -> list[str]:
    paths = set()
    for rule in server.app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        paths.add(re.sub(r"<(?:[^:>]+:)?([^>]+)>",
                         lambda m: SAMPLES.get(m.group(1), "x"), rule.rule))
    return sorted(paths)


def check_html(response: requests.Response, where: str) -> None:
    headers = response.headers
    for name, value in HTML_HEADERS.items():
        assert headers.get(name) == value, (where, name, headers.get(name))
    csp = headers["Content-Security-Policy"]
    for directive in ("default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'",
                      "script-src 'self'"):
        assert directive in csp, (where, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_every_html_page_anonymous_and_admin_has_the_security_headers(
    served: tuple[BoundServer, AdminBrowser],
) -> None:
    server, admin = served
    anonymous = requests.Session()
    html_pages = 0
    extra = ["/no/such/page", "/admin/link/not-a-token", "/saml/login/nobody"]
    for path in [*get_paths(server), *extra]:
        for who, http in (("anonymous", anonymous), ("admin", admin.http)):
            response = http.get(server.url + path, allow_redirects=False, timeout=20)
            # 503 is an answer (a provider without metadata); 500 would be a bug.
            assert response.status_code != 500, (who, path)
            assert response.headers.get("X-Content-Type-Options") == "nosniff", (who, path)
            if response.headers.get("Content-Type", "").startswith("text/html"):
                check_html(response, f"{who} {path} {response.status_code}")
                html_pages += 1
    # The walk reached the sign-in page, the admin console's pages and the error pages.
    assert html_pages >= 20, html_pages


def test_error_pages_of_every_kind_have_the_security_headers(
    served: tuple[BoundServer, AdminBrowser],
) -> None:
    server, _ = served
    answers = {
        "405": requests.put(f"{server.url}/saml/acs", timeout=10),
        "413": requests.post(f"{server.url}/saml/acs", data=b"x" * (300 * 1024), timeout=10,
                             headers={"Content-Type": "application/x-www-form-urlencoded"}),
        "431": requests.get(f"{server.url}/login", timeout=10,
                            headers={f"X-Pad-{i}": "v" * 1024 for i in range(40)}),
        "400": requests.post(f"{server.url}/saml/acs", data={"SAMLResponse": "junk"},
                             timeout=10),
    }
    for status, response in answers.items():
        assert str(response.status_code) == status, (status, response.text[:200])
        check_html(response, status)


def test_cookies_are_httponly_and_samesite_and_secure_over_https(
    tmp_path: Path, redis_server: RedisServer,
) -> None:
    from gateway.devtools import saml_idp
    from gateway.store.config_io import import_config
    from tests.web.saml_support import demo_config

    server, _ = _served(tmp_path, redis_server.url, "https")
    idp = saml_idp.serve(server.url)
    try:
        rt = server.runtime
        import_config(rt.engine, demo_config(server.url, idp.metadata_url), actor="test")
        rt.config.bump()
        http = requests.Session()
        cookies = []
        for path in ("/login", "/saml/login/demo-saml", "/oidc/demo-oidc/login",
                     "/admin/link/" + "x" * 43):
            response = http.get(server.url + path, allow_redirects=False, timeout=20)
            cookies += response.raw.headers.getlist("Set-Cookie")
            assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        names = {c.split("=", 1)[0] for c in cookies}
        assert {"gw_session", "gw_saml_binding"} <= names, cookies
        for cookie in cookies:
            attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
            assert "httponly" in attributes and "secure" in attributes, cookie
            assert any(a.startswith("samesite=") for a in attributes), cookie
            assert not any(a.startswith("domain=") for a in attributes), cookie
        session = next(c for c in cookies if c.startswith("gw_session="))
        assert "samesite=lax" in session.lower()
        # The SAML binding cookie rides the IdP's cross-site POST, on /saml/ only.
        binding = next(c for c in cookies if c.startswith("gw_saml_binding=")).lower()
        assert "samesite=none" in binding and "path=/saml/" in binding
    finally:
        idp.stop()
        server.stop()
