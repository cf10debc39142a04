"""One call to an identity provider: a new connection each time (before) vs the pool.

Each outbound call runs in a thread of its own for its deadline (`outbound.within`), so
the per-thread session it used opened a new connection, and over HTTPS did a new TLS
handshake, for every JWKS refresh, token endpoint call, and on the token exchange path
every Facebook `debug_token` and Amazon profile lookup. Now every call of a process
shares one urllib3 pool (`gateway.sources.oidc.pool`). Both are measured here the way
the gateway makes the call, against a local provider stand-in in another process
(HTTP/1.1 keep-alive, a small JSON answer), over plain HTTP and over TLS (a self-signed
P-256 certificate the client is told to trust); wall time and this process's CPU per
call, medians of interleaved rounds.

    .venv/bin/python bench/bench_outbound.py [--runs 5] [--calls 200]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import multiprocessing
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Row, free_port, median, quick  # noqa: E402
from gateway.sources import outbound  # noqa: E402
from gateway.sources.oidc import pool  # noqa: E402

GOAL = 0.5  # pooled calls over TLS at most half the wall time of a new connection each
ANSWER = json.dumps({"keys": [{"kty": "RSA", "kid": "k1", "n": "x" * 342, "e": "AQAB"}]}).encode()


class _Provider(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body in one segment, as a provider's front end sends them: written
    # apart, Nagle's algorithm and the client's delayed ACK add ~40 ms to a kept
    # connection's every answer (a new connection's first ACKs are not delayed).
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)


def _serve(port: int, cert: str | None, key: str | None) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Provider)
    server.daemon_threads = True
    if cert and key:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


def _certificate(directory: Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _caller(url: str, verify: str | bool, pooled: bool) -> Callable[[], None]:
    """One call as `gateway.sources.oidc.http.call` makes it: in a thread of its own."""

    def fetch() -> None:
        session = requests.Session()
        if pooled:
            pool.pooled(session)
        else:
            session.trust_env = False
        response = session.get(url, timeout=5, stream=True, verify=verify)
        body = response.raw.read(decode_content=True)
        if pooled:
            pool.finish(response, complete=True)
        else:
            response.close()
        session.close()
        if len(body) != len(ANSWER):
            raise RuntimeError("short answer")

    return lambda: outbound.within(fetch, 5.0)


def _per_call(call: Callable[[], None], calls: int) -> tuple[float, float]:
    call()  # a first call outside the timing (imports, the pool's first connection)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        call()
    return ((time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls)


def collect(runs: int, calls: int) -> dict[str, Any]:
    results: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = _certificate(Path(tmp))
        servers = []
        urls = {}
        for scheme, files in (("http", (None, None)), ("https", (cert, key))):
            port = free_port()
            process = multiprocessing.get_context("spawn").Process(
                target=_serve, args=(port, *files), daemon=True)
            process.start()
            servers.append(process)
            urls[scheme] = f"{scheme}://127.0.0.1:{port}/keys"
        try:
            _wait(urls["http"])
            _wait(urls["https"], verify=cert)
            for _ in range(runs):  # interleaved, so a slower moment of the host hits all
                for scheme in ("http", "https"):
                    verify: str | bool = cert if scheme == "https" else True
                    for label, pooled in (("new connection", False), ("pool", True)):
                        figure = _per_call(_caller(urls[scheme], verify, pooled), calls)
                        results.setdefault(f"{scheme} {label}", []).append(figure)
        finally:
            for process in servers:
                process.terminate()
                process.join(5)
    return {
        "runs": runs,
        "calls": calls,
        "wall_ms": {k: median([w for w, _ in v]) * 1000 for k, v in results.items()},
        "cpu_ms": {k: median([c for _, c in v]) * 1000 for k, v in results.items()},
        "raw": {k: v for k, v in results.items()},
    }


def _wait(url: str, verify: str | bool = True) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(url, timeout=1, verify=verify)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def rows(data: dict[str, Any]) -> list[Row]:
    wall, cpu = data["wall_ms"], data["cpu_ms"]
    out = []
    for scheme, name in (("https", "over TLS"), ("http", "over plain HTTP")):
        new, kept = f"{scheme} new connection", f"{scheme} pool"
        ratio = wall[kept] / wall[new]
        out.append(Row(
            path=f"Outbound call to an identity provider {name} (in process, local provider)",
            figure=f"{wall[kept]:.2f} ms a call, {cpu[kept]:.2f} ms of CPU (shared pool)",
            baseline=f"a new connection each call: {wall[new]:.2f} ms, {cpu[new]:.2f} ms of CPU",
            ratio=ratio,
            goal=f"<= {GOAL}x a new connection" if scheme == "https" else "information",
            passed=ratio <= GOAL if scheme == "https" else True,
            raw={"wall_ms": {k: wall[k] for k in (new, kept)},
                 "cpu_ms": {k: cpu[k] for k in (new, kept)}},
        ))
    return out


def measure(runs: int) -> list[Row]:
    data = collect(runs, calls=50 if quick() else 200)
    _save(data)
    return rows(data)


def _save(data: dict[str, Any]) -> None:
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "outbound.json").write_text(json.dumps(data, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    data = collect(args.runs, args.calls)
    _save(data)
    print(f"{'call':28s} {'wall ms':>8s} {'cpu ms':>8s}")
    for name in data["wall_ms"]:
        print(f"{name:28s} {data['wall_ms'][name]:8.2f} {data['cpu_ms'][name]:8.2f}")
    for row in rows(data):
        print(f"{'PASS' if row.passed else 'FAIL'}  {row.path}: {row.figure}; {row.baseline}; "
              f"{row.ratio:.2f}x; goal {row.goal}")
    print("raw numbers: bench/results/outbound.json")


if __name__ == "__main__":
    main()
