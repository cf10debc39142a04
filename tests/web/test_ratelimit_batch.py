"""Signed-call counters kept in process and sent to Redis in batches (a real redis-server).

Two `BatchedCounters` on one Redis stand for two gateway processes.
"""

from __future__ import annotations

import time

import redis

from gateway.web.ratelimit_batch import BatchedCounters
from tests.conftest import RedisServer

KEY = "test:rl:signed:address:abc"


def test_counts_in_one_process_are_exact_before_any_flush(redis_server: RedisServer) -> None:
    counters = BatchedCounters(redis.Redis.from_url(redis_server.url), interval=60)
    counts = [counters.hit([KEY], [60_000])[0][0] for _ in range(5)]
    assert counts == [1, 2, 3, 4, 5]


def test_a_flush_sends_the_counts_with_a_ttl_and_other_processes_learn_them(
    redis_server: RedisServer,
) -> None:
    store = redis.Redis.from_url(redis_server.url)
    one, other = BatchedCounters(store, interval=60), BatchedCounters(store, interval=60)
    for _ in range(3):
        one.hit([KEY], [60_000])
    assert store.get(KEY) is None  # nothing sent yet
    one.flush()
    assert store.get(KEY) == b"3"
    assert 0 < store.pttl(KEY) <= 60_000
    other.hit([KEY], [60_000])
    other.flush()  # learns the 3 the first process counted
    count, left_ms = other.hit([KEY], [60_000])[0]
    assert count == 5  # 3 + its own 2
    assert 0 < left_ms <= 60_000
    assert store.get(KEY) == b"4"  # the fifth is not sent yet


def test_the_background_flush_runs_by_itself(redis_server: RedisServer) -> None:
    store = redis.Redis.from_url(redis_server.url)
    counters = BatchedCounters(store, interval=0.05)
    counters.hit([KEY, KEY + ":subject"], [60_000, 60_000])
    deadline = time.monotonic() + 5
    while store.get(KEY + ":subject") is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.get(KEY) == b"1" and store.get(KEY + ":subject") == b"1"


def test_an_unreachable_redis_drops_the_interval_and_counting_goes_on(
    redis_server: RedisServer,
) -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    counters = BatchedCounters(dead, interval=60)
    counters.hit([KEY], [60_000])
    try:
        counters.flush()
    except redis.RedisError:
        pass
    else:
        raise AssertionError("a flush to a closed port must fail")
    # The dropped count no longer counts, and the next call is judged on its own.
    assert counters.hit([KEY], [60_000])[0][0] == 1


def test_a_window_that_ended_starts_again(redis_server: RedisServer) -> None:
    counters = BatchedCounters(redis.Redis.from_url(redis_server.url), interval=60)
    counters.hit([KEY], [50])
    counters.hit([KEY], [50])
    time.sleep(0.08)
    assert counters.hit([KEY], [50])[0][0] == 1
