"""Every call to an identity provider ends within one deadline, whatever the peer does.

Socket timeouts bound each read, not the call: a provider that trickles its answer (or
its headers) a byte at a time would hold a worker for as long as it likes. So each
call runs in a daemon thread and the caller waits at most `TIMEOUT` seconds
(GATEWAY_IDP_TIMEOUT) for it. A call still running then is abandoned; its socket
timeouts and `read_capped`'s deadline end it soon after. At most `MAX_CALLS` run at
once, so a misbehaving provider can tie up a few threads but never the gateway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

TIMEOUT = 5.0  # seconds; create_app sets it from GATEWAY_IDP_TIMEOUT
MAX_CALLS = 32
_CHUNK = 64 * 1024

_slots = threading.BoundedSemaphore(MAX_CALLS)


def configure(timeout: float) -> None:
    """Use `timeout` seconds for every outbound identity provider call of this process."""
    global TIMEOUT
    TIMEOUT = timeout


def within(call: Callable[[], T], timeout: float | None = None) -> T:
    """`call()`'s result (or exception), or TimeoutError once `timeout` seconds pass."""
    limit = TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + limit
    if not _slots.acquire(timeout=limit):
        raise TimeoutError("too many identity provider calls are still waiting for answers")
    outcome: list[T] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)
        finally:
            _slots.release()
            done.set()

    # A daemon: a call abandoned at the deadline must not keep the process from exiting.
    threading.Thread(target=run, name="idp-call", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise TimeoutError(f"no answer within {limit:g} s")
    if failure:
        raise failure[0]
    return outcome[0]


def read_capped(read1: Callable[[int], bytes], limit: int, deadline: float) -> bytes:
    """Up to `limit` + 1 bytes of a body, read as they arrive, until `deadline` (monotonic).

    `read1` returns what one socket read gives, so a trickling peer cannot keep the
    calling thread past the deadline by more than one socket timeout.
    """
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        if time.monotonic() > deadline:
            raise TimeoutError("the answer did not arrive in time")
        chunk = read1(min(_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
