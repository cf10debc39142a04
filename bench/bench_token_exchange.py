"""AssumeRoleWithWebIdentity with an RS256 ID token: the gateway vs a bare Flask endpoint
vs moto_server, all measured in one run.

    .venv/bin/python bench/bench_token_exchange.py [--rounds 3] [--seconds 8] [--connections 16]

The gateway runs as `gateway serve` (gunicorn, GATEWAY_WORKERS=2 sync workers) against
a fresh SQLite database and a redis-server of its own, trusting one proxy hop so the
load generator can spread requests over many client addresses (as real mobile clients
are); each request carries one of many pre-minted ID tokens with distinct subjects,
signed by the OpenID provider emulator's RSA key. Every request is fully processed:
JWT header/claims checks, RS256 signature against the cached JWKS, both rate limits
(Redis), trust policy, minting, and the audit record. The baseline is a Flask app whose
POST /sts returns a fixed XML body, served by the same gunicorn configuration; moto's
`moto_server` answers AssumeRoleWithWebIdentity (it validates nothing). The load
generator is wrk (Debian's package) pinned to CPU 1, replaying the requests round
robin from a Lua script. Then the gateway is run at 80 % of its measured maximum with
a paced wrk script and its p99 latency is read from wrk's latency distribution.
Raw numbers go to bench/results/token_exchange.json.
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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import yaml
from flask import Flask, Response

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, serve_bare, wait_for  # noqa: E402

WORKERS = 2
GOALS = {"vs_bare": 0.55, "vs_moto": 8.0, "p99_ms_at_80pct": 25.0}
ACCOUNT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/MobileApp"
SUBJECTS = 3000

bare_app = Flask("bare")
_BARE_XML = ("<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult/>"
             "</AssumeRoleWithWebIdentityResponse>")


@bare_app.post("/sts")
def bare_sts() -> Response:
    return Response(_BARE_XML, mimetype="text/xml")


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
        "identity_providers": [{"name": "app-idp", "kind": "oidc", "account": ACCOUNT,
                                "issuer": issuer, "client_ids": [client_id]}],
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


def run_wrk(url: str, seconds: float, connections: int, workdir: Path, bodies: Path,
            rate: float = 0.0) -> dict[str, float]:
    script = workdir / "bench.lua"
    script.write_text(LUA)
    env = {**os.environ, "BENCH_BODIES": str(bodies), "BENCH_RATE": str(rate),
           "BENCH_CONNECTIONS": str(connections)}
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
               "-s", str(script), url]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "1", *command]
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


def check_once(port: int, body: str, expect: str, path: str = "/sts") -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", path, body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": "10.9.9.9"})
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    if resp.status != 200 or expect not in text:
        raise RuntimeError(f"port {port} answered {resp.status}: {text[:400]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(bare_app, args.serve_bare, WORKERS)
        return
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    moto = Path(sys.executable).with_name("moto_server")
    if not moto.exists():
        sys.exit("moto_server is needed: .venv/bin/pip install 'moto[server]'")

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
            }
            time.sleep(0.3)
            app = create_app(Settings.from_env(env))
            import_config(app.extensions["gateway"].engine,
                          config(emulators.oidc.issuer, OIDC_CLIENT[0]), actor="bench")
            app.extensions["gateway"].config.bump()
            alice = DEMO_USERS[0]
            bodies = workdir / "bodies.txt"
            lines = []
            for i in range(SUBJECTS):
                token = emulators.oidc.id_token(alice, OIDC_CLIENT[0], sub=f"user-{i:05d}")
                lines.append("Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
                             f"&RoleArn={quote(ROLE, safe='')}&RoleSessionName=bench-{i}"
                             f"&WebIdentityToken={token}&DurationSeconds=3600")
            bodies.write_text("\n".join(lines) + "\n")
            gateway_bin = Path(sys.executable).with_name("gateway")
            processes.append(subprocess.Popen([str(gateway_bin), "serve"],
                                              env={**os.environ, **env},
                                              stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))
            processes.append(subprocess.Popen(
                [sys.executable, __file__, "--serve-bare", str(bare_port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            processes.append(subprocess.Popen(
                [str(moto), "-H", "127.0.0.1", "-p", str(moto_port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for(gw_port, "/healthz")
            wait_for(bare_port, "/")
            wait_for(moto_port, "/")
            check_once(gw_port, lines[0], "<SubjectFromWebIdentityToken>user-00000<")
            check_once(bare_port, lines[0], "AssumeRoleWithWebIdentityResult")
            check_once(moto_port, lines[0], "<AccessKeyId>", "/")
            targets = {
                "gateway": f"http://127.0.0.1:{gw_port}/sts",
                "bare_flask": f"http://127.0.0.1:{bare_port}/sts",
                "moto_server": f"http://127.0.0.1:{moto_port}/",
            }
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, url in targets.items():
                    runs[name].append(run_wrk(url, args.seconds, args.connections, workdir,
                                              bodies))
            rps = {name: statistics.median(r["rps"] for r in rs) for name, rs in runs.items()}
            p99 = {name: statistics.median(r["p99_ms"] for r in rs) for name, rs in runs.items()}
            paced_target = 0.8 * rps["gateway"]
            paced = run_wrk(targets["gateway"], args.seconds * 1.5, args.connections, workdir,
                            bodies, rate=paced_target)
        finally:
            for process in reversed(processes):
                process.terminate()
            for process in processes:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
            emulators.stop()

    ratios = {"vs_bare": rps["gateway"] / rps["bare_flask"],
              "vs_moto": rps["gateway"] / rps["moto_server"]}
    print(f"AssumeRoleWithWebIdentity, RS256 ID token; wrk -t1 -c{args.connections} "
          f"{args.seconds:g}s x {args.rounds} rounds (medians), {WORKERS} gunicorn workers, "
          f"{os.cpu_count()} CPUs")
    print(f"{'target':<14}{'req/s':>10}{'p99 ms':>10}{'gateway ratio':>16}")
    for name in targets:
        ratio = rps["gateway"] / rps[name]
        print(f"{name:<14}{rps[name]:>10.0f}{p99[name]:>10.2f}{ratio:>15.2f}x")
    print(f"gateway at 80% load: target {paced_target:.0f} req/s, achieved "
          f"{paced['rps']:.0f} req/s, p99 {paced['p99_ms']:.2f} ms")
    verdicts = {
        "vs_bare": ratios["vs_bare"] >= GOALS["vs_bare"],
        "vs_moto": ratios["vs_moto"] >= GOALS["vs_moto"],
        "p99_at_80pct": paced["p99_ms"] < GOALS["p99_ms_at_80pct"],
    }
    for goal, met in verdicts.items():
        print(f"goal {goal}: {'met' if met else 'NOT met'}")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "token_exchange.json").write_text(json.dumps({
        "benchmark": "AssumeRoleWithWebIdentity (RS256 ID token)",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "settings": {"rounds": args.rounds, "seconds": args.seconds,
                     "connections": args.connections, "workers": WORKERS,
                     "distinct_subjects": SUBJECTS},
        "runs": runs, "median_rps": rps, "median_p99_ms": p99, "ratios": ratios,
        "paced_80pct": {"target_rps": paced_target, **paced},
        "goals": GOALS, "goals_met": verdicts,
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
