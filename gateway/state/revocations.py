"""Single-session revocations: a Redis sorted set mirrored in every process.

Verifying a request must not cost a Redis round trip, so each process keeps the set
of revoked access key ids in memory and re-reads it only when a version counter in
Redis changes (checked at most every `interval` seconds). Entries are scored by the
credential's expiry and pruned after it: a revoked credential past expiry is refused
as expired anyway, so the set stays as small as the live revocations.
"""

from __future__ import annotations

import threading
import time
from typing import cast

import redis

from gateway.state.keys import Keys


class RevocationStateUnknown(Exception):
    """Redis has been unreachable too long to trust the cached revocation list."""


class Revocations:
    """Revoke by access key id; ask whether an id is revoked."""

    def __init__(
        self,
        store: redis.Redis,
        keys: Keys,
        interval: float = 0.5,
        stale_after: float = 5.0,
        fail_open: bool = False,
    ) -> None:
        self._store = store
        self._keys = keys
        self._interval = interval
        self._stale_after = stale_after
        self._fail_open = fail_open
        self._lock = threading.Lock()
        self._revoked: frozenset[str] = frozenset()
        self._version: bytes | None = None
        self._checked = 0.0
        self._fresh_at = 0.0

    def revoke(self, access_key_id: str, expires_at: int) -> None:
        """Refuse this credential everywhere from now until it expires."""
        now = int(time.time())
        pipe = self._store.pipeline()
        pipe.zadd(self._keys.revoked, {access_key_id: expires_at})
        pipe.zremrangebyscore(self._keys.revoked, "-inf", now)
        pipe.incr(self._keys.revoked_version)
        pipe.execute()
        with self._lock:
            self._checked = 0.0  # this process sees its own revocation at once

    def is_revoked(self, access_key_id: str) -> bool:
        """Whether the id is revoked; raises RevocationStateUnknown if the list is stale."""
        now = time.monotonic()
        if now - self._checked >= self._interval:
            self._refresh(now)
        return access_key_id in self._revoked

    def _refresh(self, now: float) -> None:
        with self._lock:
            if now - self._checked < self._interval:
                return
            self._checked = now
            try:
                version = cast(bytes | None, self._store.get(self._keys.revoked_version))
                if version != self._version:
                    members = cast(
                        list[bytes],
                        self._store.zrangebyscore(self._keys.revoked, time.time(), "+inf"),
                    )
                    self._revoked = frozenset(m.decode() for m in members)
                    self._version = version
                self._fresh_at = now
            except redis.RedisError as exc:
                if now - self._fresh_at > self._stale_after and not self._fail_open:
                    self._checked = 0.0  # keep refusing until a read succeeds again
                    raise RevocationStateUnknown(str(exc)) from exc
