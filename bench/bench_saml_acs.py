"""SAML logins per second through `gateway serve` (gunicorn, 2 workers), end to end.

    .venv/bin/python bench/bench_saml_acs.py [--logins 3000] [--clients 8]

Starts the gateway as `gateway serve` does (SQLite and embedded Redis under a temporary
directory), configures one SAML provider that allows IdP-initiated sign-in, and posts
distinct signed responses (response and assertion signed, RSA-SHA256) to `/saml/acs`
from several client processes with keep-alive connections. Every login runs the whole
path: validation, the replay cache, a new Redis session, the audit record, the redirect.
The issue's goal is >= 300 logins/s with 2 workers. Raw numbers: bench/results/saml_acs.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

import requests  # noqa: E402

from bench.common import free_port  # noqa: E402
from tests.sources.saml import forge  # noqa: E402

GATEWAY = str(ROOT / ".venv" / "bin" / "gateway")
IDP = "https://bench-idp.example.test/metadata"
GOAL = 300


def config(base: str) -> str:
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


def responses(base: str, count: int) -> list[str]:
    signer = forge.Signer.fixture("okta")
    now = datetime.now(UTC)
    out = []
    for index in range(count):
        spec = forge.Spec(issuer=IDP, acs_url=f"{base}/saml/acs",
                          audience=f"{base}/saml/metadata", now=now,
                          not_on_or_after=timedelta(minutes=10),
                          scd_not_on_or_after=timedelta(minutes=10),
                          assertion_id=f"_a{index:031d}", response_id=f"_r{index:031d}",
                          name_id=f"user{index}@example.com")
        out.append(forge.b64(forge.signed(spec, signer)))
    return out


def client(args: tuple[str, list[str]]) -> dict[str, int]:
    """Post each response once; count the answers by status and refusal reason."""
    url, batch = args
    session = requests.Session()
    seen: dict[str, int] = {}
    for body in batch:
        answer = session.post(url, data={"SAMLResponse": body}, allow_redirects=False)
        label = str(answer.status_code)
        if answer.status_code != 303:
            reason = re.search(r"<p>([^<]{0,120})", answer.text)
            label += f" {reason.group(1) if reason else ''}"
        seen[label] = seen.get(label, 0) + 1
        session.cookies.clear()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logins", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(GATEWAY_VAR_DIR=str(Path(tmp) / "var"), GATEWAY_BIND=f"127.0.0.1:{port}",
                   GATEWAY_BASE_URL=base, GATEWAY_WORKERS="2", GATEWAY_LOG_LEVEL="WARNING")
        (Path(tmp) / "config.yaml").write_text(config(base))
        subprocess.run([GATEWAY, "config", "import", str(Path(tmp) / "config.yaml")], env=env,
                       check=True, capture_output=True)
        server = subprocess.Popen([GATEWAY, "serve"], env=env, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                        break
                except requests.RequestException:
                    time.sleep(0.2)
            bodies = responses(base, args.logins + 2 * args.clients)
            warm, bodies = bodies[:2 * args.clients], bodies[2 * args.clients:]
            batches = [bodies[i::args.clients] for i in range(args.clients)]
            with multiprocessing.Pool(args.clients) as pool:
                pool.map(client, [(f"{base}/saml/acs", warm[i::args.clients])
                                  for i in range(args.clients)])  # warm every worker
                started = time.perf_counter()
                results = pool.map(client, [(f"{base}/saml/acs", b) for b in batches])
                elapsed = time.perf_counter() - started
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    answers: dict[str, int] = {}
    for seen in results:
        for label, count in seen.items():
            answers[label] = answers.get(label, 0) + count
    ok = answers.get("303", 0)
    total = sum(answers.values())
    rate = total / elapsed
    print(f"{total} IdP-initiated logins, {args.clients} client processes, gunicorn 2 workers")
    print(f"accepted: {ok}/{total}   elapsed: {elapsed:.2f} s   logins/s: {rate:.0f}   "
          f"(goal >= {GOAL}: {'met' if rate >= GOAL and ok == total else 'NOT met'})")
    for label, count in sorted(answers.items()):
        if label != "303":
            print(f"  refused {count}: {label}")
    out = ROOT / "bench" / "results" / "saml_acs.json"
    out.write_text(json.dumps({
        "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "logins": total, "accepted": ok, "clients": args.clients,
        "workers": 2, "seconds": elapsed, "logins_per_second": rate, "goal": GOAL,
        "answers": answers, "load_average": os.getloadavg(),
    }, indent=2))
    print(f"raw numbers: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
