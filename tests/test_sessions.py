"""Browser sessions live in Redis with absolute TTLs; the cookie is only a random id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from flask import jsonify, session

from gateway import create_app
from gateway.settings import Settings
from gateway.state.keys import Keys
from gateway.state.sessions import RedisSession
from gateway.web.csrf import exempt_view
from tests.conftest import LiveServer, RedisServer


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    app = create_app(settings)

    @app.post("/_t/set/<value>")
    @exempt_view  # JSON test helpers, not forms: no CSRF token to send
    def set_value(value: str) -> object:
        session["value"] = value
        return jsonify(ok=True)

    @app.get("/_t/get")
    def get_value() -> object:
        return jsonify(value=session.get("value"))

    @app.post("/_t/signin")
    @exempt_view
    def signin() -> object:
        assert isinstance(session, RedisSession)
        session.regenerate()
        session["user"] = "alice"
        return jsonify(ok=True)

    @app.post("/_t/signout")
    @exempt_view
    def signout() -> object:
        assert isinstance(session, RedisSession)
        session.destroy()
        return jsonify(ok=True)

    live = LiveServer(app)
    yield live
    live.stop()


def test_session_is_stored_in_redis_with_a_ttl_and_an_httponly_cookie(
    server: LiveServer, redis_server: RedisServer, settings: Settings
) -> None:
    browser = requests.Session()
    response = browser.post(f"{server.url}/_t/set/blue")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    sid = browser.cookies["gw_session"]
    key = Keys(settings.redis_prefix).session(sid)
    client = redis_server.client()
    assert sid not in key, "the Redis key must not reveal the cookie value"
    ttl = client.ttl(key)
    assert 0 < ttl <= settings.session_lifetime
    assert len(client.get(key) or b"") < 2048
    assert browser.get(f"{server.url}/_t/get").json() == {"value": "blue"}


def test_reading_does_not_extend_the_absolute_lifetime(
    server: LiveServer, redis_server: RedisServer, settings: Settings
) -> None:
    browser = requests.Session()
    browser.post(f"{server.url}/_t/set/blue")
    key = Keys(settings.redis_prefix).session(browser.cookies["gw_session"])
    client = redis_server.client()
    client.expire(key, 100)
    browser.get(f"{server.url}/_t/get")
    assert client.ttl(key) <= 100


def test_unknown_session_id_is_not_adopted(server: LiveServer, redis_server: RedisServer) -> None:
    planted = "p" * 43
    response = requests.post(f"{server.url}/_t/set/blue", cookies={"gw_session": planted})
    assert response.cookies["gw_session"] != planted
    follow = requests.get(f"{server.url}/_t/get", cookies={"gw_session": planted})
    assert follow.json() == {"value": None}


def test_sign_in_rotates_the_session_id_and_deletes_the_old_one(
    server: LiveServer, redis_server: RedisServer, settings: Settings
) -> None:
    browser = requests.Session()
    browser.post(f"{server.url}/_t/set/blue")
    before = browser.cookies["gw_session"]
    browser.post(f"{server.url}/_t/signin")
    after = browser.cookies["gw_session"]
    keys = Keys(settings.redis_prefix)
    client = redis_server.client()
    assert after != before
    assert not client.exists(keys.session(before))
    assert client.exists(keys.session(after))
    # The old id is now worthless: it reads an empty session.
    stale = requests.get(f"{server.url}/_t/get", cookies={"gw_session": before})
    assert stale.json() == {"value": None}


def test_sign_out_deletes_the_session(
    server: LiveServer, redis_server: RedisServer, settings: Settings
) -> None:
    browser = requests.Session()
    browser.post(f"{server.url}/_t/set/blue")
    sid = browser.cookies["gw_session"]
    response = browser.post(f"{server.url}/_t/signout")
    assert "gw_session=;" in response.headers["Set-Cookie"]
    assert not redis_server.client().exists(Keys(settings.redis_prefix).session(sid))
