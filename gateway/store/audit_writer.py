"""Group commit for audit events: durable before `write` returns, one commit for many.

Every request that issues credentials writes an audit event and must not answer
before it is durable; a commit (a WAL fsync on PostgreSQL) costs far more than the
INSERT. Concurrent writers in one process therefore share commits: the first to
arrive becomes the leader and commits every event queued so far in one transaction,
then wakes the others; those that queued during that commit elect the next leader.
With one request at a time per process (gunicorn sync workers) the leader is always
the caller itself and the path is one prepared INSERT ... RETURNING and a COMMIT on a
connection the writer keeps (no pool checkout, no pre-ping SELECT, no ORM).

When the database cannot take the events, they go to the spool (`audit_spool`),
fsynced before `write` returns, and a background thread moves them into the database
once it answers again. Without a spool, or when the spool cannot be written either,
`write` raises `AuditUnavailable` and the caller must not hand anything out.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Table, and_, bindparam, insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import PoolProxiedConnection

from gateway.store.audit_spool import Row, Spool
from gateway.store.db import make_engine
from gateway.store.models import AuditEventRow

log = logging.getLogger(__name__)

TABLE = cast(Table, AuditEventRow.__table__)
COLUMNS = tuple(c.name for c in TABLE.columns if c.name != "id")
# After a failed write, go straight to the spool for this long instead of making every
# request wait on a database that just failed; the drain thread probes it meanwhile.
RETRY_AFTER = 1.0
DRAIN_INTERVAL = 0.5


def scrub(row: Any) -> Any:
    """`row` without NUL characters, which PostgreSQL refuses in text and JSONB.

    Client text may carry them (a token's subject, a header); only an event the
    database refused is scrubbed, so the common path pays nothing for it.
    """
    if isinstance(row, str):
        return row.replace("\x00", "\ufffd")
    if isinstance(row, Mapping):
        return {scrub(k): scrub(v) for k, v in row.items()}
    if isinstance(row, list | tuple):
        return [scrub(v) for v in row]
    return row


class AuditUnavailable(SQLAlchemyError):
    """Neither the database nor the spool took the event: answer 503, hand out nothing."""


@dataclass(slots=True)
class _Waiter:
    row: Row
    done: bool = False
    id: int | None = None
    error: BaseException | None = None


class _Unavailable(Exception):
    """The database did not take the batch; `ambiguous` if the COMMIT itself failed."""

    def __init__(self, cause: BaseException, *, ambiguous: bool) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.ambiguous = ambiguous


class _Statement:
    """The INSERT compiled once for a dialect, with its bind processors."""

    def __init__(self, dialect: Dialect) -> None:
        stmt = insert(TABLE).values({name: bindparam(name) for name in COLUMNS})
        compiled = stmt.returning(TABLE.c.id).compile(dialect=dialect)
        self.sql = compiled.string
        self.positional = compiled.positiontup is not None
        self.order = tuple(compiled.positiontup or COLUMNS)
        self.processors: dict[str, Callable[[Any], Any]] = {}
        for column in TABLE.columns:
            processor = column.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None and column.name in COLUMNS:
                self.processors[column.name] = processor
        self.begin = "BEGIN" if dialect.name == "sqlite" else None

    def params(self, row: Row) -> tuple[Any, ...] | dict[str, Any]:
        values = {name: row.get(name) for name in COLUMNS}
        for name, processor in self.processors.items():
            values[name] = processor(values[name])
        if self.positional:
            return tuple(values[name] for name in self.order)
        return values


class AuditWriter:
    """Writes audit rows for one database; one per process and engine."""

    def __init__(self, engine: Engine, spool: Spool | None = None) -> None:
        url = engine.url
        memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        # Its own small pool without pre-ping: the writer keeps one connection and
        # retries once on a fresh one when the kept one turns out dead.
        self._engine = (
            engine
            if memory
            else make_engine(
                url,
                pool_pre_ping=False,
                pool_size=1,
                max_overflow=2,
                pool_reset_on_return=None,
            )
        )
        dialect = self._engine.dialect
        self._dbapi_errors: tuple[type[BaseException], ...] = (dialect.loaded_dbapi.Error,)
        # Connection-level failures (refused, reset, shut down; SQLAlchemy wraps those
        # raised while connecting): the database is away, not the event at fault.
        self._availability_errors: tuple[type[BaseException], ...] = (
            dialect.loaded_dbapi.OperationalError,
            dialect.loaded_dbapi.InterfaceError,
            DBAPIError,
        )
        self._drain_errors = (SQLAlchemyError, OSError, *self._dbapi_errors)
        self._statement = _Statement(dialect)
        self._pipelined = dialect.driver == "psycopg"
        self.spool = spool
        self._reset_process_state()
        if spool is not None and spool.files():
            self._start_drainer()  # spools left behind by processes that are gone

    def _reset_process_state(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._queue: list[_Waiter] = []
        self._busy = False
        self._conn: PoolProxiedConnection | None = None
        self._db_down_until = 0.0
        self._spooling = False  # since the last failure, for one warning per outage
        self.commits = 0  # transactions committed by this process's writer
        self._drainer_lock = threading.Lock()
        self._draining = False

    def _after_fork(self) -> None:
        # The parent's connection and threads are not ours: never use or close them.
        _INHERITED.append(self._conn)
        self._engine.dispose(close=False)
        self._reset_process_state()

    @property
    def committing(self) -> bool:
        """A leader is committing a batch right now."""
        with self._cond:
            return self._busy

    def queued(self) -> int:
        """Events waiting for the commit under way to finish."""
        with self._cond:
            return len(self._queue)

    def write(self, row: Row) -> int | None:
        """Store `row` durably; its id, or None when it went to the spool."""
        if self._pid != os.getpid():
            self._after_fork()
        waiter = _Waiter(row)
        with self._cond:
            self._queue.append(waiter)
            while self._busy and not waiter.done:
                self._cond.wait()
            if not waiter.done:
                self._busy = True
                batch, self._queue = self._queue, []
        if not waiter.done:
            try:
                self._commit(batch)
            finally:
                with self._cond:
                    for w in batch:
                        w.done = True
                    self._busy = False
                    self._cond.notify_all()
        if waiter.error is not None:
            raise waiter.error
        return waiter.id

    def _commit(self, batch: list[_Waiter]) -> None:
        rows = [w.row for w in batch]
        if self.spool is not None and time.monotonic() < self._db_down_until:
            self._to_spool(batch, None)
            return
        try:
            ids = self._insert(rows)
        except _Unavailable as exc:
            self._to_spool(batch, exc)
            return
        except self._dbapi_errors as exc:
            if len(batch) > 1:
                # One bad event must not cost the others their record.
                for w in batch:
                    self._commit([w])
                return
            if rows[0] != (clean := scrub(rows[0])):
                batch[0].row = clean
                self._commit(batch)
                return
            batch[0].error = AuditUnavailable(f"audit event refused by the database: {exc}")
            return
        for w, id_ in zip(batch, ids, strict=True):
            w.id = id_

    def _insert(self, rows: Sequence[Row]) -> list[int]:
        """One transaction for `rows`; a dead kept connection is retried once."""
        statement = self._statement
        params = [statement.params(row) for row in rows]
        for attempt in (0, 1):
            committing = False
            try:
                conn = self._connection()
                cursor = conn.cursor()
                try:
                    if statement.begin:
                        cursor.execute(statement.begin)
                    ids = self._execute(cursor, params)
                    committing = True
                    conn.commit()
                    self.commits += 1
                finally:
                    cursor.close()
                return ids
            except self._availability_errors as exc:
                self._discard_connection()
                if committing or attempt == 1:
                    raise _Unavailable(exc, ambiguous=committing) from exc
            except self._dbapi_errors:
                self._rollback()
                raise
        raise AssertionError("unreachable")

    def _execute(self, cursor: Any, params: list[Any]) -> list[int]:
        sql = self._statement.sql
        if len(params) > 1 and self._pipelined:
            # psycopg sends a batch in one round trip (pipeline mode), ids in order.
            cursor.executemany(sql, params, returning=True)
            ids = [int(cursor.fetchone()[0])]
            while cursor.nextset():
                ids.append(int(cursor.fetchone()[0]))
            return ids
        ids = []
        for p in params:
            cursor.execute(sql, p)
            ids.append(int(cursor.fetchone()[0]))
        return ids

    def _connection(self) -> PoolProxiedConnection:
        if self._conn is None:
            self._conn = self._engine.raw_connection()
        return self._conn

    def _discard_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
            except Exception:  # it is being thrown away anyway
                log.debug("discarding a broken audit connection failed", exc_info=True)

    def _rollback(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rollback()
        except self._dbapi_errors:
            self._discard_connection()

    def _to_spool(self, batch: list[_Waiter], cause: _Unavailable | None) -> None:
        if self.spool is None:
            assert cause is not None
            error = AuditUnavailable(f"audit trail unavailable: {cause.cause}")
            for w in batch:
                w.error = error
            return
        try:
            self.spool.append([w.row for w in batch])
        except OSError as exc:
            log.error("audit events could neither be stored nor spooled: %s", exc)
            error = AuditUnavailable(f"audit trail unavailable (database and spool): {exc}")
            for w in batch:
                w.error = error
            return
        if cause is not None and not self._spooling:
            self._spooling = True
            log.warning(
                "database unavailable (%s); audit events are spooled under %s until it is back",
                cause.cause,
                self.spool.directory,
            )
        self._db_down_until = time.monotonic() + RETRY_AFTER
        self._start_drainer()

    def _start_drainer(self) -> None:
        with self._drainer_lock:
            if self._draining:
                return
            self._draining = True
        threading.Thread(target=self._drain_loop, name="audit-spool-drain", daemon=True).start()

    def _drain_loop(self) -> None:
        assert self.spool is not None
        while True:
            try:
                self._probe()
                done = self.spool.drain(self._insert_spooled)
            except self._drain_errors as exc:
                log.debug("audit spool not drained yet: %s", exc)
                time.sleep(DRAIN_INTERVAL)
                continue
            except Exception:
                log.exception("audit spool drain failed")
                time.sleep(DRAIN_INTERVAL)
                continue
            self._db_down_until = 0.0
            if self._spooling:
                self._spooling = False
                log.info("database back: audit events go to it again")
            with self._drainer_lock:
                if done and not self.spool.has_own():
                    self._draining = False
                    return
            time.sleep(DRAIN_INTERVAL)

    def _probe(self) -> None:
        """Raise unless the database answers (a drain attempt would only fail)."""
        with self._engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def _insert_spooled(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert spooled rows in one transaction, skipping those already stored."""
        c = TABLE.c
        with self._engine.begin() as conn:
            for row in rows:
                values = scrub({name: row.get(name) for name in COLUMNS})
                stored = conn.execute(
                    select(c.id)
                    .where(
                        and_(
                            c.at == values["at"],
                            c.event_type == values["event_type"],
                            c.request_id.is_not_distinct_from(values["request_id"]),
                            c.access_key_id.is_not_distinct_from(values["access_key_id"]),
                        )
                    )
                    .limit(1)
                ).first()
                if stored is None:
                    conn.execute(insert(TABLE), values)

    def close(self) -> None:
        self._discard_connection()
        self._engine.dispose()


# Connections inherited across fork: kept referenced so they are never finalized
# (closing one in the child would end the parent's session).
_INHERITED: list[object] = []
