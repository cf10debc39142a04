"""Token exchanges over HTTP: AssumeRoleWithWebIdentity on `/sts` and the RFC 8693 token
exchange on `/api/v1/token`, each against a bare Flask endpoint and moto_server, measured
in one run.

    .venv/bin/python bench/bench_token_exchange.py [--runs 3] [--seconds 6] [--connections 16]
    .venv/bin/python bench/bench_token_exchange.py --hold   # start everything, print, wait

The gateway runs as `gateway serve` (GATEWAY_WORKERS=2) against a fresh SQLite database
(`--database postgresql+psycopg://...` for PostgreSQL) and a redis-server of its own,
trusting one proxy hop so the load generator can spread requests over many client
addresses (as real mobile clients are). Each request carries one of many pre-minted
RS256 ID tokens with distinct subjects, signed by the OpenID provider emulator's key.
Every request is fully processed: JWT header/claims checks, RS256 signature against the
cached JWKS, both rate limits (Redis; limits raised so none refuses), trust policy (the
token exchange picks its role through a mapping rule), minting, and the durable audit
record. The baseline is a Flask app whose endpoints return a fixed body, served by the
same server configuration (`bench.common.serve_bare`); moto's `moto_server` answers
AssumeRoleWithWebIdentity as shipped (it validates nothing, and has no RFC 8693
endpoint, so its ARWWI is the baseline of both). The load generator is wrk pinned to
the last CPU, replaying requests round robin from a Lua script; every target gets the
same generator, so its CPU use weighs on all alike. Then each gateway endpoint runs at
80 % of its measured maximum with a paced wrk script and its p99 is read from wrk.
Medians of `--runs` rounds; raw numbers to bench/results/token_exchange.json.
Goals: gateway >= 0.55x bare, >= 8x moto_server; p99 < 25 ms at 80 % load.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from flask import Flask, Response

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Row, free_port, median, quick, serve_bare, wait_for  # noqa: E402

WORKERS = 2
GOALS = {"vs_bare": 0.55, "vs_moto": 8.0, "p99_ms_at_80pct": 25.0}
ACCOUNT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/MobileApp"
SUBJECTS = 5000
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
PATHS = {"sts": "AssumeRoleWithWebIdentity (RS256 ID token) over HTTP",
         "token": "RFC 8693 token exchange (RS256 ID token) over HTTP"}

bare_app = Flask("bare")
_BARE_XML = ("<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult/>"
             "</AssumeRoleWithWebIdentityResponse>")
_BARE_JSON = '{"access_token":"x","issued_token_type":"x","token_type":"N_A"}'


@bare_app.post("/sts")
def bare_sts() -> Response:
    return Response(_BARE_XML, mimetype="text/xml")


@bare_app.post("/api/v1/token")
def bare_token() -> Response:
    return Response(_BARE_JSON, mimetype="application/json")


def config(issuer: str, client_id: str) -> str:
    host_path = issuer.removeprefix("http://").rstrip("/")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/"
                                                      f"{host_path}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{host_path}:aud": client_id}}}]}
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    return yaml.safe_dump({
        "accounts": [{"id": ACCOUNT, "roles": [{"name": "MobileApp", "trust_policy": trust,
                                               "policies": {"Read": policy}}]}],
        "identity_providers": [{
            "name": "app-idp", "kind": "oidc", "account": ACCOUNT, "issuer": issuer,
            "client_ids": [client_id],
            "mapping_rules": [{"when": [{"claim": "email", "operator": "matches",
                                         "value": "*@example.com"}], "role": ROLE}],
        }],
    })


LUA = """
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local conns = tonumber(os.getenv("BENCH_CONNECTIONS") or "1")
local n = math.random(#bodies)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
request = function()
  n = n % #bodies + 1
  wrk.headers["X-Forwarded-For"] = "10." .. (n % 250) .. "." .. (n % 199) .. "." .. (n % 97)
  return wrk.format(nil, nil, nil, bodies[n])
end
if rate > 0 then
  delay = function() return math.floor(conns * 1000 / rate) end
end
"""


def wrk_cpu() -> int:
    return max(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0


def run_wrk(url: str, seconds: float, connections: int, workdir: Path, bodies: Path,
            rate: float = 0.0) -> dict[str, float]:
    script = workdir / "bench.lua"
    script.write_text(LUA)
    env = {**os.environ, "BENCH_BODIES": str(bodies), "BENCH_RATE": str(rate),
           "BENCH_CONNECTIONS": str(connections)}
    # A slow answer is a latency (in the p99), not a socket error: wrk's default 2 s
    # timeout would drop exactly the requests the p99 is about.
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
               "--timeout", "10s", "-s", str(script), url]
    if shutil.which("taskset"):
        command = ["taskset", "-c", str(wrk_cpu()), *command]
    out = subprocess.run(command, capture_output=True, text=True, env=env,
                         timeout=seconds + 60, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"failed or refused answers under load at {url}:\n{out}")
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    p99 = re.search(r"99%\s+([0-9.]+)(us|ms|s)\b", out)
    if rps is None or p99 is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return {"rps": float(rps.group(1)), "p99_ms": float(p99.group(1)) * scale}


def check_once(port: int, body: str, expect: str, path: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", path, body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": "10.9.9.9"})
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    if resp.status != 200 or expect not in text:
        raise RuntimeError(f"port {port} {path} answered {resp.status}: {text[:400]}")


@dataclass
class Stack:
    """Every server of one measurement, with request bodies for each endpoint."""

    workdir: Path
    urls: dict[str, str] = field(default_factory=dict)  # target name -> URL
    bodies: dict[str, Path] = field(default_factory=dict)  # target name -> bodies file
    pids: dict[str, int] = field(default_factory=dict)


@contextmanager
def stack(database_url: str | None = None, threads: int | None = None) -> Iterator[Stack]:
    """Start the emulators, Redis, the gateway, the bare app and moto; stop them after."""
    from gateway import create_app
    from gateway.devtools.emulators import OIDC_CLIENT, start_all
    from gateway.devtools.emulators.common import DEMO_USERS
    from gateway.settings import Settings
    from gateway.state.embedded import redis_server_binary
    from gateway.store.config_io import import_config

    emulators = start_all("127.0.0.1")
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        try:
            redis_port, gw_port, bare_port, moto_port = (free_port() for _ in range(4))
            processes.append(subprocess.Popen(
                [redis_server_binary(), "--port", str(redis_port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL))
            env = {
                "GATEWAY_VAR_DIR": str(workdir / "var"),
                "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                "GATEWAY_MASTER_KEY": "33" * 32, "GATEWAY_BIND": f"127.0.0.1:{gw_port}",
                "GATEWAY_WORKERS": str(WORKERS), "GATEWAY_LOG_LEVEL": "WARNING",
                "GATEWAY_TRUSTED_PROXIES": "1",
                # Counted on every request as in production, but high enough that the
                # load generator's few thousand subjects are never refused.
                "GATEWAY_RATE_LIMIT_ADDRESS": "100000000/minute",
                "GATEWAY_RATE_LIMIT_SUBJECT": "100000000/minute",
            }
            if database_url:
                env["GATEWAY_DATABASE_URL"] = database_url
            if threads:
                env["GATEWAY_THREADS"] = str(threads)  # the bare server gets it too
            time.sleep(0.3)
            if database_url and not database_url.startswith("sqlite"):
                subprocess.run([str(Path(sys.executable).with_name("gateway")), "db", "upgrade"],
                               env={**os.environ, **env}, check=True,
                               stdout=subprocess.DEVNULL)
            app = create_app(Settings.from_env(env))
            import_config(app.extensions["gateway"].engine,
                          config(emulators.oidc.issuer, OIDC_CLIENT[0]), actor="bench")
            app.extensions["gateway"].config.bump()
            alice = DEMO_USERS[0]
            sts_lines, token_lines = [], []
            for i in range(SUBJECTS):
                token = emulators.oidc.id_token(alice, OIDC_CLIENT[0], sub=f"user-{i:05d}")
                sts_lines.append("Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
                                 f"&RoleArn={quote(ROLE, safe='')}&RoleSessionName=bench-{i}"
                                 f"&WebIdentityToken={token}&DurationSeconds=3600")
                token_lines.append(f"grant_type={quote(GRANT, safe='')}&subject_token={token}"
                                   f"&subject_token_type={quote(ID_TOKEN_TYPE, safe='')}")
            result = Stack(workdir)
            for name, lines in (("sts", sts_lines), ("token", token_lines)):
                path = workdir / f"{name}.txt"
                path.write_text("\n".join(lines) + "\n")
                result.bodies[name] = path
            gateway_bin = Path(sys.executable).with_name("gateway")
            moto = Path(sys.executable).with_name("moto_server")
            for name, command in (
                ("gateway", [str(gateway_bin), "serve"]),
                ("bare", [sys.executable, __file__, "--serve-bare", str(bare_port)]),
                ("moto", [str(moto), "-H", "127.0.0.1", "-p", str(moto_port)]),
            ):
                process = subprocess.Popen(command, env={**os.environ, **env},
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                processes.append(process)
                result.pids[name] = process.pid
            wait_for(gw_port, "/healthz")
            wait_for(bare_port, "/")
            wait_for(moto_port, "/")
            check_once(gw_port, sts_lines[0], "<SubjectFromWebIdentityToken>user-00000<", "/sts")
            check_once(gw_port, token_lines[0], '"subject":"user-00000"', "/api/v1/token")
            check_once(bare_port, sts_lines[0], "AssumeRoleWithWebIdentityResult", "/sts")
            check_once(bare_port, token_lines[0], "access_token", "/api/v1/token")
            check_once(moto_port, sts_lines[0], "<AccessKeyId>", "/")
            result.urls = {
                "gateway_sts": f"http://127.0.0.1:{gw_port}/sts",
                "gateway_token": f"http://127.0.0.1:{gw_port}/api/v1/token",
                "bare_sts": f"http://127.0.0.1:{bare_port}/sts",
                "bare_token": f"http://127.0.0.1:{bare_port}/api/v1/token",
                "moto_sts": f"http://127.0.0.1:{moto_port}/",
            }
            yield result
        finally:
            for process in reversed(processes):
                process.terminate()
            for process in processes:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
            emulators.stop()


def _calibrate(s: Stack, kind: str, target: float, connections: int) -> float:
    """The wrk rate that achieves `target` req/s: its per-connection pause does not count
    the answer's own time, so asking for the target gets less; adjust on short runs."""
    command = target
    for _ in range(4):
        achieved = run_wrk(s.urls[f"gateway_{kind}"], 2, connections, s.workdir, s.bodies[kind],
                           rate=command)["rps"]
        if abs(achieved - target) <= 0.05 * target:
            break
        command = min(command * target / max(achieved, 1.0), 4 * target)
    return command


def _bodies_for(target: str, s: Stack) -> Path:
    return s.bodies["token" if target.endswith("_token") else "sts"]


def collect(runs: int, seconds: float = 6.0, connections: int = 16,
            database_url: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """Every raw number: `runs` interleaved rounds over all targets, then the paced runs."""
    with stack(database_url, threads) as s:
        raw: dict[str, list[dict[str, float]]] = {name: [] for name in s.urls}
        for _ in range(runs):
            for name, url in s.urls.items():
                raw[name].append(run_wrk(url, seconds, connections, s.workdir,
                                         _bodies_for(name, s)))
        rps = {name: median([r["rps"] for r in rs]) for name, rs in raw.items()}
        p99 = {name: median([r["p99_ms"] for r in rs]) for name, rs in raw.items()}
        paced: dict[str, dict[str, Any]] = {}
        for kind in ("sts", "token"):
            name = f"gateway_{kind}"
            target = 0.8 * rps[name]
            command = _calibrate(s, kind, target, connections)
            results = [run_wrk(s.urls[name], seconds, connections, s.workdir, s.bodies[kind],
                               rate=command) for _ in range(max(1, runs))]
            paced[kind] = {"target_rps": target, "wrk_rate": command,
                           "rps": median([r["rps"] for r in results]),
                           "p99_ms": median([r["p99_ms"] for r in results]),
                           "p99_runs": [r["p99_ms"] for r in results]}
    return {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "settings": {"runs": runs, "seconds": seconds, "connections": connections,
                     "workers": WORKERS, "distinct_subjects": SUBJECTS,
                     "database": database_url or "sqlite", "threads": threads or "default"},
        "runs": raw, "median_rps": rps, "median_p99_ms": p99, "paced_80pct": paced,
    }


def rows(data: dict[str, Any]) -> list[Row]:
    rps, paced = data["median_rps"], data["paced_80pct"]
    out: list[Row] = []
    for kind in ("sts", "token"):
        gw, bare, moto = rps[f"gateway_{kind}"], rps[f"bare_{kind}"], rps["moto_sts"]
        figure = f"{gw:,.0f} req/s (median of {data['settings']['runs']})"
        raw = {"gateway_rps": gw, "bare_rps": bare, "moto_rps": moto,
               "runs": {k: v for k, v in data["runs"].items() if k.endswith(kind) or
                        k == "moto_sts"}, "settings": data["settings"]}
        vs_bare, vs_moto = gw / bare, gw / moto
        out.append(Row(f"{PATHS[kind]}, vs bare Flask", figure, f"bare Flask {bare:,.0f} req/s",
                       vs_bare, f">= {GOALS['vs_bare']}x bare Flask",
                       vs_bare >= GOALS["vs_bare"], raw))
        out.append(Row(f"{PATHS[kind]}, vs moto_server", figure,
                       f"moto_server ARWWI {moto:,.0f} req/s", vs_moto,
                       f">= {GOALS['vs_moto']:g}x moto_server", vs_moto >= GOALS["vs_moto"], raw))
        p = paced[kind]
        out.append(Row(f"{PATHS[kind]}, p99 at 80 % load",
                       f"p99 {p['p99_ms']:.1f} ms at {p['rps']:,.0f} req/s",
                       f"80 % of {gw:,.0f} req/s = {p['target_rps']:,.0f} req/s", None,
                       f"p99 < {GOALS['p99_ms_at_80pct']:g} ms",
                       p["p99_ms"] < GOALS["p99_ms_at_80pct"], {**p, "max_rps": gw}))
    return out


def _serve_bare_threads(port: int, threads: str) -> None:
    """`serve_bare` with the gateway's GATEWAY_THREADS too (for `--threads` runs)."""
    from gateway.server import GatewayServer
    from gateway.settings import Settings

    class BareServer(GatewayServer):
        def load(self) -> Any:
            return bare_app

    BareServer(Settings.from_env({"GATEWAY_BIND": f"127.0.0.1:{port}",
                                  "GATEWAY_WORKERS": str(WORKERS),
                                  "GATEWAY_THREADS": threads})).run()


def _require_tools() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    if not Path(sys.executable).with_name("moto_server").exists():
        sys.exit("moto_server is needed: .venv/bin/pip install 'moto[server]'")


def measure(runs: int) -> list[Row]:
    """bench/run's entry point: the six rows, from `runs` rounds of every target."""
    _require_tools()
    data = collect(runs, seconds=2.0 if quick() else 5.0)
    _save(data)
    return rows(data)


def _save(data: dict[str, Any]) -> None:
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "token_exchange.json").write_text(json.dumps(
        {"benchmark": "token exchanges over HTTP", **data, "goals": GOALS}, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database", help="SQLAlchemy URL (default: a fresh SQLite file)")
    parser.add_argument("--threads", type=int, help="GATEWAY_THREADS for both servers")
    parser.add_argument("--hold", action="store_true",
                        help="start everything, print URLs, PIDs and bodies, wait for Ctrl-C")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        if os.environ.get("GATEWAY_THREADS"):
            _serve_bare_threads(args.serve_bare, os.environ["GATEWAY_THREADS"])
        else:
            serve_bare(bare_app, args.serve_bare, WORKERS)
        return
    _require_tools()
    if args.hold:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the servers on TERM too
        with stack(args.database, args.threads) as s:
            print(json.dumps({"urls": s.urls, "pids": s.pids,
                              "bodies": {k: str(v) for k, v in s.bodies.items()}}), flush=True)
            try:
                while True:
                    time.sleep(3600)
            except (KeyboardInterrupt, SystemExit):
                return
    data = collect(args.runs, args.seconds, args.connections, args.database, args.threads)
    _save(data)
    s = data["settings"]
    print(f"wrk -t1 -c{s['connections']} {s['seconds']:g}s x {s['runs']} runs (medians), "
          f"{WORKERS} workers, {os.cpu_count()} CPUs, database {s['database']}")
    print(f"{'target':<16}{'req/s':>10}{'p99 ms':>10}")
    for name, value in data["median_rps"].items():
        print(f"{name:<16}{value:>10.0f}{data['median_p99_ms'][name]:>10.2f}")
    for row in rows(data):
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        print(f"{'PASS' if row.passed else 'FAIL'}  {row.path}: {row.figure}; "
              f"{row.baseline}; {ratio}; goal {row.goal}")


if __name__ == "__main__":
    main()
