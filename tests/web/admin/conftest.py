"""A live gateway with the STS test world, and a browser signed in as a break-glass admin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.conftest import RedisServer, free_port, make_settings
from tests.sts_world import load_world
from tests.web.admin.support import AdminBrowser, BoundServer, admin_link, cli_env


@pytest.fixture
def admin_settings(tmp_path: Path, redis_server: RedisServer) -> Settings:
    port = free_port()
    return make_settings(tmp_path, redis_server.url, GATEWAY_BASE_URL=f"http://127.0.0.1:{port}")


@pytest.fixture
def gateway(admin_settings: Settings) -> Iterator[BoundServer]:
    app = create_app(admin_settings)
    load_world(app)
    server = BoundServer(app, int(admin_settings.base_url.rsplit(":", 1)[1]))
    yield server
    server.stop()


@pytest.fixture
def rt(gateway: BoundServer) -> Runtime:
    return gateway.runtime


@pytest.fixture
def env(admin_settings: Settings, redis_server: RedisServer, tmp_path: Path) -> dict[str, str]:
    return cli_env(admin_settings, redis_server.url, str(tmp_path / "var"))


@pytest.fixture
def admin(gateway: BoundServer, env: dict[str, str]) -> AdminBrowser:
    """A browser signed in through a fresh `gateway admin link`."""
    browser = AdminBrowser(gateway.url)
    browser.sign_in(admin_link(env))
    return browser
