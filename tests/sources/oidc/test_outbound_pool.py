"""Calls to identity providers reuse their connections, and never reuse a bad one.

A small HTTP/1.1 server counts the connections it accepts; the calls go through
`gateway.sources.oidc.http` (and the authlib client the browser sign-in uses) over real
sockets.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gateway.sources.oidc import http, pool
from gateway.sts.errors import IDPCommunicationError

BIG = b'{"pad": "' + b"x" * (http.MAX_BODY + 10) + b'"}'


class Counting(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.connections = 0
        self.cookies: list[str] = []
        self.lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            self.connections += 1
        super().process_request(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless a path says otherwise
    wbufsize = 64 * 1024  # one segment per answer (no Nagle + delayed-ACK stall)
    server: Counting

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, body: bytes, *, close: bool = False, cookie: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if cookie:
            self.send_header("Set-Cookie", "tracker=1; Path=/")
        self.end_headers()
        self.wfile.write(body)
        # `close`: the keep-alive ran out on the server's side without the client being
        # told, as when a provider's idle timeout is shorter than the time between calls.
        self.close_connection = close

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.cookies.append(self.headers.get("Cookie", ""))
        if self.path == "/big":
            self._answer(BIG)
        elif self.path == "/closes":
            self._answer(b'{"closes": true}', close=True)
        elif self.path == "/cookie":
            self._answer(b'{"cookie": true}', cookie=True)
        else:
            self._answer(json.dumps({"path": self.path}).encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = self.rfile.read(length).decode()
        token = {"access_token": "at", "token_type": "Bearer", "form": form}
        self._answer(json.dumps(token).encode())


@pytest.fixture
def server() -> Iterator[Counting]:
    srv = Counting()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url(srv: Counting, path: str) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def test_calls_share_one_connection(server: Counting) -> None:
    for i in range(5):
        reply = http.get_json(url(server, f"/keys/{i}"), what="test")
        assert reply.body == {"path": f"/keys/{i}"}
    # Each call ran in a thread of its own; before the shared pool this was 5.
    assert server.connections == 1


def test_an_answer_cut_at_the_size_cap_is_not_reused(server: Counting) -> None:
    assert http.get_json(url(server, "/first"), what="test").ok
    with pytest.raises(IDPCommunicationError, match="too large"):
        http.get_json(url(server, "/big"), what="test")
    # The rest of the big body must not be read as the next answer.
    assert http.get_json(url(server, "/after"), what="test").body == {"path": "/after"}
    assert server.connections == 2


def test_a_connection_the_provider_closed_is_replaced(server: Counting) -> None:
    assert http.get_json(url(server, "/closes"), what="test").body == {"closes": True}
    assert http.get_json(url(server, "/next"), what="test").body == {"path": "/next"}
    assert server.connections == 2


def test_no_cookie_is_kept_between_calls(server: Counting) -> None:
    http.get_json(url(server, "/cookie"), what="test")
    http.get_json(url(server, "/again"), what="test")
    assert server.cookies == ["", ""]
    assert server.connections == 1


def test_the_authlib_client_uses_the_same_pool(server: Counting) -> None:
    from authlib.integrations.requests_client import OAuth2Session

    for _ in range(3):
        client = pool.pooled(OAuth2Session(client_id="app", client_secret="s"))
        token = client.fetch_token(url(server, "/token"), grant_type="authorization_code",
                                   code="c", timeout=5)
        client.close()  # as the sign-in does: must not close the process's pool
        assert token["access_token"] == "at"
    assert http.get_json(url(server, "/keys"), what="test").ok
    assert server.connections == 1


def test_a_forked_process_gets_a_pool_of_its_own() -> None:
    parent = id(pool.adapter())
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through the pipe)
        os.write(write, b"same" if id(pool.adapter()) == parent else b"own")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 8)
    os.waitpid(child, 0)
    assert answer == b"own"
    assert id(pool.adapter()) == parent
