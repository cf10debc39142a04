"""The emulators (once per session) and a live gateway configured to use them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway import create_app
from gateway.devtools.emulators import Emulators, start_all
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.sources.oidc import discovery, jwks
from gateway.store.config_io import import_config
from tests.conftest import LiveServer
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


@pytest.fixture
def gateway(settings: Settings, emulators: Emulators) -> Iterator[LiveServer]:
    app = create_app(settings)
    rt: Runtime = app.extensions["gateway"]
    import_config(rt.engine, world_yaml(emulators), actor="test")
    rt.config.bump()
    live = LiveServer(app)
    yield live
    live.stop()


@pytest.fixture
def rt(gateway: LiveServer) -> Runtime:
    runtime: Runtime = gateway.app.extensions["gateway"]
    return runtime
