"""What SAML keeps in Redis: a request is answered once, an assertion accepted once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.sources.saml import state
from gateway.state.keys import Keys
from tests.conftest import RedisServer

KEYS = Keys("test:")
ISSUER = "https://idp.example.test"


def test_consume_and_mark_seen_answers_a_request_and_an_assertion_once(
    redis_server: RedisServer,
) -> None:
    store = redis_server.client()
    until = datetime.now(UTC) + timedelta(minutes=5)
    request = KEYS.saml_request("id-" + "a" * 40)
    state.remember(store, request, state.Outstanding("corp", "binding"))

    assert state.consume_and_mark_seen(store, KEYS, request, ISSUER, "_a1", until, 60) == (
        True, True)
    # The same response again: request gone and assertion known.
    assert state.consume_and_mark_seen(store, KEYS, request, ISSUER, "_a1", until, 60) == (
        False, False)
    # A fresh request answered with an assertion already accepted elsewhere is a replay.
    other = KEYS.saml_request("id-" + "b" * 40)
    state.remember(store, other, state.Outstanding("corp", "binding"))
    assert state.consume_and_mark_seen(store, KEYS, other, ISSUER, "_a1", until, 60) == (
        True, False)
    assert not state.mark_seen(store, KEYS, ISSUER, "_a1", until, 60)
    # The replay-cache entry outlives the assertion (its NotOnOrAfter plus the skew).
    ttl = store.ttl(KEYS.saml_seen(state._seen_digest(ISSUER, "_a1")))
    assert 5 * 60 < ttl <= 5 * 60 + 60 + 1
