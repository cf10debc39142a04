"""A small reverse proxy in front of one identity provider emulator, with a switch.

`pass` forwards every request; `error` answers 502; `hang` accepts and never answers;
`trickle` sends headers at once and then a byte every 0.2 s, so no single socket read
ever times out; `down()` closes the port (connection refused) until `up()`. `paths`
limits the misbehaviour to some paths (the rest pass). Real HTTP both ways.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, make_server

_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length", "host"}
)
HANG_SECONDS = 60.0


class Switch:
    def __init__(self, upstream: str = "") -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.paths: tuple[str, ...] = ()  # empty: every path misbehaves
        self.seen: list[str] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.server: BaseWSGIServer | None = None
        self.port = 0
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        self.server = make_server("127.0.0.1", self.port, self, threaded=True)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def set(self, mode: str, *paths: str) -> None:
        self.mode, self.paths = mode, paths

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for p in self.seen if p.startswith(path))

    def stop(self) -> None:
        self._release.set()  # let hanging and trickling handlers finish
        self.down()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        with self._lock:
            self.seen.append(path)
        misbehaving = not self.paths or path.startswith(self.paths)
        mode = self.mode if misbehaving else "pass"
        if mode == "hang":
            self._release.wait(HANG_SECONDS)
            start_response("504 Gateway Timeout", [("Content-Type", "text/plain")])
            return [b"too late"]
        if mode == "trickle":
            start_response("200 OK", [("Content-Type", "application/json")])
            return self._trickle()
        if mode == "error":
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return [b"upstream failed"]
        return self._forward(environ, start_response)

    def _trickle(self) -> Iterator[bytes]:
        deadline = time.monotonic() + HANG_SECONDS
        while time.monotonic() < deadline and not self._release.is_set():
            yield b" "
            time.sleep(0.2)

    def _forward(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        headers = {
            k[5:].replace("_", "-").title(): v
            for k, v in environ.items()
            if k.startswith("HTTP_") and k[5:].replace("_", "-").lower() not in _HOP
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        query = environ.get("QUERY_STRING", "")
        url = f"{self.upstream}{environ.get('PATH_INFO', '')}" + (f"?{query}" if query else "")
        reply = requests.request(
            environ["REQUEST_METHOD"],
            url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=30,
        )
        start_response(
            f"{reply.status_code} {reply.reason}",
            [(k, v) for k, v in reply.headers.items() if k.lower() not in _HOP],
        )
        return [reply.content]
