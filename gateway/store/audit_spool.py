"""A durable local journal for audit events the database could not take.

While the database is away, audit events are appended to a file under
`GATEWAY_VAR_DIR/audit-spool/` and fsynced before the request is answered, so an
issued credential always has its record on disk somewhere durable. Each process
appends to a file of its own and holds an exclusive `flock` on it for as long as it
lives; the kernel drops the lock when the process dies, however it dies. A drain
moves spooled events into the database and deletes the file: a process drains its
own file, and any process drains the files whose lock it can take (the spools of
processes that are gone). A drain may be cut short after its commit and before the
file is gone, so draining skips events already in the database.

Line format: one JSON object per line, the audit row's columns with `at` in ISO
8601. A line without its newline was being written when the process died; its
request was never answered, so it is dropped.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"

# Rows as the writer hands them over: column name -> Python value.
Row = Mapping[str, Any]
# Stores rows in the database in one transaction, skipping rows already there.
Insert = Callable[[Sequence[Row]], None]


def encode(row: Row) -> bytes:
    values = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    values: dict[str, Any] = json.loads(line)
    values["at"] = datetime.fromisoformat(values["at"])
    return values


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete row of a spool file; a torn last line is logged and skipped."""
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.endswith(b"\n"):
                log.warning(
                    "audit spool %s: line %d was never finished; it was not "
                    "acknowledged, dropping it",
                    path,
                    number,
                )
                continue
            try:
                yield decode(line)
            except (ValueError, KeyError, TypeError):
                log.error("audit spool %s: line %d is unreadable, skipping it", path, number)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """This process's spool file in `directory`, and the drain of every file there."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._pid = os.getpid()

    def append(self, rows: Sequence[Row]) -> None:
        """Write `rows` and fsync them; raises OSError when the disk cannot take them."""
        data = b"".join(encode(row) for row in rows)
        with self._lock:
            fd = self._own_file()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)

    def _own_file(self) -> int:
        if self._pid != os.getpid():
            # A forked child must not write into (or drain) its parent's file.
            self._fd, self._path, self._pid = None, None, os.getpid()
        if self._fd is not None and os.fstat(self._fd).st_nlink == 0:
            self._carry_over_removed()
        if self._fd is None:
            self._fd, self._path = self._new_file()
        return self._fd

    def _new_file(self) -> tuple[int, Path]:
        # The directory too: it may have been removed (GATEWAY_VAR_DIR cleaned up).
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _fsync_directory(self.directory)
        return fd, path

    def _carry_over_removed(self) -> None:
        """Our file was deleted while open (its directory removed): move its events on.

        Appends to it would still succeed, into a file no drain can find and that is gone
        when this process ends: events acknowledged as durable, then lost. So its content
        is read back through the descriptor we hold and written to a new file; the old
        descriptor is let go only once that is on disk (until then it is still ours).
        """
        fd, path = self._fd, self._path
        assert fd is not None
        try:
            with open(f"/proc/self/fd/{fd}", "rb") as removed:
                kept = removed.read()
        except OSError as exc:
            kept = b""
            log.error("audit spool %s was deleted while in use and cannot be read back (%s); "
                      "the events spooled in it before are lost", path, exc)
        new_fd, new_path = self._new_file()  # OSError: keep the old one, the caller fails
        try:
            view = memoryview(kept)
            while view:
                view = view[os.write(new_fd, view) :]
            os.fsync(new_fd)
        except OSError:
            os.close(new_fd)
            _remove(new_path)
            raise
        os.close(fd)
        self._fd, self._path = new_fd, new_path
        log.warning("audit spool %s was deleted while in use; its %d bytes of events are "
                    "now in %s", path, len(kept), new_path)

    def has_own(self) -> bool:
        with self._lock:
            return self._fd is not None and self._pid == os.getpid()

    def files(self) -> list[Path]:
        try:
            return sorted(self.directory.glob(f"*{SUFFIX}"))
        except OSError:
            return []

    def drain(self, insert: Insert, chunk: int = 1000) -> bool:
        """Move every spooled event this process may take into the database.

        Returns True when nothing is left that this process could drain (files of
        live processes remain theirs). Database errors propagate; the files stay.
        """
        self._drain_own(insert, chunk)
        for path in self.files():
            if path != self._path:
                self._drain_orphan(path, insert, chunk)
        with self._lock:
            return self._fd is None

    def _drain_own(self, insert: Insert, chunk: int) -> None:
        # Detach the file first, so appends go on into a new one while this one drains.
        with self._lock:
            if self._fd is None or self._pid != os.getpid():
                return
            if os.fstat(self._fd).st_nlink == 0:
                self._carry_over_removed()
            fd, path = self._fd, self._path
            self._fd, self._path = None, None
        assert path is not None
        try:
            _insert_file(path, insert, chunk)
        except BaseException:
            # Not drained: keep appending to it unless a new file was opened meanwhile,
            # in which case it becomes an orphan the next drain (of any process) takes.
            with self._lock:
                if self._fd is None:
                    self._fd, self._path = fd, path
                    fd = -1
            if fd >= 0:
                os.close(fd)
            raise
        _remove(path)
        os.close(fd)

    def _drain_orphan(self, path: Path, insert: Insert, chunk: int) -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # a live process owns it
            # Another drain may have removed it between our open and our lock.
            try:
                if os.stat(path).st_ino != os.fstat(fd).st_ino:
                    return
            except FileNotFoundError:
                return
            _insert_file(path, insert, chunk)
            _remove(path)
        finally:
            os.close(fd)


def _insert_file(path: Path, insert: Insert, chunk: int) -> None:
    batch: list[Row] = []
    count = 0
    for row in read_rows(path):
        batch.append(row)
        if len(batch) >= chunk:
            insert(batch)
            count += len(batch)
            batch = []
    if batch:
        insert(batch)
        count += len(batch)
    log.info("audit spool %s: %d events moved into the database", path.name, count)


def _remove(path: Path) -> None:
    with suppress(FileNotFoundError):
        path.unlink()
    with suppress(OSError):
        _fsync_directory(path.parent)
