"""Audit events are durable when `record` returns, and can be queried back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, create_engine, text

from gateway.store import audit
from gateway.store.audit import AuditEvent, AuditFilter
from gateway.store.db import session_factory

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _issued(n: int, **kw: object) -> AuditEvent:
    values: dict[str, object] = {
        "event_type": audit.CREDENTIALS_ISSUED,
        "outcome": "success",
        "request_id": f"req-{n}",
        "role_arn": "arn:aws:iam::111111111111:role/Admin",
        "access_key_id": f"ASIA{n:016d}",
        "subject": "alice",
        "at": T0 + timedelta(minutes=n),
    }
    values.update(kw)
    return AuditEvent(**values)  # type: ignore[arg-type]


def test_recorded_event_is_committed_before_record_returns(engine: Engine) -> None:
    stored = audit.record(engine, _issued(1, detail={"duration": 3600, "groups": ["eng"]}))
    assert stored.id is not None and stored.at == T0 + timedelta(minutes=1)
    # A separate engine (a different process would see the same) reads it back.
    other = create_engine(engine.url)
    with other.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == 1
    other.dispose()
    [event] = audit.recent(engine)
    assert event == stored
    assert event.detail == {"duration": 3600, "groups": ["eng"]}
    assert event.at is not None and event.at.tzinfo == UTC


def test_record_through_a_session_commits_it(engine: Engine) -> None:
    with session_factory(engine)() as session:
        audit.record(session, _issued(1))
        assert not session.in_transaction() or not session.new
    assert len(audit.recent(engine)) == 1


def test_time_defaults_to_now_in_utc(engine: Engine) -> None:
    before = datetime.now(UTC)
    stored = audit.record(engine, AuditEvent(event_type=audit.SIGNIN, outcome="success"))
    assert stored.at is not None and before <= stored.at <= datetime.now(UTC)


def test_recent_filters_and_orders_newest_first(engine: Engine) -> None:
    for n in range(5):
        audit.record(engine, _issued(n))
    audit.record(
        engine,
        _issued(
            9,
            event_type=audit.CREDENTIALS_REFUSED,
            outcome="failure",
            error_code="AccessDenied",
            subject="mallory",
            role_arn="arn:aws:iam::222222222222:role/Dev",
        ),
    )
    assert [e.request_id for e in audit.recent(engine, limit=3)] == ["req-9", "req-4", "req-3"]
    refused = audit.recent(engine, AuditFilter(outcome="failure"))
    assert [(e.subject, e.error_code) for e in refused] == [("mallory", "AccessDenied")]
    by_key = audit.recent(engine, AuditFilter(access_key_id=f"ASIA{2:016d}"))
    assert [e.request_id for e in by_key] == ["req-2"]
    by_role = audit.recent(engine, AuditFilter(role_arn="arn:aws:iam::111111111111:role/Admin"))
    assert len(by_role) == 5
    window = AuditFilter(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert [e.request_id for e in audit.recent(engine, window)] == ["req-2", "req-1"]
    both = AuditFilter(subject="alice", event_type=audit.CREDENTIALS_REFUSED)
    assert audit.recent(engine, both) == []


def test_overlong_client_text_is_cut_not_refused(engine: Engine) -> None:
    stored = audit.record(engine, _issued(1, user_agent="x" * 5000))
    assert stored.user_agent == "x" * 1024
    assert audit.recent(engine)[0].user_agent == "x" * 1024
