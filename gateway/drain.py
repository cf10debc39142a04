"""Graceful drain that never strands a connection: the gunicorn worker `gateway serve` runs.

gunicorn's gthread worker, on SIGTERM, stops polling its listening socket but keeps it
open until its requests in flight are answered (up to `graceful_timeout`). Connections
made meanwhile complete their TCP handshake in the kernel, wait in the listen backlog
with nobody to accept them, and are reset when the worker finally exits: a load balancer
sees a hung request and then a reset, not a refusal it can retry elsewhere at once.

This worker, as soon as it stops accepting for good, accepts what the kernel has already
queued (those are served like any request) and closes its copy of the listening socket.
The master closed its copy before signalling, so once every worker has done so the port
is closed and new connections are refused at once (ECONNREFUSED) while the requests in
flight finish. Closing is only a worker's own descriptor: on a reload (SIGHUP) the
master and the new workers keep the socket listening.
"""

from __future__ import annotations

import errno
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

# accept() failures that mean "nothing (more) to take from the backlog".
_EMPTY = (errno.EAGAIN, errno.EWOULDBLOCK)


class DrainingWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, refusing new connections at once while it drains (see the module doc)."""

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled)
        # Also called with False when the worker is merely at its connection limit; only
        # a stopping worker (alive is False) gives up its listening sockets.
        if not enabled and not self.alive:
            self._stop_listening()

    def _stop_listening(self) -> None:
        for listener in self.sockets:
            if getattr(listener, "sock", listener) is None:
                continue  # closed already
            self._take_backlog(listener)
            listener.close()

    def _take_backlog(self, listener: Any) -> None:
        """Accept every connection already queued, to be served like any other."""
        address = listener.getsockname()
        listener.setblocking(False)
        while True:
            try:
                client, peer = listener.accept()
            except InterruptedError:
                continue
            except OSError as exc:
                if exc.errno == errno.ECONNABORTED:
                    continue  # that client gave up; the next one may be there
                if exc.errno not in _EMPTY:
                    self.log.warning("draining the listen backlog stopped: %s", exc)
                return
            client.setblocking(True)
            self.nr_conns += 1
            self.enqueue_req(TConn(self.cfg, client, peer, address))
