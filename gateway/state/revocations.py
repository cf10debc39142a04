"""Single-session revocations: a Redis sorted set mirrored in every process.

Verifying a request must not cost a Redis round trip, so each process keeps the set
of revoked access key ids in memory and re-reads it only when a version token in
Redis changes (checked at most every `interval` seconds). Entries are scored by the
credential's expiry and pruned after it: a revoked credential past expiry is refused
as expired anyway, so the set stays as small as the live revocations.

Revocations are never withdrawn, so a live entry this process knows that Redis no
longer holds means Redis lost it (restarted without persistence, flushed, failed
over to an empty replica). The process writes such entries back rather than let a
revoked credential work again: the list survives as long as one gateway process does.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Mapping
from typing import cast

import redis

from gateway.state.keys import Keys

log = logging.getLogger(__name__)


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
        # Access key id → expiry (epoch seconds). Replaced whole, never changed in place,
        # so `is_revoked` reads it without the lock.
        self._revoked: Mapping[str, float] = {}
        self._version: bytes | None = None
        self._checked = 0.0
        self._fresh_at = 0.0

    def revoke(self, access_key_id: str, expires_at: int) -> None:
        """Refuse this credential everywhere from now until it expires."""
        now = int(time.time())
        pipe = self._store.pipeline()
        pipe.zadd(self._keys.revoked, {access_key_id: expires_at})
        pipe.zremrangebyscore(self._keys.revoked, "-inf", now)
        pipe.set(self._keys.revoked_version, _new_version())
        pipe.execute()
        with self._lock:
            self._revoked = {**self._revoked, access_key_id: float(expires_at)}
            self._checked = 0.0  # and re-read what other processes revoked meanwhile

    def is_revoked(self, access_key_id: str) -> bool:
        """Whether the id is revoked; raises RevocationStateUnknown if the list is stale."""
        now = time.monotonic()
        if now - self._checked >= self._interval:
            self._refresh(now)
        elif not self._fail_open and now - self._fresh_at > self._stale_after:
            # Another thread's refresh is in flight (it set _checked first): wait for its
            # verdict instead of answering from a list already past its staleness limit.
            with self._lock:
                if now - self._fresh_at > self._stale_after:
                    raise RevocationStateUnknown("revocation list is stale; Redis does not answer")
        return access_key_id in self._revoked

    def _refresh(self, now: float) -> None:
        with self._lock:
            if now - self._checked < self._interval:
                return
            self._checked = now
            try:
                version = cast(bytes | None, self._store.get(self._keys.revoked_version))
                if version != self._version:
                    self._reload(version)
                self._fresh_at = now
            except redis.RedisError as exc:
                if now - self._fresh_at > self._stale_after and not self._fail_open:
                    self._checked = 0.0  # keep refusing until a read succeeds again
                    raise RevocationStateUnknown(str(exc)) from exc

    def _reload(self, version: bytes | None) -> None:
        wall = time.time()
        members = cast(
            list[tuple[bytes, float]],
            self._store.zrangebyscore(self._keys.revoked, wall, "+inf", withscores=True),
        )
        loaded = {m.decode(): score for m, score in members}
        lost = {k: e for k, e in self._revoked.items() if e > wall and k not in loaded}
        if lost:
            log.warning(
                "Redis lost %d live revocation(s) this process knew; writing them back", len(lost)
            )
            version = _new_version()
            pipe = self._store.pipeline()
            pipe.zadd(self._keys.revoked, lost)
            pipe.set(self._keys.revoked_version, version)  # other processes re-read
            pipe.execute()
            loaded.update(lost)
        self._revoked = loaded
        self._version = version


def _new_version() -> bytes:
    # A random token, not a counter: a Redis that lost its data and counts again from 1
    # could otherwise repeat a version a process already holds and hide a change.
    return secrets.token_hex(8).encode()
