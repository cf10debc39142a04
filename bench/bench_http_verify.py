"""Verification over HTTP: GetCallerIdentity and /api/v1/authorize vs a bare Flask endpoint.

    .venv/bin/python bench/bench_http_verify.py [--rounds 9] [--seconds 2] [--connections 8]

Both servers are gunicorn with the gateway's own configuration (`gateway.server`, 2
workers), started here as subprocesses on loopback ports: the gateway with `gateway
serve` (`bench.common.serve_gateway`: a fresh SQLite database and a redis-server of its
own), the baseline as a bare Flask app with the same two routes answering a fixed body,
sent the very same requests by the same load generator (as the token-exchange benchmark
does): what the goal compares is the gateway's work, not a smaller request. The load generator
is wrk (`apt-get install wrk`), one thread, replaying one signed request per case (a
SigV4 signature stays valid for 15 minutes, and nothing here refuses replays); without
wrk a threaded Python client stands in (it saturates before the servers do, so ratios
then understate the gap). The signed-call rate limits count every request as in
production but are raised so that one client address replaying one key is never
refused. Cases are interleaved over several rounds; medians and ratios to the bare
endpoint are printed, raw numbers go to bench/results/http_verify.json.
`measure(runs)` gives `bench/run` the rows "GetCallerIdentity over HTTP" and
"/api/v1/authorize over HTTP", goal >= 0.6x the bare endpoint's requests per second.
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

from flask import Flask, Response, request

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    Row,
    free_port,
    quick,
    serve_bare,
    serve_gateway,
    wait_for,
)

GOAL_RATIO = 0.6
WORKERS = 2
# One address and one access key replay every request: the signed-call limits must count
# them (that is part of the path) without ever refusing them.
SETTINGS = {"workers": str(WORKERS), "rate_limit_sts_address": "100000000/minute",
            "rate_limit_sts_subject": "100000000/minute",
            "rate_limit_authorize_address": "100000000/minute",
            "rate_limit_authorize_subject": "100000000/minute"}
GCI = "GetCallerIdentity (POST /sts)"
AUTHORIZE = "POST /api/v1/authorize (allow)"
BARE = "bare Flask, same request: "  # + the case's name

bare_app = Flask("bare")
# Answers of the gateway's size and type; the body is read, as the gateway reads it.
_BARE_XML = (
    '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    "<GetCallerIdentityResult><Arn>arn:aws:sts::111111111111:assumed-role/reader/bench"
    "</Arn><UserId>AROAEXAMPLEEXAMPLE:bench</UserId><Account>111111111111</Account>"
    "</GetCallerIdentityResult><ResponseMetadata><RequestId>"
    "00000000000000000000000000000000</RequestId></ResponseMetadata>"
    "</GetCallerIdentityResponse>")
_BARE_JSON = ('{"decision": "allow", "principal": {"arn": "arn:aws:sts::111111111111:'
              'assumed-role/reader/bench", "account": "111111111111"}, "explanation": '
              '{"reason": "allowed"}}')


@bare_app.post("/sts")
def bare_sts() -> Response:
    request.get_data()
    return Response(_BARE_XML, mimetype="text/xml")


@bare_app.post("/api/v1/authorize")
def bare_authorize() -> Response:
    request.get_data()
    return Response(_BARE_JSON, mimetype="application/json")


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
        {"name": GCI, "method": "POST", "path": "/sts",
         "headers": [("Host", host), *prepared.headers.items()], "body": gci_body},
        {"name": AUTHORIZE, "method": "POST",
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


def collect(rounds: int, seconds: float, connections: int) -> dict[str, Any]:
    """Every case `rounds` times, interleaved; requests per second and ratios to bare."""
    from bench.bench_authorize import CONFIG
    from gateway import create_app
    from gateway.settings import Settings

    generator = run_wrk if shutil.which("wrk") else run_python
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        served = serve_gateway(workdir, CONFIG, **SETTINGS)
        bare_port = free_port()
        bare_server = subprocess.Popen(
            [sys.executable, __file__, "--serve-bare", str(bare_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # The same database and master key as the server: credentials minted here verify
            # there.
            app = create_app(Settings.from_env(served.env))
            cases = signed_cases(app, served.port)
            wait_for(bare_port, "/sts", method="POST")
            for case in cases:
                check_once(served.port, case)
                check_once(bare_port, case)
            # Each case, then the bare app sent the same bytes: its baseline of the round.
            plan = [pair for case in cases for pair in (
                (case, served.port), ({**case, "name": BARE + case["name"]}, bare_port))]
            for case, port in plan:  # warm: imports, caches, connections
                generator(port, case, 1, connections, workdir)
            workers = {case["name"]: _children(
                bare_server.pid if port == bare_port else served.server.pid)
                for case, port in plan}
            load_before = os.getloadavg()[0]
            results: dict[str, list[float]] = {case["name"]: [] for case, _ in plan}
            cpu_us: dict[str, list[float]] = {case["name"]: [] for case, _ in plan}
            for _ in range(rounds):
                for case, port in plan:
                    name = case["name"]
                    before = sum(_cpu_seconds(pid) for pid in workers[name])
                    rate = generator(port, case, seconds, connections, workdir)
                    spent = sum(_cpu_seconds(pid) for pid in workers[name]) - before
                    results[name].append(rate)
                    cpu_us[name].append(1e6 * spent / max(1.0, rate * seconds))
        finally:
            bare_server.terminate()
            bare_server.wait(20)
            served.stop()
    medians = {name: statistics.median(values) for name, values in results.items()}
    # Each round's ratio against the bare app's figure for the same request in the same
    # round, then their median.
    ratios = {name: statistics.median(
        v / b for v, b in zip(values, results[BARE + name], strict=True))
        for name, values in results.items() if not name.startswith(BARE)}
    return {
        "load_average_1m_before_after": [load_before, os.getloadavg()[0]],
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "workers": WORKERS,
        "load_generator": "wrk -t1" if generator is run_wrk else "python-threads",
        "connections": connections,
        "rounds": rounds,
        "seconds": seconds,
        "goal_ratio": GOAL_RATIO,
        "requests_per_second": results,
        "median_requests_per_second": medians,
        "median_ratio_to_bare_per_round": ratios,
        # Information: the servers' own CPU per request (workers, from /proc), steadier
        # than throughput when other processes share the cores.
        "worker_cpu_us_per_request": cpu_us,
        "median_worker_cpu_us_per_request": {k: statistics.median(v) for k, v in cpu_us.items()},
    }


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """The gunicorn workers of a master process."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def save(data: dict[str, Any]) -> None:
    out = ROOT / "bench" / "results" / "http_verify.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")


def rows(data: dict[str, Any]) -> list[Row]:
    medians = data["median_requests_per_second"]
    ratios = data["median_ratio_to_bare_per_round"]
    cpu = data["median_worker_cpu_us_per_request"]
    out = []
    for path, name in (("GetCallerIdentity over HTTP", GCI),
                       ("/api/v1/authorize over HTTP", AUTHORIZE)):
        bare = BARE + name
        out.append(Row(
            path=path,
            figure=f"{medians[name]:,.0f} req/s (median of {data['rounds']} rounds, "
                   f"{data['load_generator']}, {data['connections']} connections; "
                   f"{cpu[name]:.0f} µs of worker CPU each)",
            baseline=f"bare Flask, same requests: {medians[bare]:,.0f} req/s "
                     f"({cpu[bare]:.0f} µs of worker CPU each)",
            ratio=ratios[name],
            goal=f">= {GOAL_RATIO}x bare Flask",
            passed=ratios[name] >= GOAL_RATIO,
            raw=data if name == GCI else {"see": "the GetCallerIdentity row's raw numbers"},
        ))
    return out


def measure(runs: int) -> list[Row]:
    """`bench/run`'s rows: both verifying endpoints against bare Flask."""
    # Short windows, many of them, each case beside the bare one: a slow spell on this
    # shared machine then spoils a few ratios instead of a whole case's figure.
    data = collect(runs if quick() else 3 * runs, 1.0 if quick() else 2.0, 8)
    save(data)
    return rows(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(bare_app, args.serve_bare, WORKERS)
        return
    data = collect(args.rounds, args.seconds, args.connections)
    save(data)
    load = data["load_average_1m_before_after"]
    print(f"python {data['python']}, gunicorn x{WORKERS} workers per server, load: "
          f"{data['load_generator']} {args.connections} connections, {args.rounds} rounds x "
          f"{args.seconds}s, medians, {data['cores']} cores shared by servers and load "
          f"generator; load average {load[0]:.1f} before, {load[1]:.1f} after")
    print(f"{'endpoint':60} {'req/s':>9} {'x bare':>8} {'worker CPU µs/req':>18}")
    for name, value in data["median_requests_per_second"].items():
        ratio = data["median_ratio_to_bare_per_round"].get(name)
        print(f"{name:60} {value:9.0f} {'' if ratio is None else f'{ratio:.2f}':>8} "
              f"{data['median_worker_cpu_us_per_request'][name]:18.0f}")
    for row in rows(data):
        print(f"{'PASS' if row.passed else 'FAIL'}  {row.path}: {row.figure}; {row.baseline}; "
              f"{row.ratio:.2f}x; goal {row.goal}")
    print("raw results: bench/results/http_verify.json")


if __name__ == "__main__":
    main()
