"""The gateway behind a real reverse proxy: boto3 signs the proxy's URL, the gateway verifies.

The proxy here is a small threaded `http.server` that does what nginx or a cloud load
balancer does: strips a path prefix, sends its own `Host`, and adds `X-Forwarded-For`,
`-Proto`, `-Host` and `-Prefix`. The client signed the public host and the prefixed path;
only with `GATEWAY_TRUSTED_PROXIES` set may the gateway rebuild them from those headers.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from gateway import create_app
from gateway.runtime import Runtime
from gateway.store import audit
from tests.conftest import LiveServer, RedisServer, make_settings
from tests.sts.signing import botocore_signed
from tests.sts_world import ACCOUNT_A, CHAINED_ROLE, Minted, first_credentials, load_world

CLIENT_IP = "203.0.113.9"  # where the proxy says the client connected from
SPOOFED_IP = "198.51.100.66"  # what a client claims in its own X-Forwarded-For
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade"}


class ReverseProxy:
    """Forwards `<prefix>/…` to `upstream`, like a path-routing reverse proxy."""

    def __init__(
        self,
        upstream: str,
        *,
        prefix: str = "",
        rewrite_host: bool = True,
        proto: str = "http",
        port: str | None = None,
    ) -> None:
        target = urlsplit(upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self) -> None:
                path = self.path
                if prefix:
                    if not (path == prefix or path.startswith((prefix + "/", prefix + "?"))):
                        self.send_error(404)
                        return
                    path = path[len(prefix):] or "/"
                    if path.startswith("?"):
                        path = "/" + path
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = [(k, v) for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP and k.lower() != "host"
                           and not k.lower().startswith("x-forwarded-")]
                original_host = self.headers.get("Host", "")
                headers.append(("Host", target.netloc if rewrite_host else original_host))
                previous = self.headers.get("X-Forwarded-For")
                forwarded_for = f"{previous}, {CLIENT_IP}" if previous else CLIENT_IP
                headers += [("X-Forwarded-For", forwarded_for), ("X-Forwarded-Proto", proto)]
                if rewrite_host:
                    headers.append(("X-Forwarded-Host", original_host))
                if port:
                    headers.append(("X-Forwarded-Port", port))
                if prefix:
                    headers.append(("X-Forwarded-Prefix", prefix))
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                try:
                    conn.putrequest(self.command, path, skip_host=True,
                                    skip_accept_encoding=True)
                    for name, value in headers:
                        conn.putheader(name, value)
                    conn.endheaders(body)
                    answer = conn.getresponse()
                    data = answer.read()
                finally:
                    conn.close()
                proxy.forwarded.append((self.command, path))
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = forward

            def log_message(self, *args: Any) -> None:
                pass

        self.forwarded: list[tuple[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}{prefix}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def gateway(tmp_path: Path, redis_server: RedisServer, trusted: int) -> LiveServer:
    settings = make_settings(tmp_path, redis_server.url, GATEWAY_TRUSTED_PROXIES=str(trusted))
    app = create_app(settings)
    load_world(app)
    return LiveServer(app)


@pytest.fixture
def trusting(tmp_path: Path, redis_server: RedisServer) -> Iterator[LiveServer]:
    live = gateway(tmp_path, redis_server, trusted=1)
    yield live
    live.stop()


@pytest.fixture
def distrusting(tmp_path: Path, redis_server: RedisServer) -> Iterator[LiveServer]:
    live = gateway(tmp_path, redis_server, trusted=0)
    yield live
    live.stop()


def sts(endpoint: str, creds: Minted, **overrides: str) -> Any:
    return boto3.client(
        "sts", endpoint_url=endpoint, region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}), **{**creds.boto_kwargs(), **overrides},
    )


def spoof_forwarded_for(client: Any) -> None:
    """Add an X-Forwarded-For after signing, as a client lying about its address would."""

    def add(request: Any, **_: Any) -> None:
        request.headers["X-Forwarded-For"] = SPOOFED_IP

    client.meta.events.register("before-send.sts.*", add)


def refused_source_ip(gw: LiveServer, endpoint: str, creds: Minted) -> str | None:
    """Make one refused call through `endpoint`; the source IP its audit event recorded."""
    client = sts(endpoint, creds, aws_secret_access_key="w" * 40)
    spoof_forwarded_for(client)
    with pytest.raises(ClientError) as caught:
        client.get_caller_identity()
    assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    rt: Runtime = gw.app.extensions["gateway"]
    events = audit.recent(rt.engine, audit.AuditFilter(event_type="credentials.refused"))
    return events[0].source_ip


def test_signed_host_and_prefixed_path_survive_a_trusted_proxy(trusting: LiveServer) -> None:
    proxy = ReverseProxy(trusting.url, prefix="/sso")
    try:
        creds = first_credentials(trusting.app)
        client = sts(f"{proxy.url}/sts", creds)
        spoof_forwarded_for(client)
        identity = client.get_caller_identity()
        assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT_A}:assumed-role/Base/alice"
        chained = client.assume_role(RoleArn=CHAINED_ROLE, RoleSessionName="via-proxy")
        assert chained["AssumedRoleUser"]["Arn"].endswith("/Chained/via-proxy")
        # A presigned GET through the proxy (query-string signature) verifies as well.
        url = client.generate_presigned_url("get_caller_identity", ExpiresIn=60,
                                            HttpMethod="GET")
        assert url.startswith(f"{proxy.url}/sts?")
        assert requests.get(url, timeout=10).status_code == 200
        # The gateway saw neither the prefix nor the public host itself.
        assert ("POST", "/sts") in proxy.forwarded
        # The proxy's X-Forwarded-For is believed, the client's own claim is not.
        assert refused_source_ip(trusting, f"{proxy.url}/sts", creds) == CLIENT_IP
    finally:
        proxy.stop()


def test_forwarded_headers_are_ignored_unless_proxies_are_trusted(
    distrusting: LiveServer,
) -> None:
    creds = first_credentials(distrusting.app)
    rewriting = ReverseProxy(distrusting.url, prefix="/sso")
    transparent = ReverseProxy(distrusting.url, rewrite_host=False)
    try:
        # The gateway does not rebuild the signed host and path from untrusted headers.
        with pytest.raises(ClientError) as caught:
            sts(f"{rewriting.url}/sts", creds).get_caller_identity()
        assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        # A proxy that keeps Host and path needs no trust for signatures to verify...
        assert sts(f"{transparent.url}/sts", creds).get_caller_identity()["Account"] == (
            ACCOUNT_A)
        # ...but its X-Forwarded-For is not believed: the address is the proxy's own.
        assert refused_source_ip(distrusting, f"{transparent.url}/sts", creds) == "127.0.0.1"
    finally:
        rewriting.stop()
        transparent.stop()


def test_tls_terminating_balancer_that_keeps_host_and_adds_its_port(
    trusting: LiveServer,
) -> None:
    """An AWS ALB-style hop: Host kept, X-Forwarded-Proto https and X-Forwarded-Port 443.

    Clients sign the host as they addressed it, without the default port; the gateway must
    not verify against `sso.example.com:443` just because the balancer named its port.
    """
    balancer = ReverseProxy(trusting.url, rewrite_host=False, proto="https", port="443")
    try:
        c = first_credentials(trusting.app).credentials
        signed = botocore_signed(c.access_key_id, c.secret_access_key, c.session_token,
                                 url="https://sso.example.com/sts", when=datetime.now(UTC))
        assert dict(signed.headers)["Host"] == "sso.example.com"
        target = urlsplit(balancer.url)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        conn.request("POST", signed.path, body=signed.body, headers=dict(signed.headers))
        answer = conn.getresponse()
        body = answer.read().decode()
        conn.close()
        assert answer.status == 200, body
        assert "assumed-role/Base/alice" in body
    finally:
        balancer.stop()
