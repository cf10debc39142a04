"""Each process's immutable configuration snapshot, reloaded when Redis says it changed.

Writers bump `config:version` in Redis after committing; readers compare it at most
every `interval` seconds, so hot paths make no database query and at most one cheap
Redis GET a second. If Redis or the database is away the last snapshot keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import redis
from sqlalchemy.exc import SQLAlchemyError

from gateway.state.keys import Keys

log = logging.getLogger(__name__)


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


S = TypeVar("S", bound=Versioned)


class ConfigCache(Generic[S]):
    """Holds the current snapshot; `current()` is what every request calls."""

    def __init__(
        self,
        load: Callable[[int], S],
        store: redis.Redis,
        keys: Keys,
        interval: float,
    ) -> None:
        self._load = load
        self._store = store
        self._keys = keys
        self._interval = interval
        self._lock = threading.Lock()
        self._checked = 0.0
        self._snapshot = load(self._read_version() or 0)
        self._checked = time.monotonic()

    def _read_version(self) -> int | None:
        try:
            raw = self._store.get(self._keys.config_version)
        except redis.RedisError:
            return None
        return int(raw) if raw else 0

    def current(self) -> S:
        """The snapshot, reloaded first if another process changed the configuration."""
        now = time.monotonic()
        if now - self._checked < self._interval:
            return self._snapshot
        with self._lock:
            if now - self._checked >= self._interval:
                self._checked = now
                version = self._read_version()
                if version is not None and version != self._snapshot.version:
                    self.reload(version)
        return self._snapshot

    def reload(self, version: int) -> None:
        """Load the snapshot now; on a database error keep serving the previous one."""
        started = time.perf_counter()
        try:
            self._snapshot = self._load(version)
        except SQLAlchemyError as exc:
            log.warning("config reload failed, keeping version %s: %s",
                        self._snapshot.version, exc)
            return
        log.info("config version %d loaded in %.0f ms", version,
                 (time.perf_counter() - started) * 1000)

    def bump(self) -> int:
        """Tell every process (this one at once) that the configuration changed."""
        version = int(self._store.incr(self._keys.config_version))
        with self._lock:
            self.reload(version)
            self._checked = time.monotonic()
        return version

    @property
    def loaded(self) -> S:
        return self._snapshot
