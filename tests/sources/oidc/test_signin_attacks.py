"""Browser sign-in attacks (driven over HTTP): each refused with a page and an audit event."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from gateway.devtools.emulators import Emulators
from gateway.runtime import Runtime
from gateway.sources import outbound
from gateway.store import audit
from tests.conftest import LiveServer
from tests.sources.oidc.signin import approve, finish, session_data, start


def last_signin(rt: Runtime) -> audit.AuditEvent:
    """The newest sign-in event, accepted (`signin`) or refused (`signin.refused`)."""
    events = audit.recent(rt.engine, audit.AuditFilter(), 50)
    found = [e for e in events if e.event_type in (audit.SIGNIN, audit.SIGNIN_REFUSED)]
    return found[0]


def refused_page(response: requests.Response, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("text/html")
    assert "gw_session" not in response.headers.get("Set-Cookie", "") or status == 200
    assert "Traceback" not in response.text


def test_successful_sign_in_rotates_the_session_and_keeps_a_small_identity(
    gateway: LiveServer, rt: Runtime
) -> None:
    browser = requests.Session()
    query = start(browser, gateway, "test-oidc")
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["nonce"] and query["state"]
    assert query["redirect_uri"] == f"{rt.settings.base_url}/oidc/test-oidc/callback"
    before = browser.cookies.get("gw_session")
    done = finish(browser, approve(browser, query))
    assert done.status_code == 303 and done.headers["Location"] == "/console"
    after = browser.cookies.get("gw_session")
    assert after and after != before
    assert rt.redis.get(rt.keys.session(before or "")) is None
    data = session_data(rt, after)
    assert set(data) >= {"identity", "last_provider"} and "oidc_binding" not in data
    assert len(rt.redis.get(rt.keys.session(after)) or b"") <= 2048
    event = last_signin(rt)
    assert event.outcome == "success"
    assert "admins" in (event.detail or {})["attributes"]["groups"]  # for the simulator


def test_unknown_state_is_refused(gateway: LiveServer, rt: Runtime) -> None:
    browser = requests.Session()
    query = start(browser, gateway, "test-oidc")
    callback = approve(browser, query)
    forged = callback.replace(f"state={query['state']}", "state=forged")
    refused_page(finish(browser, forged))
    assert last_signin(rt).error_code == "state_mismatch"


def test_callback_replayed_is_refused(gateway: LiveServer, rt: Runtime) -> None:
    browser = requests.Session()
    callback = approve(browser, start(browser, gateway, "test-oidc"))
    assert finish(browser, callback).status_code == 303
    refused_page(finish(browser, callback))
    assert last_signin(rt).error_code == "state_mismatch"


def test_login_csrf_with_the_attackers_code_is_refused(gateway: LiveServer, rt: Runtime) -> None:
    attacker, victim = requests.Session(), requests.Session()
    callback = approve(attacker, start(attacker, gateway, "test-oidc"), "mallory")
    victim.get(f"{gateway.url}/oidc/test-oidc/login", allow_redirects=False, timeout=10)
    refused_page(finish(victim, callback))
    assert last_signin(rt).error_code == "session_mismatch"


def test_reused_authorization_code_is_refused_by_the_provider(
    gateway: LiveServer, rt: Runtime
) -> None:
    browser = requests.Session()
    first = approve(browser, start(browser, gateway, "test-oidc"))
    assert finish(browser, first).status_code == 303
    old_code = dict(parse_qsl(urlsplit(first).query))["code"]
    again = start(browser, gateway, "test-oidc")
    params = {"code": old_code, "state": again["state"], "iss": again.get("iss", "")}
    params["iss"] = dict(parse_qsl(urlsplit(first).query))["iss"]
    response = finish(browser, f"{gateway.url}/oidc/test-oidc/callback?{urlencode(params)}")
    refused_page(response, 403)
    assert last_signin(rt).error_code == "IDPRejectedClaim"


@pytest.mark.parametrize(
    ("tweak", "code"),
    [
        ({"omit_nonce": True}, "InvalidIdentityToken"),
        ({"claims": {"nonce": "a-nonce-from-an-earlier-sign-in"}}, "InvalidIdentityToken"),
        ({"iss_param": "https://evil.example"}, "iss_mismatch"),
        ({"omit_iss": True}, "iss_missing"),
        ({"claims": {"aud": "other-client"}}, "InvalidIdentityToken"),
    ],
    ids=["missing-nonce", "replayed-nonce", "iss-mix-up", "iss-missing", "wrong-aud"],
)
def test_misbehaving_provider_is_refused(
    gateway: LiveServer, rt: Runtime, emulators: Emulators, tweak: dict[str, object], code: str
) -> None:
    emulators.oidc.tweaks.update(tweak)
    browser = requests.Session()
    refused_page(finish(browser, approve(browser, start(browser, gateway, "test-oidc"))))
    assert last_signin(rt).error_code == code
    assert "identity" not in (browser.cookies.get("gw_session") or "")


def test_answer_for_another_provider_is_refused(gateway: LiveServer, rt: Runtime) -> None:
    """Mix-up: a Google answer delivered to the generic provider's callback."""
    browser = requests.Session()
    callback = approve(browser, start(browser, gateway, "google"))
    refused_page(finish(browser, callback.replace("/oidc/google/", "/oidc/test-oidc/")))
    assert last_signin(rt).error_code == "provider_mismatch"


def test_cancelled_sign_in_is_a_clear_page(gateway: LiveServer, rt: Runtime) -> None:
    browser = requests.Session()
    response = finish(browser, approve(browser, start(browser, gateway, "amazon"), login=""))
    refused_page(response, 403)
    assert "did not sign you in" in response.text
    assert last_signin(rt).error_code == "provider_error"


def test_unreachable_token_endpoint_is_a_503_page_without_hanging(
    gateway: LiveServer, rt: Runtime, emulators: Emulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from gateway.store.config_io import import_config
    from tests.sources.oidc.test_web_identity_sts import BlackHole
    from tests.sources.oidc.world import world_yaml

    monkeypatch.setattr(outbound, "TIMEOUT", 0.5)
    hole = BlackHole()
    try:
        text = world_yaml(emulators).replace(
            f"{emulators.facebook.base_url}/oauth/access_token", f"{hole.url}/token")
        import_config(rt.engine, text, actor="test")
        rt.config.bump()
        browser = requests.Session()
        callback = approve(browser, start(browser, gateway, "facebook"))
        started = time.monotonic()
        response = finish(browser, callback)
        assert time.monotonic() - started < 5
        refused_page(response, 503)
        assert "could not be reached" in response.text
        assert last_signin(rt).error_code == "IDPCommunicationError"
    finally:
        hole.close()


def test_unknown_provider_is_404(gateway: LiveServer) -> None:
    assert requests.get(f"{gateway.url}/oidc/nope/login", timeout=10).status_code == 404


def test_refused_sign_ins_are_audited_as_signin_refused(gateway: LiveServer) -> None:
    rt: Runtime = gateway.app.extensions["gateway"]
    http = requests.Session()
    http.get(f"{gateway.url}/oidc/test-oidc/callback", params={"state": "nope", "code": "x"})
    event = last_signin(rt)
    assert (event.event_type, event.outcome) == (audit.SIGNIN_REFUSED, "failure")


@pytest.mark.parametrize(
    ("asked", "landed"),
    [("/console/session?x=1", "/console/session?x=1"),
     ("//evil.example/", "/console"),
     ("/%09/evil.example", "/console"),
     ("https://evil.example/", "/console")],
)
def test_sign_in_returns_to_a_same_origin_next_only(
    gateway: LiveServer, asked: str, landed: str
) -> None:
    browser = requests.Session()
    query = start(browser, gateway, "test-oidc", next_path=asked)
    done = finish(browser, approve(browser, query))
    assert done.status_code == 303 and done.headers["Location"] == landed
