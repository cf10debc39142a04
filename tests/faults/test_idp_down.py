"""Identity providers down, failing or slow: every refusal comes within the gateway's own
deadline (GATEWAY_IDP_TIMEOUT) in the protocol's shape, and the last good metadata and
keys keep serving while the provider is away.

Each emulator sits behind a `Switch` (a real reverse proxy) the test flips: refusing
connections, answering 502, accepting and never answering, or trickling its answer a
byte at a time so that no single socket read ever times out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from werkzeug.serving import make_server

from gateway import create_app
from gateway.devtools import saml_idp
from gateway.devtools.emulators import (
    AMAZON_CLIENT,
    DEMO_USERS,
    FACEBOOK_APP,
    GOOGLE_CLIENT,
    OIDC_CLIENT,
    Emulators,
    SigningKey,
    start_all,
)
from gateway.runtime import Runtime
from gateway.sources.oidc import discovery, jwks
from gateway.store import audit
from gateway.store.config_io import import_config
from tests.conftest import RedisServer, free_port, make_settings
from tests.faults.idp_switch import Switch
from tests.sources.oidc import signin
from tests.sources.oidc.world import (
    AMAZON_READER,
    FACEBOOK_READER,
    GOOGLE_READER,
    OIDC_READER,
    world_yaml,
)
from tests.web.saml_support import DEMO_PROVIDER_ARN, READONLY_DEV, demo_config, gateway

ALICE = DEMO_USERS[0]
TIMEOUT = 1.0  # GATEWAY_IDP_TIMEOUT for every gateway here
# The refusal must come within the gateway's deadline; the rest is this machine's slack.
BOUND = TIMEOUT + 1.5
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
T = TypeVar("T")


class Gateway:
    """The gateway in-process over real HTTP on a port known in advance (its base URL)."""

    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def rt(self) -> Runtime:
        runtime: Runtime = self.app.extensions["gateway"]
        return runtime

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def switches() -> Iterator[dict[str, Switch]]:
    made = {name: Switch() for name in ("oidc", "google", "facebook", "amazon")}
    yield made
    for switch in made.values():
        switch.stop()


@pytest.fixture(scope="module")
def emulators(switches: dict[str, Switch]) -> Iterator[Emulators]:
    # The OpenID provider's issuer is its switch, so discovery goes through the switch.
    running = start_all("127.0.0.1", oidc_issuer=switches["oidc"].url)
    for name, url in running.urls.items():
        switches[name].upstream = url
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def well_behaved(switches: dict[str, Switch]) -> Iterator[None]:
    """Each test starts with answering providers and empty caches."""
    for switch in switches.values():
        switch.set("pass")
        if switch.server is None:
            switch.up()
    jwks.KEYS.clear()
    discovery.CACHE.clear()
    yield
    for switch in switches.values():
        switch.set("pass")
        if switch.server is None:
            switch.up()


@pytest.fixture
def gw(
    tmp_path: Path, redis_server: RedisServer, emulators: Emulators, switches: dict[str, Switch]
) -> Iterator[Gateway]:
    port = free_port()
    settings = make_settings(
        tmp_path,
        redis_server.url,
        GATEWAY_BASE_URL=f"http://127.0.0.1:{port}",
        GATEWAY_IDP_TIMEOUT=str(TIMEOUT),
    )
    app = create_app(settings)
    rt: Runtime = app.extensions["gateway"]
    text = world_yaml(emulators)
    for name in ("google", "facebook", "amazon"):  # every endpoint through its switch
        text = text.replace(emulators.urls[name], switches[name].url)
    import_config(rt.engine, text, actor="test")
    rt.config.bump()
    live = Gateway(app, port)
    yield live
    live.stop()


def timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def sts(url: str) -> Any:
    config = Config(
        signature_version=UNSIGNED,
        retries={"total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=60,
        parameter_validation=False,
    )
    return boto3.client("sts", endpoint_url=f"{url}/sts", region_name="us-east-1", config=config)


def web_identity(url: str, token: str, role: str, **extra: str) -> tuple[str, int]:
    """AssumeRoleWithWebIdentity: ("ok", 200) or the STS error code and HTTP status."""
    try:
        sts(url).assume_role_with_web_identity(
            RoleArn=role, RoleSessionName="app", WebIdentityToken=token, **extra
        )
    except ClientError as exc:
        error = exc.response
        return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]
    return "ok", 200


def token_exchange(
    url: str, token: str, role: str, token_type: str = ID_TOKEN, **extra: str
) -> requests.Response:
    return requests.post(
        f"{url}/api/v1/token",
        timeout=60,
        data={
            "grant_type": GRANT,
            "subject_token": token,
            "subject_token_type": token_type,
            "audience": role,
            **extra,
        },
    )


def assert_unavailable(response: requests.Response) -> None:
    """RFC 6749's shape, the token endpoint's own: retry later."""
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "temporarily_unavailable"


def last_refusal(rt: Runtime) -> audit.AuditEvent:
    events = audit.recent(rt.engine, audit.AuditFilter(event_type="credentials.refused"), 1)
    assert events, "the refusal was not audited"
    return events[0]


def misbehave(switch: Switch, mode: str, *paths: str) -> None:
    if mode == "down":
        switch.down()
    else:
        switch.set(mode, *paths)


# ------------------------------------------------------------ OpenID keys and discovery


@pytest.mark.parametrize("mode", ["down", "error", "hang", "trickle"])
def test_unreachable_key_set_is_idp_communication_error_within_the_timeout(
    gw: Gateway, emulators: Emulators, switches: dict[str, Switch], mode: str
) -> None:
    token = emulators.google.id_token(ALICE, GOOGLE_CLIENT[0])
    misbehave(switches["google"], mode, "/jwks")

    answer, took = timed(lambda: web_identity(gw.url, token, GOOGLE_READER))
    assert answer == ("IDPCommunicationError", 400)
    assert took < BOUND, f"refused after {took:.2f} s"
    assert last_refusal(gw.rt).error_code == "IDPCommunicationError"

    response, took = timed(lambda: token_exchange(gw.url, token, GOOGLE_READER))
    assert_unavailable(response)
    assert took < BOUND, f"refused after {took:.2f} s"


def test_last_good_keys_and_discovery_keep_serving_while_the_provider_is_away(
    gw: Gateway,
    emulators: Emulators,
    switches: dict[str, Switch],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Cache lifetimes of half a second, so the test need not wait for the real ones.
    monkeypatch.setattr(jwks, "TTL", (0.5, 0.5, 0.5))
    monkeypatch.setattr(discovery, "DISCOVERY_TTL", (0.5, 0.5, 0.5))
    google = emulators.google.id_token(ALICE, GOOGLE_CLIENT[0])
    oidc = emulators.oidc.id_token(ALICE, OIDC_CLIENT[0])
    assert web_identity(gw.url, google, GOOGLE_READER) == ("ok", 200)
    assert web_identity(gw.url, oidc, OIDC_READER) == ("ok", 200)
    time.sleep(0.6)  # both copies are now due for a refetch

    switches["google"].set("hang", "/jwks")
    switches["oidc"].set("error", "/.well-known/")
    keys_before = switches["google"].count("/jwks")
    discovery_before = switches["oidc"].count("/.well-known/")
    for _ in range(3):
        answer, took = timed(lambda: web_identity(gw.url, google, GOOGLE_READER))
        assert answer == ("ok", 200)
        assert took < BOUND
        assert web_identity(gw.url, oidc, OIDC_READER) == ("ok", 200)
        assert token_exchange(gw.url, google, GOOGLE_READER).status_code == 200
    # The provider was asked once, then left alone until the retry interval passes.
    assert switches["google"].count("/jwks") - keys_before == 1
    assert switches["oidc"].count("/.well-known/") - discovery_before == 1

    # A token signed with a key the last good set lacks cannot be checked now: that is
    # the provider being unreachable, not a forged token.
    rotated = SigningKey()
    emulators.google.tweaks["sign_with"] = rotated
    try:
        fresh = emulators.google.id_token(ALICE, GOOGLE_CLIENT[0])
    finally:
        emulators.google.tweaks.clear()
    assert web_identity(gw.url, fresh, GOOGLE_READER) == ("IDPCommunicationError", 400)


# ------------------------------------------------------------ Graph and Amazon profile


@pytest.mark.parametrize(
    ("provider", "path", "mode"),
    [
        ("facebook", "/me", "hang"),
        ("facebook", "/debug_token", "error"),
        ("amazon", "/user/profile", "trickle"),
        ("amazon", "/auth/o2/tokeninfo", "down"),
    ],
)
def test_graph_and_amazon_endpoints_down_or_slow_are_refused_within_the_timeout(
    gw: Gateway,
    emulators: Emulators,
    switches: dict[str, Switch],
    provider: str,
    path: str,
    mode: str,
) -> None:
    if provider == "facebook":
        token = emulators.facebook.issue_token(ALICE, FACEBOOK_APP[0])
        role, provider_id = FACEBOOK_READER, "graph.facebook.com"
    else:
        token = emulators.amazon.issue_token(ALICE, AMAZON_CLIENT[0])
        role, provider_id = AMAZON_READER, "www.amazon.com"
    assert web_identity(gw.url, token, role, ProviderId=provider_id) == ("ok", 200)

    misbehave(switches[provider], mode, path)
    answer, took = timed(lambda: web_identity(gw.url, token, role, ProviderId=provider_id))
    assert answer == ("IDPCommunicationError", 400)
    assert took < BOUND, f"refused after {took:.2f} s"
    response, took = timed(
        lambda: token_exchange(gw.url, token, role, ACCESS_TOKEN, provider_id=provider_id)
    )
    assert_unavailable(response)
    assert took < BOUND, f"refused after {took:.2f} s"
    assert last_refusal(gw.rt).error_code == "IDPCommunicationError"


# ------------------------------------------------------------ browser sign-in


@pytest.mark.parametrize("mode", ["hang", "trickle"])
def test_slow_token_endpoint_is_a_503_page_within_the_timeout(
    gw: Gateway, switches: dict[str, Switch], mode: str
) -> None:
    browser = requests.Session()
    callback = signin.approve(browser, signin.start(browser, gw, "google"))  # type: ignore[arg-type]
    switches["google"].set(mode, "/token")
    page, took = timed(lambda: signin.finish(browser, callback))
    assert page.status_code == 503
    assert page.headers["Content-Type"].startswith("text/html")
    assert "could not be reached" in page.text and "Traceback" not in page.text
    assert took < BOUND, f"answered after {took:.2f} s"
    assert "gw_session" not in page.headers.get("Set-Cookie", "")


# ------------------------------------------------------------ SAML metadata URL


def saml_login(url: str) -> requests.Response:
    return requests.get(f"{url}/saml/login/demo-saml", allow_redirects=False, timeout=60)


@pytest.mark.parametrize("mode", ["hang", "trickle"])
def test_saml_metadata_url_slow_then_the_last_good_copy_serves(
    tmp_path: Path, redis_server: RedisServer, mode: str
) -> None:
    switch = Switch()
    try:
        with gateway(tmp_path, redis_server.url, GATEWAY_IDP_TIMEOUT=str(TIMEOUT)) as first:
            idp = saml_idp.serve(first.url)
            switch.upstream = idp.idp.base_url
            import_config(
                first.rt.engine, demo_config(first.url, f"{switch.url}/metadata"), actor="test"
            )
            first.rt.config.bump()
            try:
                # No copy yet: the sign-in page says the provider cannot be reached.
                switch.set(mode)
                page, took = timed(lambda: saml_login(first.url))
                assert page.status_code == 503 and took < BOUND, (page.status_code, took)
                assert page.headers["Content-Type"].startswith("text/html")
                assert "could not be fetched" in page.text
                assertion = idp.idp.response_b64("alice")
                try:
                    sts(first.url).assume_role_with_saml(
                        RoleArn=READONLY_DEV,
                        PrincipalArn=DEMO_PROVIDER_ARN,
                        SAMLAssertion=assertion,
                    )
                    raise AssertionError("credentials without the IdP's metadata")
                except ClientError as exc:
                    error = exc.response
                assert error["Error"]["Code"] == "IDPCommunicationError"
                assert error["ResponseMetadata"]["HTTPStatusCode"] == 400

                # The metadata answers once: this process and Redis keep the copy.
                switch.set("pass")
                assert saml_login(first.url).status_code == 303
                switch.set(mode)
                assert saml_login(first.url).status_code == 303
                result = sts(first.url).assume_role_with_saml(
                    RoleArn=READONLY_DEV,
                    PrincipalArn=DEMO_PROVIDER_ARN,
                    SAMLAssertion=idp.idp.response_b64("alice"),
                )
                assert result["Credentials"]["AccessKeyId"].startswith("ASIA")

                # Another process, starting while the IdP is away, uses the copy in Redis.
                with gateway(
                    tmp_path, redis_server.url, GATEWAY_IDP_TIMEOUT=str(TIMEOUT)
                ) as second:
                    page, took = timed(lambda: saml_login(second.url))
                    assert page.status_code == 303 and took < BOUND, (page.status_code, took)
                    assert page.headers["Location"].startswith(idp.idp.base_url)
            finally:
                idp.stop()
    finally:
        switch.stop()
