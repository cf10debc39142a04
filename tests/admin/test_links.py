"""Break-glass links: random, stored hashed with a TTL, usable exactly once."""

from __future__ import annotations

import threading

import pytest

from gateway.admin import links
from gateway.state.keys import Keys
from tests.conftest import RedisServer

KEYS = Keys("gw-test:")


def test_a_link_is_used_once_and_names_itself_by_a_hash(redis_server: RedisServer) -> None:
    store = redis_server.client()
    token, link = links.create(store, KEYS, minutes=3, reason="outage")
    assert links.valid_shape(token) and token not in link.link_id
    assert links.peek(store, KEYS, token)
    used = links.consume(store, KEYS, token)
    assert used is not None and used.link_id == link.link_id and used.reason == "outage"
    assert used.expires_at - used.created_at == 180
    assert links.consume(store, KEYS, token) is None
    assert not links.peek(store, KEYS, token)


def test_only_one_of_many_concurrent_uses_wins(redis_server: RedisServer) -> None:
    store = redis_server.client()
    token, _ = links.create(store, KEYS)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(links.consume(store, KEYS, token)))
               for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r is not None for r in results) == 1


@pytest.mark.parametrize("minutes", [0, 61, -5])
def test_lifetimes_outside_one_to_sixty_minutes_are_refused(
    redis_server: RedisServer, minutes: int
) -> None:
    with pytest.raises(ValueError):
        links.create(redis_server.client(), KEYS, minutes=minutes)


def test_malformed_tokens_never_reach_redis(redis_server: RedisServer) -> None:
    store = redis_server.client()
    for token in ["", "short", "x" * 44, "a/b" * 20, "é" * 43]:
        assert links.consume(store, KEYS, token) is None
        assert not links.peek(store, KEYS, token)
