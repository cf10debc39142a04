"""The emulators (once per session) and a live gateway configured to use them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from gateway import create_app
from gateway.devtools.emulators import Emulators, start_all
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.sources.oidc import discovery, jwks
from gateway.store.config_io import import_config
from tests.conftest import LiveServer, RedisServer, free_port, make_settings
from tests.sources.oidc.world import world_yaml


@pytest.fixture(scope="session")
def emulators() -> Iterator[Emulators]:
    running = start_all("127.0.0.1")
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def fresh_emulators(emulators: Emulators) -> Iterator[None]:
    """Each test starts with well-behaved emulators and empty caches."""
    for state in (emulators.oidc, emulators.google):
        state.tweaks.clear()
    jwks.KEYS.clear()
    discovery.CACHE.clear()
    yield
    for state in (emulators.oidc, emulators.google):
        state.tweaks.clear()


class BoundServer(LiveServer):
    """A LiveServer on a port chosen in advance, so GATEWAY_BASE_URL can name it."""

    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def gateway_settings(tmp_path: Path, redis_server: RedisServer) -> Settings:
    port = free_port()
    return make_settings(tmp_path, redis_server.url, GATEWAY_BASE_URL=f"http://127.0.0.1:{port}")


def serve(settings: Settings, emulators: Emulators, **world: Any) -> BoundServer:
    app = create_app(settings)
    rt: Runtime = app.extensions["gateway"]
    import_config(rt.engine, world_yaml(emulators, **world), actor="test")
    rt.config.bump()
    return BoundServer(app, int(settings.base_url.rsplit(":", 1)[1]))


@pytest.fixture
def gateway(gateway_settings: Settings, emulators: Emulators) -> Iterator[LiveServer]:
    live = serve(gateway_settings, emulators)
    yield live
    live.stop()


@pytest.fixture
def rt(gateway: LiveServer) -> Runtime:
    runtime: Runtime = gateway.app.extensions["gateway"]
    return runtime
