"""SAML logins per second through `gateway serve` (gunicorn, 2 workers), end to end.

    .venv/bin/python bench/bench_saml_acs.py [--runs 3] [--logins 1500] [--clients 4]

Starts the gateway as production runs it (`bench.common.serve_gateway`: `gateway serve`,
SQLite, a redis-server of its own), configures one SAML provider that allows
IdP-initiated sign-in, and posts distinct signed responses (response and assertion
signed, RSA-SHA256) to `/saml/acs` from several client processes. Every login runs the
whole path: the refusal budget, validation, the replay cache, the sign-in rate limit
(its allowance raised so that it counts but never refuses: every login here comes from
127.0.0.1), a new Redis session, the audit record, the redirect.

Baseline, same run and same load generator: a bare Flask app under the same gunicorn
configuration answering the same form posts with the same 303 (it parses the form and
does nothing else).

The load generator shares the 2 cores with the servers, so it is kept lean: bodies are
signed and form-encoded before the clock starts and posted with `http.client`; its CPU
time per login is reported beside the servers' (workers and Redis, read from /proc).
`measure(runs)` gives `bench/run` the row "ACS POST end to end (gunicorn 2 workers)",
goal >= 300 logins/s (median of the runs). Raw numbers: bench/results/saml_acs.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

from flask import Flask, redirect, request  # noqa: E402
from werkzeug.wrappers import Response as BaseResponse  # noqa: E402

from bench.common import Row, free_port, quick, serve_bare, serve_gateway, wait_for  # noqa: E402
from tests.sources.saml import forge  # noqa: E402

IDP = "https://bench-idp.example.test/metadata"
GOAL = 300
WORKERS = 2
FORM = "application/x-www-form-urlencoded"
# One load generator signing in the same few people: lift the per-address and per-person
# sign-in allowances (still counted on every login) so the figure is the server's capacity.
SETTINGS = {
    "workers": str(WORKERS),
    "rate_limit_signin_address": "10000000/minute",
    "rate_limit_signin_subject": "10000000/minute",
}

bare_app = Flask("bare")


@bare_app.post("/saml/acs")
def bare_acs() -> BaseResponse:
    """The baseline: read the same form field, answer the same redirect."""
    if not request.form.get("SAMLResponse"):
        return BaseResponse("no SAMLResponse", status=400)
    return redirect("/console", 303)


def config() -> str:
    metadata = forge.FIXTURES / "okta" / "metadata.xml"
    xml = metadata.read_text().replace("http://www.okta.com/exk1fixture0example7", IDP)
    indented = "\n".join("      " + line for line in xml.splitlines())
    return f"""
accounts:
  - id: "111111111111"
    roles:
      - name: Bench
        trust_policy:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Principal: {{Federated: "arn:aws:iam::111111111111:saml-provider/bench"}}
              Action: sts:AssumeRoleWithSAML
identity_providers:
  - name: bench
    kind: saml
    account: "111111111111"
    options: {{allow_idp_initiated: true}}
    metadata_xml: |
{indented}
    mapping_rules:
      - when: [{{claim: groups, operator: equals, value: engineering}}]
        role: arn:aws:iam::111111111111:role/Bench
"""


def _sign(args: tuple[str, int, int, str]) -> list[bytes]:
    """Form bodies of distinct signed responses number `start` .. `start + count - 1`."""
    base, start, count, tag = args
    signer = forge.Signer.fixture("okta")
    now = datetime.now(UTC)
    out = []
    for index in range(start, start + count):
        # Each response issued in a second of its own (nothing shared between logins that
        # a cache could remember), all of them still valid when posted.
        issued = now - timedelta(seconds=index % 1200)
        spec = forge.Spec(issuer=IDP, acs_url=f"{base}/saml/acs",
                          audience=f"{base}/saml/metadata", now=issued,
                          not_on_or_after=timedelta(minutes=40),
                          scd_not_on_or_after=timedelta(minutes=40),
                          assertion_id=f"_a{tag}{index:030d}", response_id=f"_r{tag}{index:030d}",
                          name_id=f"user{index}@example.com")
        out.append(b"SAMLResponse=" + quote_plus(forge.b64(forge.signed(spec, signer))).encode())
    return out


def bodies(pool: Any, base: str, count: int, tag: str, chunks: int) -> list[bytes]:
    size = -(-count // chunks)
    parts = pool.map(_sign, [(base, i, min(size, count - i), tag) for i in range(0, count, size)])
    return [body for part in parts for body in part]


def client(args: tuple[int, list[bytes]]) -> tuple[dict[str, int], float]:
    """Post each body once; the answers by status (and refusal reason), and this CPU time."""
    port, batch = args
    started = time.process_time()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    seen: dict[str, int] = {}
    for body in batch:
        conn.request("POST", "/saml/acs", body=body, headers={"Content-Type": FORM})
        answer = conn.getresponse()
        text = answer.read()
        label = str(answer.status)
        if answer.status != 303:
            reason = re.search(rb"<p>([^<]{0,120})", text)
            label += f" {reason.group(1).decode() if reason else text[:80]!r}"
        seen[label] = seen.get(label, 0) + 1
        if answer.will_close:
            conn.close()  # reconnects on the next request
    conn.close()
    return seen, time.process_time() - started


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def post_all(pool: Any, port: int, batch: list[bytes], clients: int,
             watched: dict[str, list[int]]) -> dict[str, Any]:
    """One timed run: `batch` posted by `clients` processes; rate, answers, CPU per post."""
    before = {name: sum(_cpu_seconds(p) for p in pids) for name, pids in watched.items()}
    started = time.perf_counter()
    results = pool.map(client, [(port, batch[i::clients]) for i in range(clients)])
    elapsed = time.perf_counter() - started
    answers: dict[str, int] = {}
    for seen, _ in results:
        for label, count in seen.items():
            answers[label] = answers.get(label, 0) + count
    total = sum(answers.values())
    cpu_ms = {name: 1e3 * (sum(_cpu_seconds(p) for p in pids) - before[name]) / total
              for name, pids in watched.items()}
    cpu_ms["load generator"] = 1e3 * sum(cpu for _, cpu in results) / total
    return {"per_second": total / elapsed, "seconds": elapsed, "posts": total,
            "accepted": answers.get("303", 0), "answers": answers,
            "cpu_ms_per_post": cpu_ms, "load_average_1m": os.getloadavg()[0]}


def collect(runs: int, logins: int, clients: int) -> dict[str, Any]:
    """`runs` rounds, each: fresh responses to the gateway, the same bodies to bare Flask."""
    gateway_runs: list[dict[str, Any]] = []
    bare_runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, \
            multiprocessing.get_context("fork").Pool(clients) as pool:
        served = serve_gateway(Path(tmp), config(), **SETTINGS)
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(bare_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(bare_port, "/saml/acs", method="POST")
            watched = {"gateway workers": _children(served.server.pid),
                       "redis-server": [p.pid for p in served.others]}
            bare_watched = {"bare workers": _children(bare.pid)}
            warm = bodies(pool, served.base, 4 * clients, "w", clients)
            post_all(pool, served.port, warm, clients, watched)  # imports, caches, connections
            post_all(pool, bare_port, warm, clients, bare_watched)
            for run in range(runs):
                batch = bodies(pool, served.base, logins, f"{run:x}", clients)
                gateway_runs.append(post_all(pool, served.port, batch, clients, watched))
                bare_runs.append(post_all(pool, bare_port, batch, clients, bare_watched))
        finally:
            bare.terminate()
            bare.wait(20)
            served.stop()
    rate = statistics.median(r["per_second"] for r in gateway_runs)
    bare_rate = statistics.median(r["per_second"] for r in bare_runs)
    return {
        "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "workers": WORKERS, "clients": clients,
        "logins_per_run": logins, "runs": runs, "goal_logins_per_second": GOAL,
        "median_logins_per_second": rate, "median_bare_per_second": bare_rate,
        "ratio_to_bare": rate / bare_rate,
        "all_accepted": all(r["accepted"] == r["posts"] for r in gateway_runs),
        "gateway": gateway_runs, "bare": bare_runs,
    }


def save(data: dict[str, Any]) -> None:
    out = ROOT / "bench" / "results" / "saml_acs.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")


def rows(data: dict[str, Any]) -> list[Row]:
    rate = data["median_logins_per_second"]
    cpu = statistics.median(r["cpu_ms_per_post"]["gateway workers"] for r in data["gateway"])
    refused = "" if data["all_accepted"] else "; NOT every login accepted"
    return [Row(
        path="ACS POST end to end (gunicorn 2 workers)",
        figure=f"{rate:,.0f} logins/s (median of {data['runs']}; {cpu:.1f} ms of worker CPU "
               f"per login){refused}",
        baseline=f"bare Flask form POST + 303 {data['median_bare_per_second']:,.0f}/s, "
                 "same load generator",
        ratio=None,
        goal=f">= {GOAL} logins/s",
        passed=rate >= GOAL and data["all_accepted"],
        raw=data,
    )]


def measure(runs: int) -> list[Row]:
    """`bench/run`'s row: logins per second through the ACS."""
    data = collect(runs, 300 if quick() else 1500, 4)
    save(data)
    return rows(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--logins", type=int, default=1500, help="logins per run")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(bare_app, args.serve_bare, WORKERS)
        return
    data = collect(args.runs, args.logins, args.clients)
    save(data)
    print(f"{args.logins} IdP-initiated logins per run, {args.runs} runs, {args.clients} client "
          f"processes, gunicorn {WORKERS} workers, {os.cpu_count()} CPUs shared by all")
    print(f"{'run':>4} {'logins/s':>9} {'bare/s':>8} {'accepted':>9} {'worker ms':>10} "
          f"{'redis ms':>9} {'client ms':>10} {'load':>5}")
    for i, (gw, bare) in enumerate(zip(data["gateway"], data["bare"], strict=True)):
        cpu = gw["cpu_ms_per_post"]
        print(f"{i:>4} {gw['per_second']:9.0f} {bare['per_second']:8.0f} "
              f"{gw['accepted']:>4}/{gw['posts']:<4} {cpu['gateway workers']:10.2f} "
              f"{cpu['redis-server']:9.2f} {cpu['load generator']:10.2f} "
              f"{gw['load_average_1m']:5.1f}")
        for label, count in sorted(gw["answers"].items()):
            if label != "303":
                print(f"       refused {count}: {label}")
    for row in rows(data):
        print(f"{'PASS' if row.passed else 'FAIL'}  {row.path}: {row.figure}; {row.baseline}; "
              f"goal {row.goal}")
    print("raw numbers: bench/results/saml_acs.json")


if __name__ == "__main__":
    main()
