"""The group-commit audit writer: concurrent events share commits, each durable on return."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text

from gateway.store import audit
from gateway.store.audit import AuditEvent
from gateway.store.audit_writer import AuditWriter


def _event(n: int, **kw: object) -> AuditEvent:
    values: dict[str, object] = {
        "event_type": audit.CREDENTIALS_ISSUED,
        "outcome": "success",
        "request_id": f"req-{n}",
        "access_key_id": f"ASIA{n:016d}",
        "subject": "alice",
        "detail": {"n": n},
    }
    values.update(kw)
    return AuditEvent(**values)  # type: ignore[arg-type]


def _count(engine: Engine) -> int:
    other = create_engine(engine.url)  # another connection, as another process would read
    try:
        with other.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one())
    finally:
        other.dispose()


@contextmanager
def _table_locked(engine: Engine) -> Iterator[None]:
    """Another transaction holding the table against writers, released on exit."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")  # SQLite: the write lock
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE")
            yield


def _wait(check: object, what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_events_queued_during_a_commit_share_the_next_one(engine: Engine) -> None:
    writer = AuditWriter(engine)
    results: dict[int, int | None] = {}

    def write(n: int) -> None:
        results[n] = writer.write(audit._values(_event(n)))

    with _table_locked(engine):
        leader = threading.Thread(target=write, args=(0,))
        leader.start()
        # The leader is inside its commit (blocked on the lock) once its queue slot is taken.
        _wait(lambda: writer.committing and writer.queued() == 0, "the leader's commit")
        followers = [threading.Thread(target=write, args=(n,)) for n in range(1, 8)]
        for follower in followers:
            follower.start()
        _wait(lambda: writer.queued() == 7, "seven queued events")
        assert _count(engine) == 0
    for thread in (leader, *followers):
        thread.join(30)
    assert writer.commits == 2, "the leader's event, then the seven queued behind it"
    assert sorted(results) == list(range(8))
    assert len({results[n] for n in results}) == 8 and None not in results.values()
    assert _count(engine) == 8
    writer.close()


def test_concurrent_callers_each_get_their_own_durable_event(engine: Engine) -> None:
    ids: list[int | None] = []
    lock = threading.Lock()

    def caller(offset: int) -> None:
        for n in range(offset, offset + 25):
            stored = audit.record(engine, _event(n))
            with lock:
                ids.append(stored.id)

    threads = [threading.Thread(target=caller, args=(k * 100,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(ids) == 200 and len(set(ids)) == 200 and None not in ids
    assert _count(engine) == 200
    by_key = audit.recent(engine, audit.AuditFilter(access_key_id=f"ASIA{712:016d}"))
    assert [(e.request_id, e.detail) for e in by_key] == [("req-712", {"n": 712})]


def test_client_text_with_nul_is_recorded_not_refused(engine: Engine) -> None:
    # PostgreSQL refuses NUL in text and JSON; a token's subject may carry one.
    stored = audit.record(engine, _event(1, subject="eve\x00admin", detail={"sub": "a\x00b"}))
    assert stored.at is not None
    [event] = audit.recent(engine)
    assert event.subject in ("eve\x00admin", "eve\ufffdadmin")
    assert event.detail in ({"sub": "a\x00b"}, {"sub": "a\ufffdb"})
    if engine.dialect.name == "postgresql":
        assert event.subject == "eve\ufffdadmin"


def test_a_refused_event_does_not_cost_the_others_in_its_batch(engine: Engine) -> None:
    writer = AuditWriter(engine)
    errors: list[BaseException] = []

    def write(values: dict[str, object]) -> None:
        try:
            writer.write(values)
        except audit.AuditUnavailable as exc:
            errors.append(exc)

    good = [audit._values(_event(n)) for n in range(3)]
    bad = audit._values(_event(9))
    bad["outcome"] = None  # NOT NULL: the database refuses this one event
    with _table_locked(engine):
        leader = threading.Thread(target=write, args=(good[0],))
        leader.start()
        _wait(lambda: writer.committing and writer.queued() == 0, "the leader's commit")
        rest = [threading.Thread(target=write, args=(v,)) for v in (good[1], bad, good[2])]
        for thread in rest:
            thread.start()
        _wait(lambda: writer.queued() == 3, "three queued events")
    for thread in (leader, *rest):
        thread.join(30)
    assert len(errors) == 1 and "refused by the database" in str(errors[0])
    assert sorted(e.request_id or "" for e in audit.recent(engine)) == ["req-0", "req-1", "req-2"]
    writer.close()
