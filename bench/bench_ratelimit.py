"""The rate limiter's cost per request, in process, against a real redis-server.

Before: what gateway.web.ratelimit did with Flask-Limiter (limits 5.8, fixed window):
one `hit` (an EVALSHA of limits' incr+expire script) for the address, one for the
subject, and on a refusal `get_window_stats` (GET and TTL) for Retry-After.
After: one EVALSHA counting both counters; a refusal needs no more, and an address
already known over is refused from process memory.

    .venv/bin/python bench/bench_ratelimit.py [--runs 7] [--requests 3000]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Row, free_port, median, pin_to_one_core, quick  # noqa: E402
from gateway.state.embedded import redis_server_binary  # noqa: E402
from gateway.web.ratelimit import Rate, RateLimits, Throttled  # noqa: E402

# limits 5.8's resources/redis/lua_scripts/incr_expire.lua, as Flask-Limiter ran it.
LIMITS_INCR_EXPIRE = """
local current
local amount = tonumber(ARGV[2])
current = redis.call("incrby", KEYS[1], amount)
if tonumber(current) == amount then
    redis.call("expire", KEYS[1], ARGV[1])
end
return current
"""
BIG, SMALL = 10**9, 1


class Before:
    """The Flask-Limiter path: a round trip per counter, two more for a refusal's reset."""

    def __init__(self, store: redis.Redis, prefix: str) -> None:
        self.store = store
        self.prefix = prefix
        self.script = store.register_script(LIMITS_INCR_EXPIRE)

    def hit(self, key: str, limit: int) -> bool:
        count = int(self.script(keys=[self.prefix + key], args=[60, 1]))
        if count <= limit:
            return True
        self.store.ttl(self.prefix + key)  # get_window_stats: get_expiry, then get
        self.store.get(self.prefix + key)
        return False

    def exchange(self, address: str, subject: str, limit: int) -> None:
        if self.hit("a/" + address, limit):
            self.hit("s/" + subject, BIG)


def timed(fn: Any, n: int) -> float:
    """Microseconds per call, over n calls."""
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n * 1e6


def collect(runs: int, n: int) -> dict[str, Any]:
    where = pin_to_one_core()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tmp,
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            store = redis.Redis(port=port)
            for _ in range(100):
                try:
                    store.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            return {"where": where, "runs": runs, "requests": n, "raw": _rounds(store, runs, n)}
        finally:
            proc.terminate()
            proc.wait(10)


def _rounds(store: redis.Redis, runs: int, n: int) -> dict[str, list[float]]:
    raw: dict[str, list[float]] = {
        k: [] for k in ("before accepted", "after accepted", "before refused", "after refused")
    }
    for run in range(runs):  # interleaved, so drift hits both paths alike
        store.flushdb()
        before = Before(store, f"b{run}:")
        after = RateLimits(
            store,
            f"a{run}:",
            {
                "x:address": Rate(BIG, 60),
                "x:subject": Rate(BIG, 60),
                "y:address": Rate(SMALL, 60),
                "y:subject": Rate(BIG, 60),
            },
        )
        for name, case in _cases(before, after).items():
            raw[name].append(timed(case, n))
    return raw


def _cases(before: Before, after: RateLimits) -> dict[str, Any]:
    def before_accepted(i: int) -> None:
        before.exchange(f"10.0.{i % 250}.1", f"sub{i}", BIG)

    def after_accepted(i: int) -> None:
        after.hit(("x:address", f"10.0.{i % 250}.1"), ("x:subject", f"sub{i}"))

    def before_refused(i: int) -> None:  # one address over its allowance, sending on
        before.exchange("10.9.9.9", f"sub{i}", SMALL)

    def after_refused(i: int) -> None:
        if after.blocked("y:address", "10.9.9.9") is not None:
            return  # the guard answers from memory, before any work
        with contextlib.suppress(Throttled):
            after.hit(("y:address", "10.9.9.9"), ("y:subject", f"sub{i}"))

    return {
        "before accepted": before_accepted,
        "after accepted": after_accepted,
        "before refused": before_refused,
        "after refused": after_refused,
    }


def rows(data: dict[str, Any]) -> list[Row]:
    raw = data["raw"]
    out = []
    for case, goal in (("accepted", 0.75), ("refused", 0.2)):
        old, new = median(raw[f"before {case}"]), median(raw[f"after {case}"])
        ratio = new / old
        out.append(
            Row(
                path=f"rate limiter, {case} request (in process, real Redis)",
                figure=f"{new:.1f} us/request (median of {data['runs']})",
                baseline=f"Flask-Limiter path {old:.1f} us/request",
                ratio=ratio,
                goal=f"<= {goal:g}x baseline",
                passed=ratio <= goal,
                raw={
                    "before": raw[f"before {case}"],
                    "after": raw[f"after {case}"],
                    "where": data["where"],
                },
            )
        )
    return out


def measure(runs: int) -> list[Row]:
    """bench/run's entry point."""
    return rows(collect(max(runs, 3), 300 if quick() else 3000))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    table = rows(collect(args.runs, args.requests))
    for row in table:
        verdict = "PASS" if row.passed else "FAIL"
        print(
            f"{row.path:<55} {row.figure:<32} | {row.baseline:<36} "
            f"{row.ratio:5.2f}x  {row.goal}  {verdict}"
        )
    return 0 if all(r.passed for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
