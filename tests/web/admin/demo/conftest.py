"""The live gateway with the demo configuration and the demo SAML IdP, and a break-glass
admin browser on it: for admin features that need real sign-ins and real responses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.web.admin.support import AdminBrowser, admin_link
from tests.web.saml_support import World, world_with_redis


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_with_redis(tmp_path_factory.mktemp("demo-world")) as running:
        yield running


def operator_env(w: World) -> dict[str, str]:
    """What `gateway admin link` needs to reach this gateway's Redis."""
    settings = w.rt.settings
    return {
        "GATEWAY_VAR_DIR": str(settings.var_dir),
        "GATEWAY_REDIS_URL": settings.redis_url,
        "GATEWAY_MASTER_KEY": "11" * 32,
        "GATEWAY_BASE_URL": settings.base_url,
    }


@pytest.fixture
def admin(w: World) -> AdminBrowser:
    browser = AdminBrowser(w.url)
    browser.sign_in(admin_link(operator_env(w)))
    return browser
