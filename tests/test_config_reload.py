"""A configuration change made through one gateway process is live on another within 1 s."""

from __future__ import annotations

import os
import time

import requests

from gateway import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.config_io import import_config
from tests.conftest import LiveServer

CONFIG = """
accounts:
  - id: "123456789012"
    alias: reload-test
identity_providers:
  - name: freshly-added
    kind: saml
    account: "123456789012"
    display_name: Freshly Added IdP
"""


def test_change_on_one_process_is_live_on_another_within_one_second(settings: Settings) -> None:
    first = LiveServer(create_app(settings))
    second = LiveServer(create_app(settings))
    try:
        assert "Freshly Added IdP" not in requests.get(f"{second.url}/").text
        writer: Runtime = first.app.extensions["gateway"]
        import_config(writer.engine, CONFIG, actor="test")
        writer.config.bump()
        changed = time.monotonic()
        while "Freshly Added IdP" not in requests.get(f"{second.url}/").text:
            assert time.monotonic() - changed < 1.0, "second process did not reload within 1 s"
            time.sleep(0.02)
        ready = requests.get(f"{second.url}/readyz").json()
        assert ready["checks"]["config_version"] == writer.config.current().version
    finally:
        first.stop()
        second.stop()


def test_a_failed_reload_keeps_serving_the_last_snapshot(settings: Settings) -> None:
    server = LiveServer(create_app(settings))
    try:
        rt: Runtime = server.app.extensions["gateway"]
        import_config(rt.engine, CONFIG, actor="test")
        rt.config.bump()
        # A real database failure: the file goes away, so a reload finds no tables.
        rt.engine.dispose()
        database = settings.database_url.removeprefix("sqlite:///")
        os.rename(database, database + ".moved")
        rt.redis.incr(rt.keys.config_version)
        time.sleep(settings.config_reload_interval * 2)
        page = requests.get(f"{server.url}/")
        assert page.status_code == 200 and "Freshly Added IdP" in page.text
    finally:
        server.stop()
