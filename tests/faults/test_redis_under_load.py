"""Redis stopped and restarted under the load of a real `gateway serve` (gunicorn workers).

While Redis is away every request that needs it is answered 503 in its protocol's own
shape (STS XML, JSON, an HTML page) and nothing else fails: no 500, no worker dies.
Credentials issued before the outage keep verifying statelessly until the revocation
list is 5 s stale; then GATEWAY_REVOCATION_FAIL_MODE decides (closed: 503, open:
accepted, still refusing what the last known list revoked). When Redis accepts
connections again, every kind of request succeeds within 2 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.devtools.emulators import Emulators
from tests.conftest import RedisServer
from tests.faults.traffic import (
    World,
    call_authorize,
    call_health,
    call_portal,
    call_sts,
    call_token,
    revoked_is_refused,
    sts_client,
)

STALE_AFTER = 5.0  # the revocation list's staleness limit (gateway.state.revocations)
# A worker notices staleness at its next re-check, and that check may itself wait out the
# Redis socket timeout: allow this much after the limit before expecting the mode's answer.
NOTICE = 2.0
RECOVERY_BOUND = 2.0  # seconds from Redis accepting connections to full service
KINDS = ("sts", "authorize", "token", "portal", "health")


@dataclass(frozen=True)
class Outcome:
    kind: str
    started: float
    ended: float
    status: int
    shaped: bool  # a success, or the 503 in the protocol's own error shape
    what: str


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis that keeps its data across a restart (append-only file), as in production."""
    server = RedisServer(tmp_path / "redis", persistent=True)
    server.start()
    yield server
    server.stop()


class Load:
    """Threads sending every kind of request in turn until stopped; each answer recorded."""

    def __init__(self, world: World, threads: int = 4) -> None:
        self.world = world
        self.outcomes: list[Outcome] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)
        ]

    def _calls(self) -> list[tuple[str, Callable[[], tuple[int, bool, str]]]]:
        w = self.world
        url = w.server.url
        client = sts_client(url, w.good)
        return [
            ("sts", lambda: call_sts(client)),
            ("authorize", lambda: call_authorize(url, w.good)),
            ("token", lambda: call_token(url, w.id_token)),
            ("portal", lambda: call_portal(url, w.cookie)),
            ("health", lambda: call_health(url)),
        ]

    def _run(self, offset: int) -> None:
        calls = self._calls()
        i = offset
        while not self.stopping.is_set():
            kind, call = calls[i % len(calls)]
            i += 1
            started = time.monotonic()
            try:
                status, shaped, what = call()
            except Exception as exc:  # a refused connection, a reset: the process failing
                status, shaped, what = 0, False, repr(exc)
            with self.lock:
                self.outcomes.append(Outcome(kind, started, time.monotonic(), status, shaped, what))
            time.sleep(0.005)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(30)

    def between(self, start: float, end: float, kind: str | None = None) -> list[Outcome]:
        with self.lock:
            return [
                o
                for o in self.outcomes
                if o.started >= start and o.ended <= end and (kind is None or o.kind == kind)
            ]


def poll_until_served(world: World, deadline: float) -> float:
    """Ask each kind of request in turn until all have succeeded; when that was."""
    url = world.server.url
    client = sts_client(url, world.good)
    waiting: dict[str, Callable[[], tuple[int, bool, str]]] = {
        "sts": lambda: call_sts(client),
        "authorize": lambda: call_authorize(url, world.good),
        "token": lambda: call_token(url, world.id_token),
        "portal": lambda: call_portal(url, world.cookie),
    }
    while waiting and time.monotonic() < deadline:
        for kind, call in list(waiting.items()):
            if call()[0] == 200:
                del waiting[kind]
        time.sleep(0.01)
    assert not waiting, f"never served again: {sorted(waiting)}"
    return time.monotonic()


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_redis_outage_under_load_fails_in_shape_and_recovers_within_two_seconds(
    tmp_path: Path,
    persistent_redis: RedisServer,
    emulators: Emulators,
    mode: str,
    record_property: Callable[[str, object], None],
) -> None:
    redis_server = persistent_redis
    world = World(tmp_path, redis_server, emulators, GATEWAY_REVOCATION_FAIL_MODE=mode)
    try:
        assert revoked_is_refused(world) == (403, "InvalidClientTokenId")
        workers = world.server.worker_pids()
        with Load(world) as load:
            time.sleep(1.5)
            went = time.monotonic()
            redis_server.stop()
            gone = time.monotonic()
            time.sleep(2.0)
            # Within the staleness limit the last known revocation list still refuses.
            during = revoked_is_refused(world)
            time.sleep(STALE_AFTER + NOTICE + 1.0 - (time.monotonic() - gone))
            stale = revoked_is_refused(world)
            back_at = time.monotonic()
            redis_server.start()
            back = time.monotonic()  # Redis answered PING: it accepts connections
            polled_at = poll_until_served(world, deadline=back + 30)
            time.sleep(max(0.0, back + RECOVERY_BOUND + 1.5 - time.monotonic()))
        assert world.server.alive, "the gateway process died"
        assert world.server.worker_pids() == workers, "a worker died and was replaced"

        everything = load.between(0, float("inf"))
        assert len(everything) > 200, "too little load to say anything"
        failures = [o for o in everything if o.status not in (200, 503) or not o.shaped]
        assert not failures, failures[:5]
        assert all(o.status == 200 for o in load.between(0, went)), "failing before the outage"

        outage = load.between(gone, back_at)
        for kind in ("token", "portal"):
            answers = [o.status for o in outage if o.kind == kind]
            assert answers and set(answers) == {503}, (kind, answers)
        assert {o.status for o in outage if o.kind == "health"} == {200}
        # Stateless verification needs neither Redis nor the database.
        fresh = load.between(gone, went + STALE_AFTER - 1.0)
        for kind in ("sts", "authorize"):
            answers = [o.status for o in fresh if o.kind == kind]
            assert answers and set(answers) == {200}, (kind, answers)
        late = load.between(gone + STALE_AFTER + NOTICE, back_at)
        expected = 503 if mode == "closed" else 200
        for kind in ("sts", "authorize"):
            answers = [o.status for o in late if o.kind == kind]
            assert answers and set(answers) == {expected}, (kind, answers)
        assert during == (403, "InvalidClientTokenId")
        assert stale == (
            (503, "ServiceUnavailable") if mode == "closed" else (403, "InvalidClientTokenId")
        )

        # Recovery, measured from Redis answering: the end of the last failed answer of any
        # kind (counting requests begun during the outage that ended after it: an upper
        # bound), and the explicit poll until every kind had succeeded once.
        with load.lock:
            ended_after = [o for o in load.outcomes if o.ended >= back]
        last_failure = max((o.ended for o in ended_after if o.status != 200), default=back)
        recovery = max(0.0, last_failure - back)
        polled = polled_at - back
        record_property("recovery_seconds", round(recovery, 3))
        record_property("recovery_polled_seconds", round(polled, 3))
        print(
            f"\n[{mode}] {len(everything)} requests; last failure {recovery:.3f} s and "
            f"every kind answered {polled:.3f} s after Redis accepted connections"
        )
        assert recovery <= RECOVERY_BOUND, f"recovered only after {recovery:.2f} s"
        assert polled <= RECOVERY_BOUND, f"recovered only after {polled:.2f} s"
        settled = load.between(back + RECOVERY_BOUND, float("inf"))
        for kind in KINDS:
            assert [o for o in settled if o.kind == kind], f"no {kind} after recovery"
        assert revoked_is_refused(world) == (403, "InvalidClientTokenId")
    finally:
        assert world.server.stop() == 0
