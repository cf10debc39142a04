"""One connection pool per process for every call to an identity provider.

Each outbound call runs in a thread of its own (`outbound.within`, for its deadline),
so the per-thread session this replaces never saw a second call: every JWKS refresh,
token endpoint call and, on the token exchange path, every Facebook `debug_token` and
Amazon profile lookup paid a new TCP connection and TLS handshake. urllib3's pool is
thread-safe and requests' sessions are not, so each call gets a fresh session that
mounts this process's one adapter. Imported on first use (requests is ~5 MB a worker
without OpenID providers never loads).
"""

from __future__ import annotations

import os
import threading
from http.cookiejar import DefaultCookiePolicy

import requests
from requests.adapters import HTTPAdapter

from gateway.sources import outbound

HOSTS = 16  # distinct provider hosts whose connections are kept


class KeptAdapter(HTTPAdapter):
    """An adapter that outlives the sessions mounting it: `Session.close` closes its
    adapters, and this one is the process's pool."""

    def close(self) -> None:
        pass


_lock = threading.Lock()
_adapter: tuple[int, KeptAdapter] | None = None


def adapter() -> KeptAdapter:
    """This process's pool. Keyed by process id: a forked worker must not write to
    sockets its parent (or a sibling) also holds."""
    global _adapter
    with _lock:
        if _adapter is None or _adapter[0] != os.getpid():
            # No retries, as before the pool: a provider that is slow or failing is not
            # asked twice. A kept connection the provider closed while idle is noticed
            # by urllib3 before it is used, and replaced.
            kept = KeptAdapter(pool_connections=HOSTS, pool_maxsize=outbound.MAX_CALLS)
            _adapter = (os.getpid(), kept)
        return _adapter[1]


def pooled(session: requests.Session) -> requests.Session:
    """`session` sending through the shared pool, keeping no cookie between calls and
    never routed through a proxy from the environment."""
    kept = adapter()
    session.mount("https://", kept)
    session.mount("http://", kept)
    session.trust_env = False
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


def finish(response: requests.Response, complete: bool) -> None:
    """Give the connection back to the pool when its answer was read to the end; close it
    otherwise (a body cut at the size cap or the deadline must not be read by the next
    call). `Response.close` on a streamed answer always closes the socket."""
    if complete:
        response.raw.release_conn()
    else:
        response.close()
