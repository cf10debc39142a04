"""`gateway serve`: gunicorn running the app with workers, threads and bind from settings."""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import importlib
import logging
import os
import pkgutil
import shutil
import time
from typing import Any

from gunicorn.app.base import BaseApplication

from gateway.settings import Settings


def prepare(settings: Settings) -> Settings:
    """Check the stores once in the master (migrating SQLite, starting embedded Redis).

    Returns settings whose Redis URL points at the server every worker must share.
    Raises StartupError with one clear line when something is missing.
    """
    from gateway import _database, _master_key, _redis

    engine = _database(settings)
    _master_key(settings, engine)
    engine.dispose()
    client, url = _redis(settings)
    client.close()
    return dataclasses.replace(settings, redis_url=url)


def metrics_dir(settings: Settings) -> str:
    """A fresh directory for prometheus-client's multi-process files."""
    path = settings.var_dir.resolve() / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return str(path)


class GatewayServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with the gateway's own configuration instead of a config file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": self.settings.bind,
            "workers": self.settings.workers,
            # Threads, not one request per process: an exchange spends most of its time
            # waiting on Redis and the audit commit, and threads waiting together share
            # one commit (docs/decisions/0009-performance.md, "Server"). gthread, except
            # that a draining worker refuses new connections at once (gateway.drain).
            "worker_class": "gateway.drain.DrainingWorker",
            "threads": self.settings.threads,
            "timeout": 30,
            "graceful_timeout": 20,
            "keepalive": 5,
            "proc_name": "gateway",
            "child_exit": _child_exit,
            # gunicorn 27's control socket defaults to one path per user, which two
            # servers on one machine (replicas, tests) would fight over.
            "control_socket_disable": True,
        }
        for key, value in options.items():
            if key in self.cfg.settings:  # older gunicorn lacks the control socket
                self.cfg.set(key, value)

    def load(self) -> Any:
        from gateway import StartupError, create_app

        # `prepare` checked the stores in the master, so a worker that cannot start is
        # one (re)started while the database or Redis is away: it waits for them. Failing
        # would make gunicorn halt the whole server ("Worker failed to boot") and take the
        # workers still serving from their cached configuration down with it.
        while True:
            try:
                return create_app(self.settings)
            except StartupError as exc:
                logging.getLogger(__name__).warning("worker waiting to start: %s", exc)
                time.sleep(1)


def share_with_workers() -> None:
    """Import in the master the modules every worker imports as it builds the app.

    Workers are forked from the master, so these are in every worker from the start, on
    pages they share until written, instead of one private copy each: ~16 MB less PSS a
    worker (docs/decisions/0009-performance.md, "Memory"). Only modules: the app itself
    is still built in each worker (not gunicorn's preload_app), because it holds database
    and Redis connections and threads that must be the worker's own.
    """
    import gateway.web

    importlib.import_module("gateway.logs")
    for module in pkgutil.walk_packages(gateway.web.__path__, "gateway.web."):
        importlib.import_module(module.name)
    # A full collection in a worker writes to the header of every object it visits,
    # copying the shared pages (~11 MB a worker once one has run); frozen objects are
    # never visited.
    gc.collect()
    gc.freeze()


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas before any thread exists; forked workers inherit it.

    glibc gives a thread that finds the arena busy one of its own, up to 8 per core: the
    8 request threads of a worker held 5 to 9 arenas (~6 MB). With two, the same
    allocations take ~1 MB less RSS a worker at no measurable throughput cost
    (docs/decisions/0009-performance.md, "Memory"). MALLOC_ARENA_MAX in the environment
    wins; other C libraries are left as they are.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_ARENA_MAX, arenas)


_M_ARENA_MAX = -8  # glibc's malloc.h


def _child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT; gunicorn drains in-flight requests on SIGTERM."""
    limit_malloc_arenas()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir(settings)
    settings = prepare(settings)
    share_with_workers()
    GatewayServer(settings).run()
