"""`bench/soak.py`'s own reckoning: what the drain waits for and how RSS growth is counted.

The soak itself takes a quarter of an hour; these check the two judgements it rests on,
against a real redis-server: which keys must be gone after the drain and how long that
takes, and the growth figures from RSS samples.
"""

from __future__ import annotations

import redis

from bench.soak import census, rss_growth
from tests.conftest import RedisServer


def test_census_sorts_keys_by_kind_and_finds_the_longest_transient_ttl(
    redis_server: RedisServer,
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.set("gw:config:version", 7)  # no TTL: meant to stay
    client.set("gw:saml:md:" + "a" * 64, b"x" * 500, ex=7 * 86400)  # the metadata copy
    for n in range(3):
        client.set(f"gw:session:{n:064x}", b"{}", ex=60)
    client.set("gw:saml:seen:" + "b" * 64, b"1", ex=419)  # the assertion's validity
    client.set("gw:rl:token:address:" + "c" * 64, 1, ex=40)

    counted = census(client)

    assert {kind: entry["keys"] for kind, entry in counted["kinds"].items()} == {
        "gw:config:version": 1,
        "gw:rl:token": 1,
        "gw:saml:md": 1,
        "gw:saml:seen": 1,
        "gw:session": 3,
    }
    assert counted["keys"] == 7
    # The drain must outlast the seen assertion, not just the sessions.
    assert counted["transient_keys"] == 5
    assert 417 <= counted["longest_transient_ttl"] <= 419
    assert counted["longest_transient_kind"] == "gw:saml:seen"
    assert counted["kinds"]["gw:config:version"]["max_ttl"] == -1
    long_lived = counted["kinds"]["gw:saml:md"]["bytes"] + counted["kinds"][
        "gw:config:version"
    ]["bytes"]
    assert counted["long_lived_bytes"] == long_lived > 500

    client.delete("gw:saml:seen:" + "b" * 64)
    assert census(client)["longest_transient_kind"] == "gw:session"


def test_rss_growth_counts_from_the_end_of_warm_up_and_per_process() -> None:
    mib = 2**20
    samples = [
        (0.0, {"master": 100 * mib, "worker 1": 100 * mib}),
        (10.0, {"master": 100 * mib, "worker 1": 110 * mib}),  # memos filling
        (30.0, {"master": 100 * mib, "worker 1": 120 * mib}),
        (60.0, {"master": 100 * mib, "worker 1": 121 * mib}),
        (90.0, {"master": 100 * mib, "worker 1": 122 * mib}),
        (150.0, {"master": 100 * mib, "worker 1": 122 * mib}),
    ]

    found = rss_growth(samples, warmup=30)

    assert found["warmup_sample_at_s"] == 30.0
    assert found["processes"]["all"] == {
        "start": 200 * mib,
        "after_warmup": 220 * mib,
        "minute_before_end": 222 * mib,
        "end": 222 * mib,
    }
    assert found["processes"]["worker 1"]["after_warmup"] == 120 * mib
    assert found["replaced"] == []


def test_a_replaced_worker_is_named_and_left_out_of_the_per_process_rows() -> None:
    samples = [
        (0.0, {"master": 10, "worker 1": 20}),
        (40.0, {"master": 10, "worker 2": 15}),
    ]

    found = rss_growth(samples, warmup=30)

    assert set(found["processes"]) == {"all", "master"}
    assert found["replaced"] == ["worker 1", "worker 2"]
