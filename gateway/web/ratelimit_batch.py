"""Counters counted in this process and sent to Redis in batches.

For the families of calls made with issued credentials (SigV4-signed STS calls and
/api/v1/authorize questions, which resource servers make at thousands per second). A
signed call used to pay one Redis round trip to count itself: a quarter of its CPU, for
a brake that fails open anyway (docs/decisions/0012-rate-limits.md, point 8). Here a call
is counted in a local table and judged against

    the count Redis last reported for its key + what this process counted since

and a background thread sends what was counted to Redis every `interval` seconds, one
Lua call for all keys, learning the counts every other process added. Within a process
the limit is exact; across processes, each may admit what the others counted in the
last interval before it hears of it (at most `interval` x the others' rate). When Redis
cannot be asked, the counts of that interval are dropped and calls go on, which is the
signed family's documented fail-open behaviour.

The thread is started on first use in each process (gunicorn forks workers after the app
is built, and threads do not survive a fork).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis

log = logging.getLogger(__name__)

_MAX_KEYS = 100_000  # live windows remembered; beyond it the oldest are forgotten

# INCRBY every key by its delta (ARGV: delta, window ms, per key); PTTL < 0 (a new key,
# or one that lost its TTL) starts the window, so no counter can outlive it. Returns each
# key's count and remaining milliseconds. Lua rather than MULTI: Redis evaluates key
# expiry once per script, so a window cannot end between the INCRBY and the PEXPIRE.
# Also the per-request count of the other families (gateway.web.ratelimit), delta 1.
COUNT_SCRIPT = """
local out = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCRBY', key, tonumber(ARGV[2 * i - 1]))
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    ttl = tonumber(ARGV[2 * i])
    redis.call('PEXPIRE', key, ttl)
  end
  out[2 * i - 1] = count
  out[2 * i] = ttl
end
return out
"""


@dataclass(slots=True)
class _Window:
    """What is known of one key: Redis's last count, what is not yet in it, and its end."""

    reported: int  # the count Redis returned at the last flush
    unsent: int  # counted here since that flush (in flight or waiting)
    ends: float  # time.monotonic() when the window resets
    window_ms: int  # the window's length, for Redis's TTL


class BatchedCounters:
    """Local counting with a periodic flush; thread-safe."""

    def __init__(self, store: redis.Redis, interval: float = 0.1) -> None:
        self._script = store.register_script(COUNT_SCRIPT)
        self._interval = interval
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._pending: dict[str, tuple[int, int]] = {}  # key -> (count, window ms) to send
        self._owner = 0  # pid whose flusher thread is running

    def hit(self, keys: Sequence[str], windows_ms: Sequence[int]) -> list[tuple[int, int]]:
        """Count one call on each key; each key's estimated count and milliseconds left."""
        self._ensure_flusher()
        now = time.monotonic()
        out: list[tuple[int, int]] = []
        with self._lock:
            for key, window_ms in zip(keys, windows_ms, strict=True):
                known = self._windows.get(key)
                if known is None or known.ends <= now:
                    known = _Window(0, 0, now + window_ms / 1000, window_ms)
                    self._windows[key] = known
                known.unsent += 1
                sent = self._pending.get(key)
                self._pending[key] = (sent[0] + 1 if sent else 1, known.window_ms)
                left = max(1, int((known.ends - now) * 1000))
                out.append((known.reported + known.unsent, left))
        return out

    def flush(self) -> None:
        """Send what was counted; learn the totals. Raises redis.RedisError."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        keys = list(pending)
        args: list[int] = []
        for key in keys:
            args += pending[key]
        try:
            answer = self._script(keys=keys, args=args)
        except redis.RedisError:
            with self._lock:  # dropped: fail open, and no stale "unsent" keeps counting
                for key in keys:
                    known = self._windows.get(key)
                    if known is not None:
                        known.unsent = max(0, known.unsent - pending[key][0])
            raise
        now = time.monotonic()
        with self._lock:
            for i, key in enumerate(keys):
                count, ttl_ms = int(answer[2 * i]), max(int(answer[2 * i + 1]), 1)
                known = self._windows.get(key)
                if known is None:
                    continue
                known.reported = count
                known.unsent = max(0, known.unsent - pending[key][0])
                known.ends = now + ttl_ms / 1000  # Redis's window is the shared one
            self._prune(now)

    def _prune(self, now: float) -> None:
        for key in [k for k, w in self._windows.items() if w.ends <= now and k not in
                    self._pending]:
            del self._windows[key]
        while len(self._windows) > _MAX_KEYS:
            del self._windows[next(iter(self._windows))]

    def _ensure_flusher(self) -> None:
        pid = os.getpid()
        if self._owner == pid:
            return
        with self._lock:
            if self._owner == pid:
                return
            self._owner = pid
            if self._windows or self._pending:  # inherited from the parent: not ours
                self._windows, self._pending = {}, {}
            threading.Thread(target=self._run, name="ratelimit-flush", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(self._interval)
            try:
                self.flush()
            except redis.RedisError as exc:
                log.debug("batched rate-limit counts not sent (fail open): %s", exc)
            except Exception:  # the thread must outlive any surprise; the next tick retries
                log.exception("batched rate-limit counts not sent")
