"""Driving the admin console over real HTTP: the break-glass link, CSRF tokens, forms."""

from __future__ import annotations

import re
import threading
from typing import Any

import requests
from click.testing import CliRunner
from werkzeug.serving import BaseWSGIServer, make_server

from gateway.cli import cli
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.conftest import LiveServer

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_LINK = re.compile(r"(https?://\S+/admin/link/[A-Za-z0-9_-]+)")


class BoundServer(LiveServer):
    """A LiveServer on a port chosen in advance, so GATEWAY_BASE_URL can name it."""

    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{port}"
        # A short poll interval: stopping the server after each test then takes 0.05 s, not 0.5 s.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def runtime(self) -> Runtime:
        rt: Runtime = self.app.extensions["gateway"]
        return rt


def cli_env(settings: Settings, redis_url: str, var_dir: str) -> dict[str, str]:
    return {
        "GATEWAY_VAR_DIR": var_dir,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_MASTER_KEY": "11" * 32,
        "GATEWAY_BASE_URL": settings.base_url,
    }


def admin_link(env: dict[str, str], *args: str) -> str:
    """Run `gateway admin link` as an operator would; the URL it printed."""
    result = CliRunner().invoke(cli, ["admin", "link", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    found = _LINK.search(result.stdout)
    assert found, result.output
    return found.group(1)


def csrf_token(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


class AdminBrowser:
    """A requests session that behaves like a browser on the admin pages."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return self.http.get(self.base + path, timeout=20, **kwargs)

    def sign_in(self, link: str) -> requests.Response:
        """Open the break-glass link and press its button."""
        path = link.split("://", 1)[1].split("/", 1)[1]
        page = self.get("/" + path)
        assert page.status_code == 200, page.text
        response = self.http.post(link.replace(link.split("/admin/")[0], self.base),
                                  data={"csrf_token": csrf_token(page.text)},
                                  allow_redirects=False, timeout=20)
        assert response.status_code == 303, response.text
        assert response.headers["Location"].endswith("/admin/")
        return response

    def post(self, path: str, data: dict[str, Any] | list[tuple[str, Any]] | None = None, *,
             page: str | None = None, files: dict[str, Any] | None = None,
             follow: bool = False) -> requests.Response:
        """Fetch the form's page for a CSRF token (as a browser would), then post."""
        form = self.get(page or path)
        assert form.status_code in (200, 400, 404), form.text
        fields: list[tuple[str, Any]] = [("csrf_token", csrf_token(form.text))]
        if isinstance(data, dict):
            fields += list(data.items())
        elif data:
            fields += list(data)
        return self.http.post(self.base + path, data=fields, files=files,
                              allow_redirects=follow, timeout=30)

    def post_raw(self, path: str, data: dict[str, Any]) -> requests.Response:
        """Post without fetching a token first (what a cross-site form would do)."""
        return self.http.post(self.base + path, data=data, allow_redirects=False, timeout=20)
