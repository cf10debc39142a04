"""The audit write path in process: events/s and per-event latency, SQLite and PostgreSQL.

    .venv/bin/python bench/bench_audit.py [--runs 9] [--events 200] [--threads 8]

Each event is a realistic `credentials.issued` record, durable (committed) before the
call returns. Baseline, measured in the same run: the previous write path, one ORM
Session and one commit per event through the pooled, pre-pinging engine. Two load
shapes: one caller (a gunicorn sync worker: one request at a time) and `--threads`
concurrent callers (a threaded worker), where the group-commit writer shares commits.
PostgreSQL is `GATEWAY_TEST_POSTGRES_URL` (default the local test database), in a
schema of its own dropped afterwards. Medians of `--runs` interleaved rounds; raw
numbers to bench/results/audit.json.
Goal: the writer is at least as fast as the baseline on every row (ratio >= 1). The
issue sets no audit figure of its own; these rows explain the token-exchange rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Row, median  # noqa: E402
from gateway.store import audit  # noqa: E402
from gateway.store.db import make_engine  # noqa: E402
from gateway.store.migrate import upgrade  # noqa: E402
from gateway.store.models import AuditEventRow  # noqa: E402

POSTGRES = os.environ.get(
    "GATEWAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def event(n: int) -> audit.AuditEvent:
    return audit.AuditEvent(
        event_type=audit.CREDENTIALS_ISSUED,
        outcome="success",
        request_id=uuid.uuid4().hex,
        principal_arn="arn:aws:sts::111111111111:assumed-role/MobileApp/user-42",
        role_arn="arn:aws:iam::111111111111:role/MobileApp",
        account="111111111111",
        provider="https://accounts.example.com",
        subject=f"user-{n}",
        access_key_id=f"ASIA{n:016d}",
        session_id=uuid.uuid4().hex,
        source_ip="203.0.113.9",
        user_agent="aws-sdk-kotlin/1.0 os/android",
        detail={
            "action": "AssumeRoleWithWebIdentity",
            "expires_at": 1_800_000_000,
            "chain_depth": 0,
            "session_policy": False,
            "tags": ["team"],
        },
    )


def old_record(engine: Engine, e: audit.AuditEvent) -> None:
    """The write path before the writer: ORM row, pooled session, one commit each."""
    values = {f: getattr(e, f) for f in audit._EVENT_FIELDS if f != "id"}
    values["at"] = e.at or audit.utcnow()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add(AuditEventRow(**values))


def new_record(engine: Engine, e: audit.AuditEvent) -> None:
    audit.record(engine, e)


def run(
    write: Callable[[Engine, audit.AuditEvent], None], engine: Engine, events: int, threads: int
) -> tuple[float, list[float]]:
    """(events per second, per-event latencies in seconds) for `threads` callers."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = events // threads
    start_line = threading.Barrier(threads + 1)

    def caller(offset: int) -> None:
        mine: list[float] = []
        start_line.wait()
        for i in range(per_thread):
            e = event(offset + i)
            t0 = time.perf_counter()
            write(engine, e)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=caller, args=(k * per_thread,)) for k in range(threads)]
    for w in workers:
        w.start()
    start_line.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    return len(latencies) / elapsed, latencies


@contextmanager
def databases() -> Iterator[dict[str, Engine]]:
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = make_engine(f"sqlite:///{tmp}/gateway.db")
        upgrade(sqlite)
        schema = f"gw_bench_audit_{uuid.uuid4().hex[:8]}"
        admin = make_engine(POSTGRES)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(POSTGRES).update_query_dict({"options": f"-csearch_path={schema}"})
        pg = make_engine(url)
        try:
            upgrade(pg)
            yield {"SQLite": sqlite, "PostgreSQL": pg}
        finally:
            for engine in (sqlite, pg):
                audit.open_writer(engine).close()  # its kept connection
                engine.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def collect(runs: int, events: int, threads: int) -> dict[str, Any]:
    paths = {"old: ORM commit per event": old_record, "new: group-commit writer": new_record}
    shapes = {"1 caller": 1, f"{threads} callers": threads}
    raw: dict[str, dict[str, list[dict[str, float]]]] = {}
    with databases() as engines:
        for name, engine in engines.items():
            for write in paths.values():  # warm up: connections, prepared statements
                run(write, engine, 50, 1)
            for _ in range(runs):  # interleaved, so drift hits both paths alike
                for shape, n in shapes.items():
                    for path, write in paths.items():
                        rate, lat = run(write, engine, events, n)
                        lat.sort()
                        raw.setdefault(f"{name} / {shape}", {}).setdefault(path, []).append(
                            {
                                "events_per_s": rate,
                                "median_ms": statistics.median(lat) * 1e3,
                                "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1e3,
                            }
                        )
    return {"runs": runs, "events": events, "threads": threads, "raw": raw}


def rows(data: dict[str, Any]) -> list[Row]:
    out = []
    for key, paths in data["raw"].items():
        old, new = paths["old: ORM commit per event"], paths["new: group-commit writer"]
        old_rate = median([r["events_per_s"] for r in old])
        new_rate = median([r["events_per_s"] for r in new])
        new_med = median([r["median_ms"] for r in new])
        new_p99 = median([r["p99_ms"] for r in new])
        old_med = median([r["median_ms"] for r in old])
        ratio = new_rate / old_rate
        goal = 1.0
        out.append(
            Row(
                path=f"audit write, {key}",
                figure=f"{new_rate:,.0f} events/s, {new_med:.2f} ms median, {new_p99:.2f} ms p99",
                baseline=f"ORM commit per event {old_rate:,.0f} events/s, {old_med:.2f} ms median",
                ratio=ratio,
                goal=f">= {goal:g}x baseline",
                passed=ratio >= goal,
                raw={"old": old, "new": new},
            )
        )
    return out


def measure(runs: int) -> list[Row]:
    """bench/run's entry point."""
    data = collect(max(runs, 7), events=200, threads=8)
    _save(data)
    return rows(data)


def _save(data: dict[str, Any]) -> None:
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "audit.json").write_text(
        json.dumps({"benchmark": "audit write path", **data}, indent=2) + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    data = collect(args.runs, args.events, args.threads)
    _save(data)
    table = rows(data)
    print(f"audit write path, medians of {args.runs} rounds of {args.events} events")
    for row in table:
        verdict = "PASS" if row.passed else "FAIL"
        print(
            f"{row.path:<42} {row.figure:<50} | {row.baseline:<52} "
            f"{row.ratio:5.2f}x  {row.goal}  {verdict}"
        )
    return 0 if all(r.passed for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
