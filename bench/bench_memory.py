"""Memory: worker RSS under load, Redis bytes per browser session, nothing per credential.

    .venv/bin/python bench/bench_memory.py [--requests 100000] [--signins 200] [--minted 60]

Starts the gateway as `gateway serve` runs it (gunicorn, 2 gthread workers of 8 threads,
SQLite, a redis-server of its own) with one SAML provider allowing IdP-initiated sign-in, then:

* sign-ins: `--signins` people sign in by posting signed SAML responses to /saml/acs
  (each opens the portal, which stores the form token in the session); every Redis key
  the sign-ins created is weighed with MEMORY USAGE, and INFO's used_memory before and
  after divided by the count cross-checks it. Goal: <= 2 KB per browser session.
* credentials: one of them mints credentials in the portal again and again; Redis keys,
  their bytes and the database's rows (audit tables apart) are counted after N and
  after 5N. Goal: no key, byte or row more after 5N than after N.
* RSS: wrk replays a mix of GetCallerIdentity (SigV4-signed with portal-minted
  credentials), POST /api/v1/authorize and GET /console (signed in) until `--requests`
  answered, all 2xx; each worker's RSS (VmRSS) is read before, at 10 % and at the end.
  Goal: <= 100 MB per worker. Baseline, same run: a bare Flask app under the same
  gunicorn configuration after the same warm-up. For information, PSS at the end
  (smaps_rollup: each shared page divided among the processes mapping it) per worker
  and for the master and workers together: RSS counts in full, in every worker, the
  pages shared with the master and the text of every C library a worker touched.

Sizes and counts, not timings: `measure` runs one round (`--runs` here repeats it, each
on a fresh server). Raw numbers go to bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import requests  # noqa: E402

from bench.common import (  # noqa: E402
    Row,
    Served,
    free_port,
    quick,
    serve_gateway,
    wait_for,
)

GOAL_RSS_MB = 100.0
GOAL_SESSION_BYTES = 2048
ACCOUNT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Bench"
IDP = "https://bench-idp.example.test/metadata"
OBJECT = "arn:aws:s3:::data/teams/blue/report.csv"
# Database tables that grow with use by design: the audit trail (and its spool).
AUDIT_TABLES = ("audit_events",)
# Directory groups each person asserts beside the mapped one (session size grows with them).
GROUPS = 20


def config() -> str:
    from tests.sources.saml import forge

    metadata = forge.FIXTURES / "okta" / "metadata.xml"
    xml = metadata.read_text().replace("http://www.okta.com/exk1fixture0example7", IDP)
    indented = "\n".join("      " + line for line in xml.splitlines())
    return f"""
accounts:
  - id: "{ACCOUNT}"
    roles:
      - name: Bench
        trust_policy:
          Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Principal: {{Federated: "arn:aws:iam::{ACCOUNT}:saml-provider/bench"}}
              Action: sts:AssumeRoleWithSAML
        policies:
          Data:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: [s3:GetObject, s3:ListBucket]
                Resource: ["arn:aws:s3:::data", "arn:aws:s3:::data/*"]
              - Effect: Deny
                Action: "s3:Delete*"
                Resource: "*"
identity_providers:
  - name: bench
    kind: saml
    account: "{ACCOUNT}"
    options: {{allow_idp_initiated: true}}
    metadata_xml: |
{indented}
    mapping_rules:
      - when: [{{claim: groups, operator: equals, value: engineering}}]
        role: {ROLE}
"""


# --- a real browser session ----------------------------------------------------------------


def saml_response(base: str, index: int) -> str:
    from tests.sources.saml import forge

    spec = forge.Spec(
        issuer=IDP,
        acs_url=f"{base}/saml/acs",
        audience=f"{base}/saml/metadata",
        now=datetime.now(UTC),
        not_on_or_after=timedelta(minutes=10),
        scd_not_on_or_after=timedelta(minutes=10),
        assertion_id=f"_m{index:031d}",
        response_id=f"_n{index:031d}",
        name_id=f"user{index}@example.com",
        attributes={
            "https://aws.amazon.com/SAML/Attributes/RoleSessionName": [f"user{index}"],
            "email": [f"user{index}@example.com"],
            "displayName": [f"User Number {index}"],
            "groups": ["engineering", *(f"directory-group-{g}" for g in range(GROUPS))],
        },
    )
    return str(forge.b64(forge.signed(spec, forge.Signer.fixture("okta"))))


def sign_in(base: str, index: int) -> requests.Session:
    """Sign in as a person would (IdP-initiated SAML) and open the portal."""
    browser = requests.Session()
    answer = browser.post(
        f"{base}/saml/acs", data={"SAMLResponse": saml_response(base, index)}, allow_redirects=False
    )
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in refused: {answer.status_code} {answer.text[:300]}")
    page = browser.get(f"{base}/console")
    if page.status_code != 200 or ROLE not in page.text:
        raise RuntimeError(f"portal: {page.status_code} {page.text[:300]}")
    return browser


def mint(base: str, browser: requests.Session) -> dict[str, str]:
    """Credentials from the portal, as the person would get them."""
    page = browser.get(f"{base}/console").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if token is None:
        raise RuntimeError("no form token on the portal page")
    answer = browser.post(
        f"{base}/console/credentials", data={"csrf_token": token.group(1), "role_arn": ROLE}
    )
    shown = {
        name: re.search(rf'id="{name}">([^<]+)<', answer.text)
        for name in ("access-key-id", "secret-access-key", "session-token")
    }
    if answer.status_code != 200 or not all(shown.values()):
        raise RuntimeError(f"minting refused: {answer.status_code} {answer.text[:300]}")
    return {k: html.unescape(m.group(1)) for k, m in shown.items() if m is not None}


# --- what is stored ------------------------------------------------------------------------


def redis_keys(client: redis.Redis) -> set[bytes]:
    return set(client.scan_iter(count=1000))


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def table_rows(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        names = [
            r[0]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {n: db.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}


def key_kind(key: bytes) -> str:
    """`gw:session:<hash>` → `session`; `gw:saml:seen:<id>` → `saml:seen`."""
    parts = key.decode().split(":")
    return ":".join(parts[1:-1]) or parts[0]


def session_bytes(served: Served, signins: int) -> dict[str, Any]:
    """Redis bytes per browser session: MEMORY USAGE of every key the sign-ins made."""
    client = redis.Redis.from_url(served.redis_url)
    before_keys, before_memory = redis_keys(client), used_memory(client)
    browsers = [sign_in(served.base, i) for i in range(signins)]
    new = redis_keys(client) - before_keys
    by_kind: dict[str, list[int]] = {}
    for key in new:
        by_kind.setdefault(key_kind(key), []).append(int(client.memory_usage(key, samples=0)))
    after_memory = used_memory(client)
    sessions = by_kind.get("session", [])
    if len(sessions) != signins:
        raise RuntimeError(f"{signins} sign-ins made {len(sessions)} session keys")
    per_session = sum(sum(v) for v in by_kind.values()) / signins
    largest = max(client.memory_usage(k, samples=0) or 0 for k in new if key_kind(k) == "session")
    client.close()
    return {
        "signins": signins,
        "bytes_per_session": per_session,
        "bytes_by_key_kind": {
            k: {"keys": len(v), "median": statistics.median(v)} for k, v in by_kind.items()
        },
        "largest_session_key": largest,
        "used_memory_delta_per_session": (after_memory - before_memory) / signins,
        "browsers": browsers,
    }


def per_credential(served: Served, browser: requests.Session, n: int) -> dict[str, Any]:
    """Keys, their bytes and the table rows after minting n and 5n credentials.

    n is over 50 so the sign-in's list of its credentials (for revocation at IdP logout,
    capped at 50 entries) is already full at the first count.
    """
    client = redis.Redis.from_url(served.redis_url)
    database = Path(served.env["GATEWAY_VAR_DIR"]) / "gateway.db"
    counts = []
    done = 0
    for target in (n, 5 * n):
        while done < target:
            mint(served.base, browser)
            done += 1
        time.sleep(1.0)  # let any batched audit write land before counting
        keys = redis_keys(client)
        counts.append(
            {
                "minted": done,
                "keys": len(keys),
                "keys_by_kind": _kinds(keys),
                "key_bytes": sum(int(client.memory_usage(k, samples=0) or 0) for k in keys),
                "used_memory": used_memory(client),
                "rows": table_rows(database),
            }
        )
    client.close()
    first, last = counts
    other = [t for t in last["rows"] if t not in AUDIT_TABLES]
    return {
        "counts": counts,
        "key_growth": last["keys"] - first["keys"],
        "key_bytes_growth": last["key_bytes"] - first["key_bytes"],
        "row_growth": {
            t: last["rows"][t] - first["rows"].get(t, 0)
            for t in other
            if last["rows"][t] != first["rows"].get(t, 0)
        },
        "audit_growth": {t: last["rows"].get(t, 0) - first["rows"].get(t, 0) for t in AUDIT_TABLES},
    }


def _kinds(keys: set[bytes]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key in keys:
        out[key_kind(key)] = out.get(key_kind(key), 0) + 1
    return out


# --- RSS under load ------------------------------------------------------------------------


def workers(master: int) -> list[int]:
    """The gunicorn workers: the master's children."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                found.append(int(entry.name))
    return sorted(found)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """VmRSS, or one of its parts: RssAnon (the process's own heap) and RssFile (mapped
    files, mostly shared libraries: how many of their pages a process has mapped depends on
    how the page cache holds them, so it moves between runs with no change in the code)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no Pss for {pid}")


def lua_for(requests_: list[dict[str, Any]], port: int) -> str:
    """A wrk script cycling through fixed requests."""
    lines = ["local requests = {}"]
    for r in requests_:
        # Headers given to wrk.format replace wrk's own, Host included.
        given = [("Host", f"127.0.0.1:{port}")] + [
            (k, v) for k, v in r["headers"] if k.lower() not in ("content-length", "host")
        ]
        headers = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in given)
        body = json.dumps(r["body"]) if r["body"] else "nil"
        lines.append(
            f"requests[#requests + 1] = wrk.format({json.dumps(r['method'])}, "
            f"{json.dumps(r['path'])}, {{{headers}}}, {body})"
        )
    lines += [
        "local n = 0",
        "request = function()",
        "  n = n % #requests + 1",
        "  return requests[n]",
        "end",
    ]
    return "\n".join(lines) + "\n"


def drive(port: int, script: str, total: int, workdir: Path) -> int:
    """wrk in 5-second chunks until `total` requests were answered; all must be 2xx."""
    path = workdir / "mix.lua"
    path.write_text(script)
    done = 0
    while done < total:
        out = subprocess.run(
            ["wrk", "-t1", "-c4", "-d5s", "-s", str(path), f"http://127.0.0.1:{port}/"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        if "Non-2xx" in out or "Socket errors" in out:
            raise RuntimeError(f"refused or failed answers under load:\n{out}")
        found = re.search(r"(\d+) requests in", out)
        if found is None:
            raise RuntimeError(f"unexpected wrk output:\n{out}")
        done += int(found.group(1))
    return done


def python_drive(port: int, cases: list[dict[str, Any]], total: int) -> int:
    """Without wrk: one keep-alive connection, in order (slower, same requests)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(total):
        case = cases[i % len(cases)]
        conn.request(
            case["method"], case["path"], body=case["body"] or None, headers=dict(case["headers"])
        )
        answer = conn.getresponse()
        answer.read()
        if answer.status >= 300:
            raise RuntimeError(f"{case['path']} answered {answer.status}")
    conn.close()
    return total


def mixed_requests(served: Served, browser: requests.Session) -> list[dict[str, Any]]:
    """GetCallerIdentity (SigV4), /api/v1/authorize, and the portal page, signed in."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    creds = mint(served.base, browser)
    boto = Credentials(creds["access-key-id"], creds["secret-access-key"], creds["session-token"])
    host = f"127.0.0.1:{served.port}"
    gci = AWSRequest(
        method="POST",
        url=f"http://{host}/sts",
        data={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(boto, "sts", "us-east-1").add_auth(gci)
    gci_p = gci.prepare()
    s3 = AWSRequest(method="GET", url="https://data.s3.example.com/teams/blue/report.csv")
    S3SigV4Auth(boto, "s3", "us-east-1").add_auth(s3)
    s3_p = s3.prepare()
    question = {
        "method": "GET",
        "path": "/teams/blue/report.csv",
        "query": "",
        "headers": [["Host", "data.s3.example.com"], *map(list, s3_p.headers.items())],
        "service": "s3",
        "action": "s3:GetObject",
        "resource": OBJECT,
        "resource_account": ACCOUNT,
        "context": {"aws:SecureTransport": True},
    }
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    body = gci_p.body.encode() if isinstance(gci_p.body, str) else gci_p.body
    return [
        {
            "method": "POST",
            "path": "/sts",
            "headers": list(gci_p.headers.items()),
            "body": body.decode(),
        },
        {
            "method": "POST",
            "path": "/api/v1/authorize",
            "headers": [("Content-Type", "application/json")],
            "body": json.dumps(question),
        },
        {"method": "GET", "path": "/console", "headers": [("Cookie", cookie)], "body": ""},
    ]


def check(port: int, cases: list[dict[str, Any]]) -> None:
    import http.client

    for case in cases:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request(
            case["method"], case["path"], body=case["body"] or None, headers=dict(case["headers"])
        )
        answer = conn.getresponse()
        text = answer.read().decode()
        conn.close()
        if answer.status != 200 or (case["path"] == "/api/v1/authorize" and '"allow"' not in text):
            raise RuntimeError(f"{case['path']} answered {answer.status}: {text[:300]}")


def rss_under_load(
    served: Served, cases: list[dict[str, Any]], total: int, workdir: Path
) -> dict[str, Any]:
    master = served.server.pid
    check(served.port, cases)
    warm = 300
    script = lua_for(cases, served.port)

    def run(n: int) -> int:
        if shutil.which("wrk"):
            return drive(served.port, script, n, workdir)
        return python_drive(served.port, cases, n)

    done = run(warm)
    before = {pid: rss_mb(pid) for pid in workers(master)}
    done += run(total // 10)
    tenth = {pid: rss_mb(pid) for pid in workers(master)}
    done += run(total - done)
    after = {pid: rss_mb(pid) for pid in workers(master)}
    anon = {pid: rss_mb(pid, "RssAnon") for pid in after}
    files = {pid: rss_mb(pid, "RssFile") for pid in after}
    pss = {pid: pss_mb(pid) for pid in after}
    master_pss = pss_mb(master)
    if set(after) != set(before):
        raise RuntimeError(f"workers changed under load (restarted?): {before} → {after}")
    return {
        "requests": done,
        "rss_mb_before": before,
        "rss_mb_at_10pct": tenth,
        "rss_mb_after": after,
        "max_rss_mb": max(after.values()),
        "rss_anon_mb_after": anon,
        "rss_file_mb_after": files,
        "growth_after_10pct_mb": max(after[p] - tenth[p] for p in after),
        "pss_mb_after": pss,
        "max_pss_mb": max(pss.values()),
        "master_pss_mb": master_pss,
        "total_pss_mb": master_pss + sum(pss.values()),
    }


BARE_APP = """
from flask import Flask

app = Flask("bare")


@app.get("/ping")
def ping():
    return "ok"
"""


def bare_rss(workdir: Path) -> float:
    """A bare Flask app's worker, gunicorn configured as `gateway serve` does, warmed up.

    Started with the gunicorn command on a file of its own, so nothing else is imported.
    """
    (workdir / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "--keep-alive",
            "5",
            "--timeout",
            "30",
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            str(workdir),
            "bare_app:app",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port, "/ping")
        case = {"method": "GET", "path": "/ping", "headers": [], "body": ""}
        if shutil.which("wrk"):
            drive(port, lua_for([case], port), 300, workdir)
        else:
            python_drive(port, [case], 300)
        return max(rss_mb(pid) for pid in workers(proc.pid))
    finally:
        proc.terminate()
        proc.wait(20)


# --- the measurement -----------------------------------------------------------------------


def unlimited() -> dict[str, str]:
    """Every rate limit lifted: one load generator on one address is not an attack here."""
    from gateway.settings import FIELDS

    prefix = "GATEWAY_RATE_LIMIT_"
    return {
        f.env.removeprefix("GATEWAY_").lower(): "1000000/minute"
        for f in FIELDS
        if f.env.startswith(prefix)
    }


def one_round(total: int, signins: int, minted: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        served = serve_gateway(workdir, config(), **unlimited())
        try:
            sessions = session_bytes(served, signins)
            browsers = sessions.pop("browsers")
            credentials = per_credential(served, browsers[0], minted)
            rss = rss_under_load(served, mixed_requests(served, browsers[1]), total, workdir)
        finally:
            served.stop()
        rss["bare_worker_rss_mb"] = bare_rss(workdir)
    return {"sessions": sessions, "credentials": credentials, "rss": rss}


def run(runs: int, total: int, signins: int, minted: int) -> list[dict[str, Any]]:
    return [one_round(total, signins, minted) for _ in range(runs)]


def measure(runs: int) -> list[Row]:
    """`bench/run`'s rows: worker RSS, Redis per session, growth per credential.

    One round whatever `runs`: these are sizes and counts, not timings, and one round
    with 100,000 requests takes minutes.
    """
    total, signins, minted = (10_000, 20, 55) if quick() else (100_000, 200, 60)
    [round_] = run(1, total, signins, minted)
    rss, sessions, credentials = round_["rss"], round_["sessions"], round_["credentials"]
    kinds = sessions["bytes_by_key_kind"]
    parts = ", ".join(
        f"{k} {v['median']:,.0f}"
        for k, v in sorted(kinds.items(), key=lambda item: -item[1]["median"])
        if v["keys"] == signins
    )
    rows = sum(credentials["row_growth"].values())
    audit = sum(credentials["audit_growth"].values())
    raw = {
        "round": round_,
        "requests": total,
        "signins": signins,
        "minted": [minted, 5 * minted],
        "groups_per_person": GROUPS + 1,
    }
    return [
        Row(
            path=f"Memory: RSS per gunicorn worker after {rss['requests']:,} mixed requests",
            figure=f"{rss['max_rss_mb']:.1f} MB (+{rss['growth_after_10pct_mb']:.1f} MB "
            f"over the last 90 %; of it anonymous {max(rss['rss_anon_mb_after'].values()):.1f}"
            f" MB, mapped files {max(rss['rss_file_mb_after'].values()):.1f} MB); "
            f"PSS {rss['max_pss_mb']:.0f} MB a worker, "
            f"{rss['total_pss_mb']:.0f} MB master and workers together",
            baseline=f"bare Flask worker {rss['bare_worker_rss_mb']:.0f} MB",
            ratio=None,
            goal=f"<= {GOAL_RSS_MB:.0f} MB",
            passed=rss["max_rss_mb"] <= GOAL_RSS_MB,
            raw=raw,
        ),
        Row(
            path=f"Memory: Redis per browser session (SAML sign-in, {GROUPS + 1} groups, portal)",
            figure=f"{sessions['bytes_per_session']:,.0f} B ({parts}); "
            f"used_memory {sessions['used_memory_delta_per_session']:,.0f} B",
            baseline="",
            ratio=None,
            goal=f"<= {GOAL_SESSION_BYTES:,} B",
            passed=sessions["bytes_per_session"] <= GOAL_SESSION_BYTES,
            raw={},
        ),
        Row(
            path=f"Memory: stored per credential ({minted} vs {5 * minted} minted)",
            figure=f"+{credentials['key_growth']} Redis keys, "
            f"+{credentials['key_bytes_growth']} B, +{rows} rows (audit +{audit})",
            baseline="",
            ratio=None,
            goal="nothing (audit apart)",
            passed=credentials["key_growth"] <= 0
            and credentials["key_bytes_growth"] <= 0
            and rows == 0,
            raw={},
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--signins", type=int, default=200)
    parser.add_argument("--minted", type=int, default=60)
    args = parser.parse_args()
    rounds = run(args.runs, args.requests, args.signins, args.minted)
    for r in rounds:
        print(json.dumps(r, indent=2, default=str))
    out = ROOT / "bench" / "results" / "memory.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"rounds": rounds, "cpus": os.cpu_count()}, indent=2, default=str) + "\n"
    )
    print(f"raw numbers: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
