"""A gateway on a known port (its base URL must be its real URL) and the demo SAML IdP."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from gateway import create_app
from gateway.devtools import saml_idp
from gateway.runtime import Runtime
from gateway.store.config_io import import_config
from tests.conftest import RedisServer, free_port, make_settings

DEMO_SAML = "demo-saml"
DEMO_PROVIDER_ARN = "arn:aws:iam::111111111111:saml-provider/demo-saml"
ADMIN = "arn:aws:iam::111111111111:role/Admin"
READONLY_PROD = "arn:aws:iam::111111111111:role/ReadOnly"
READONLY_DEV = "arn:aws:iam::222222222222:role/ReadOnly"
DEVELOPER = "arn:aws:iam::222222222222:role/engineering/Developer"


def demo_config(base_url: str, metadata_url: str, *, options: dict[str, Any] | None = None
                ) -> str:
    """The shipped demo configuration, pointed at this gateway and this IdP."""
    text = resources.files("gateway").joinpath("demo_config.yaml").read_text()
    text = text.replace("http://127.0.0.1:8000/saml/acs", f"{base_url}/saml/acs")
    text = text.replace(
        "    # metadata_url: set by `gateway demo` once the demo IdP serves its metadata.\n",
        f"    metadata_url: {metadata_url}\n",
    )
    text = text.replace('relay_state_allowlist: ["http://127.0.0.1:8000/"]',
                        f'relay_state_allowlist: ["{base_url}/console"]')
    for key, value in (options or {}).items():
        line = re.compile(rf"^      {key}: .*$", re.MULTILINE)
        if line.search(text):
            text = line.sub(f"      {key}: {value}", text, count=1)
        else:
            text = text.replace("      revoke_on_logout: true\n",
                                f"      revoke_on_logout: true\n      {key}: {value}\n", 1)
    return text


@dataclass
class Gateway:
    app: Flask
    url: str
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def rt(self) -> Runtime:
        runtime: Runtime = self.app.extensions["gateway"]
        return runtime

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@contextmanager
def gateway(tmp_path: Path, redis_url: str, **settings: str) -> Iterator[Gateway]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(make_settings(tmp_path, redis_url, GATEWAY_BASE_URL=url,
                                   GATEWAY_CLOCK_SKEW="90", **settings))
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    live = Gateway(app, url, server, thread)
    try:
        yield live
    finally:
        live.stop()


@dataclass
class World:
    gateway: Gateway
    idp: saml_idp.Running

    @property
    def url(self) -> str:
        return self.gateway.url

    @property
    def rt(self) -> Runtime:
        return self.gateway.rt


@contextmanager
def world(tmp_path: Path, redis_url: str, *, options: dict[str, Any] | None = None
          ) -> Iterator[World]:
    """Gateway + demo IdP, with the demo configuration loaded."""
    with gateway(tmp_path, redis_url) as gw:
        running = saml_idp.serve(gw.url)
        try:
            import_config(gw.rt.engine, demo_config(gw.url, running.metadata_url,
                                                    options=options), actor="test")
            gw.rt.config.bump()
            yield World(gw, running)
        finally:
            running.stop()


def spec_for(w: World, **changes: Any) -> Any:
    """A forge Spec for a response the demo IdP would send to this gateway."""
    from tests.sources.saml import forge

    spec = forge.Spec(issuer=w.idp.idp.entity_id, acs_url=f"{w.url}/saml/acs",
                      audience=f"{w.url}/saml/metadata")
    for key, value in changes.items():
        setattr(spec, key, value)
    return spec


def demo_signer() -> Any:
    from tests.sources.saml import forge

    return forge.Signer.fixture("demo", "idp")


_FIELD = re.compile(r"name='([\w]+)' value='([^']*)'")


def form_fields(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in _FIELD.findall(page)}


def form_action(page: str) -> str:
    found = re.search(r"action='([^']*)'", page)
    assert found, page[:500]
    return html.unescape(found.group(1))


class Browser:
    """requests.Session driving the SAML dance the way a browser would, minus JavaScript."""

    def __init__(self, w: World) -> None:
        import requests

        self.w = w
        self.http = requests.Session()

    def start(self, provider: str = DEMO_SAML, next_path: str | None = None) -> Any:
        """GET /saml/login/<provider>, following to the IdP's login form."""
        url = f"{self.w.url}/saml/login/{provider}"
        if next_path:
            url += f"?next={next_path}"
        return self.http.get(url)

    def idp_login(self, login_page: Any, user: str) -> tuple[str, dict[str, str]]:
        """Pick a user on the IdP's form; returns the auto-post form (ACS URL and fields)."""
        fields = form_fields(login_page.text)
        answer = self.http.post(f"{self.w.idp.idp.base_url}{form_action(login_page.text)}",
                                data={**fields, "user": user})
        assert answer.status_code == 200, answer.text[:300]
        return form_action(answer.text), form_fields(answer.text)

    def post(self, action: str, fields: dict[str, str], **kwargs: Any) -> Any:
        return self.http.post(action, data=fields, allow_redirects=False, **kwargs)

    def sign_in(self, user: str = "alice") -> Any:
        action, fields = self.idp_login(self.start(), user)
        answer = self.post(action, fields)
        assert answer.status_code == 303, answer.text[:500]
        return self.http.get(f"{self.w.url}{answer.headers['Location']}")

    def csrf(self) -> str:
        page = self.http.get(f"{self.w.url}/console").text
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found, page[:500]
        return found.group(1)


@contextmanager
def world_with_redis(tmp: Path) -> Iterator[World]:
    """A `world` on a Redis server of its own, SAML refusal budget lifted for the tests."""
    redis_server = RedisServer(tmp / "redis")
    redis_server.start()
    try:
        with world(tmp, redis_server.url) as running:
            running.gateway.app.config["GATEWAY_SAML_REFUSALS_PER_MINUTE"] = 10_000
            yield running
    finally:
        redis_server.stop()
