"""Verification over HTTP: GetCallerIdentity and /api/v1/authorize vs a bare Flask endpoint.

    .venv/bin/python bench/bench_http_verify.py [--rounds 3] [--seconds 5] [--connections 8]

Both servers are gunicorn with the gateway's own configuration (`gateway.server`: sync
workers, 2 of them, same keep-alive), started here as subprocesses on loopback ports:
the gateway with `gateway serve` against a fresh SQLite database and a redis-server of
its own, the baseline as a Flask app whose one endpoint answers "ok". The load generator
is wrk (Debian's `wrk` package) replaying one signed request per case (a SigV4
signature stays valid for 15 minutes, and nothing here refuses replays); without wrk a
threaded Python client stands in (it saturates before the servers do, so ratios then
understate the gap). Cases are interleaved over several rounds; medians and ratios to
the bare endpoint are printed, raw numbers go to bench/results/http_verify.json.
Goal: each verifying endpoint >= 0.6x the bare endpoint's requests per second.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, serve_bare, wait_for  # noqa: E402

GOAL_RATIO = 0.6
WORKERS = 2

bare_app = Flask("bare")


@bare_app.get("/ping")
def ping() -> str:
    return "ok"


# --- load generation -----------------------------------------------------------------


def lua_script(method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> str:
    lines = [f"wrk.method = {json.dumps(method)}", f"wrk.path = {json.dumps(path)}",
             f"wrk.body = {json.dumps(body.decode())}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers
              if k.lower() != "content-length"]
    return "\n".join(lines) + "\n"


def run_wrk(port: int, case: dict[str, Any], seconds: float, connections: int,
            workdir: Path) -> float:
    script = workdir / "case.lua"
    script.write_text(lua_script(case["method"], case["path"], case["headers"], case["body"]))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(script),
         f"http://127.0.0.1:{port}{case['path']}"],
        capture_output=True, text=True, timeout=seconds + 30, check=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"{case['name']}: non-2xx answers under load:\n{out}")
    found = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if found is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(found.group(1))


def run_python(port: int, case: dict[str, Any], seconds: float, connections: int,
               workdir: Path) -> float:
    done = [0] * connections
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        while time.monotonic() < stop:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request(case["method"], case["path"], body=case["body"] or None,
                         headers=dict(case["headers"]))
            resp = conn.getresponse()
            resp.read()
            conn.close()
            if resp.status != 200:
                raise RuntimeError(f"{case['name']}: {resp.status}")
            done[i] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - started)


# --- the cases -----------------------------------------------------------------------


def signed_cases(app: Any, port: int) -> list[dict[str, Any]]:
    """A signed GetCallerIdentity and an /api/v1/authorize question, signed now."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    from bench.bench_authorize import BUCKET_POLICY, OBJECT, ROLE, URL, claims
    from gateway.sts.credentials import mint

    loaded = app.extensions["gateway"].config.current()
    now = int(time.time())
    # `claims` dates the session for the other benchmark's fixed clock; re-date it for now.
    session = dataclasses.replace(
        claims(loaded.snapshot.roles_by_arn[ROLE].role_id, 0), issued_at=now - 60,
        expires_at=now + 3600)
    creds = mint(loaded.keyring, session)
    boto = BotoCredentials(creds.access_key_id, creds.secret_access_key, creds.session_token)

    host = f"127.0.0.1:{port}"
    gci = AWSRequest(method="POST", url=f"http://{host}/sts",
                     data={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(boto, "sts", "us-east-1").add_auth(gci)
    prepared = gci.prepare()
    gci_body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body

    s3 = AWSRequest(method="GET", url=URL)
    S3SigV4Auth(boto, "s3", "us-east-1").add_auth(s3)
    s3p = s3.prepare()
    question = {
        "method": "GET", "path": s3p.url.split("objects.example.com", 1)[1], "query": "",
        "headers": [["Host", "objects.example.com"], *map(list, s3p.headers.items())],
        "service": "s3", "action": "s3:GetObject", "resource": OBJECT,
        "resource_account": "222222222222", "resource_policy": BUCKET_POLICY,
        "context": {"aws:SecureTransport": True, "aws:SourceIp": "203.0.113.7"},
    }
    return [
        {"name": "GetCallerIdentity (POST /sts)", "method": "POST", "path": "/sts",
         "headers": [("Host", host), *prepared.headers.items()], "body": gci_body},
        {"name": "POST /api/v1/authorize (allow)", "method": "POST",
         "path": "/api/v1/authorize", "headers": [("Host", host),
                                                  ("Content-Type", "application/json")],
         "body": json.dumps(question).encode()},
    ]


def check_once(port: int, case: dict[str, Any]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(case["method"], case["path"], body=case["body"] or None,
                 headers=dict(case["headers"]))
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    if resp.status != 200 or ('"decision"' in text and '"allow"' not in text):
        raise RuntimeError(f"{case['name']} answered {resp.status}: {text[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(bare_app, args.serve_bare, WORKERS)
        return

    from bench.bench_authorize import CONFIG
    from gateway import create_app
    from gateway.settings import Settings
    from gateway.state.embedded import redis_server_binary
    from gateway.store.config_io import import_config

    generator = run_wrk if shutil.which("wrk") else run_python
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        try:
            redis_port, gw_port, bare_port = free_port(), free_port(), free_port()
            processes.append(subprocess.Popen(
                [redis_server_binary(), "--port", str(redis_port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", tmp],
                stdout=subprocess.DEVNULL))
            env = {
                "GATEWAY_VAR_DIR": str(workdir / "var"),
                "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                "GATEWAY_MASTER_KEY": "22" * 32,
                "GATEWAY_BIND": f"127.0.0.1:{gw_port}",
                "GATEWAY_WORKERS": str(WORKERS),
                "GATEWAY_LOG_LEVEL": "WARNING",
            }
            time.sleep(0.3)
            app = create_app(Settings.from_env(env))
            import_config(app.extensions["gateway"].engine, CONFIG, actor="bench")
            app.extensions["gateway"].config.bump()
            cases = signed_cases(app, gw_port)
            gateway_bin = Path(sys.executable).with_name("gateway")
            processes.append(subprocess.Popen(
                [str(gateway_bin), "serve"], env={**os.environ, **env},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            processes.append(subprocess.Popen(
                [sys.executable, __file__, "--serve-bare", str(bare_port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for(gw_port, "/healthz")
            wait_for(bare_port, "/ping")
            for case in cases:
                check_once(gw_port, case)
            bare = {"name": "bare Flask endpoint (GET /ping)", "method": "GET",
                    "path": "/ping", "headers": [("Host", f"127.0.0.1:{bare_port}")],
                    "body": b""}
            load_before = os.getloadavg()[0]
            plan = [(bare, bare_port)] + [(case, gw_port) for case in cases]
            results: dict[str, list[float]] = {case["name"]: [] for case, _ in plan}
            for _ in range(args.rounds):
                for case, port in plan:
                    results[case["name"]].append(
                        generator(port, case, args.seconds, args.connections, workdir))
        finally:
            for proc in reversed(processes):
                proc.terminate()
            for proc in processes:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()

    medians = {name: statistics.median(values) for name, values in results.items()}
    base = medians[bare["name"]]
    print(f"python {platform.python_version()}, gunicorn sync x{WORKERS} workers per server, "
          f"load: {'wrk' if generator is run_wrk else 'python threads'} "
          f"{args.connections} connections, {args.rounds} rounds x {args.seconds}s, medians, "
          f"{os.cpu_count()} cores shared by servers and load generator; load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other work skews ratios)")
    print(f"{'endpoint':42} {'req/s':>9} {'x bare':>8}")
    for name, value in medians.items():
        print(f"{name:42} {value:9.0f} {value / base:8.2f}")
    for name, value in medians.items():
        if name != bare["name"]:
            verdict = "meets" if value / base >= GOAL_RATIO else "MISSES"
            print(f"{name}: {value / base:.2f}x {verdict} the goal of {GOAL_RATIO}x")

    out = ROOT / "bench" / "results" / "http_verify.json"
    out.write_text(json.dumps({
        "load_average_1m_before_after": [load_before, os.getloadavg()[0]],
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "workers": WORKERS,
        "load_generator": "wrk" if generator is run_wrk else "python-threads",
        "connections": args.connections,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "goal_ratio": GOAL_RATIO,
        "requests_per_second": results,
        "median_requests_per_second": medians,
        "ratio_to_bare": {name: value / base for name, value in medians.items()},
    }, indent=2) + "\n")
    print(f"raw results: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
