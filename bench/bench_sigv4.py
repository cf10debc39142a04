"""SigV4 verification + session-token opening, in process, per second on one core.

    .venv/bin/python bench/bench_sigv4.py [--runs 7] [--seconds 0.5]

Measures `gateway.sts.authenticate.authenticate` (parse, scope, open the session
token, expiry, derive the secret, check time and signature) on a boto3-style
signed POST GetCallerIdentity:

* warm: the same session's requests again and again (the LRU caches for opened
  tokens, derived secrets and signing keys hit), a client making many calls;
* cold: every request from a different session, caches cleared, nothing reused;

beside baselines measured in the same run: a bare HMAC-SHA256 of the same
canonical request (the floor any verifier pays) and botocore signing the same
request (what the client spends). Medians of several runs; raw numbers go to
bench/results/sigv4.json; `measure` gives bench/run its rows. The issue's goal is
>= 20,000/s per core once the revocation check and the policy decision are added, so
this must leave room.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import platform
import statistics
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials as BotoCredentials  # noqa: E402

from bench.common import Row, per_second, pin_to_one_core, quick, rate  # noqa: E402
from gateway.sts import credentials as creds_module  # noqa: E402
from gateway.sts import sigv4  # noqa: E402
from gateway.sts.authenticate import authenticate  # noqa: E402
from gateway.sts.credentials import Credentials, SessionClaims, mint  # noqa: E402
from gateway.sts.keyring import Keyring  # noqa: E402
from gateway.sts.sigv4 import SignedRequest  # noqa: E402

WHEN = datetime(2024, 1, 1, tzinfo=UTC)
URL = "https://gw.example.com/sts/"
BODY = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                   "Resource": ["arn:aws:s3:::team-bucket", "arn:aws:s3:::team-bucket/*"]}],
})
GOAL_PER_SECOND = 20_000


def claims(n: int) -> SessionClaims:
    issued = int(WHEN.timestamp()) - 60
    return SessionClaims(
        account="123456789012",
        role_arn="arn:aws:iam::123456789012:role/team/Developer",
        role_id="AROAEXAMPLEROLEID0001",
        session_name=f"user-{n}@example.com",
        issued_at=issued,
        expires_at=issued + 3600,
        source_identity=f"user-{n}",
        policy=POLICY,
        tags=(("team", "platform"), ("cost-center", "4242")),
        transitive_tag_keys=("team",),
        provider="arn:aws:iam::123456789012:saml-provider/ADFS",
        subject=f"user-{n}@example.com",
    )


def boto_request(creds: Credentials) -> AWSRequest:
    return AWSRequest(
        method="POST", url=URL, data=BODY,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )


def sign(creds: Credentials) -> SignedRequest:
    request = boto_request(creds)
    signer = SigV4Auth(
        BotoCredentials(creds.access_key_id, creds.secret_access_key, creds.session_token),
        "sts", "us-east-1",
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=WHEN):
        signer.add_auth(request)
    prepared = request.prepare()
    headers = [("Host", "gw.example.com"), *prepared.headers.items()]
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body or b""
    return SignedRequest("POST", "/sts/", "", headers, body)


def clear_caches() -> None:
    creds_module._open.cache_clear()
    creds_module.derive_secret_access_key.cache_clear()
    sigv4.signing_key.cache_clear()


WARM = "authenticate, warm (same session)"
COLD = "authenticate, cold (new session each)"
HMAC_FLOOR = "baseline: bare HMAC-SHA256 of the canonical request"
BOTOCORE = "baseline: botocore SigV4Auth signing the request"


def run(runs: int, seconds: float, sessions: int) -> dict[str, list[float]]:
    """Operations per second of every case, `runs` times each, interleaved."""
    pin_to_one_core()

    keyring = Keyring.generate(WHEN - timedelta(days=1))
    now = WHEN + timedelta(seconds=5)
    first = claims(0)
    one = mint(keyring, first)
    request = sign(one)
    signed = [sign(mint(keyring, claims(n))) for n in range(1, sessions + 1)]
    parts = sigv4.parse_request(request)
    canonical = sigv4.canonical_request(request, parts).encode()
    hmac_key = hashlib.sha256(b"bench").digest()
    boto_signer = SigV4Auth(
        BotoCredentials(one.access_key_id, one.secret_access_key, one.session_token),
        "sts", "us-east-1",
    )
    assert authenticate(request, keyring, service="sts", now=now).claims == first

    def warm(n: int) -> None:
        for _ in range(n):
            authenticate(request, keyring, service="sts", now=now)

    def cold(n: int) -> None:
        clear_caches()
        for req in signed[:n]:
            authenticate(req, keyring, service="sts", now=now)

    def verify_only(n: int) -> None:
        secret = one.secret_access_key
        for _ in range(n):
            sigv4.verify(request, service="sts", now=now, secret_for=lambda _k: secret)

    def open_cold(n: int) -> None:
        creds_module._open.cache_clear()
        for _ in range(n):
            creds_module._open.__wrapped__(keyring, one.access_key_id, one.session_token)

    def bare_hmac(n: int) -> None:
        for _ in range(n):
            hmac.new(hmac_key, canonical, hashlib.sha256).hexdigest()

    def botocore_sign(n: int) -> None:
        for _ in range(n):
            boto_signer.add_auth(boto_request(one))

    cases: dict[str, tuple[Callable[[int], None], int]] = {
        WARM: (warm, 500),
        COLD: (cold, sessions),
        "sigv4.verify only (secret given)": (verify_only, 500),
        "session token open only (uncached)": (open_cold, 500),
        HMAC_FLOOR: (bare_hmac, 2000),
        BOTOCORE: (botocore_sign, 200),
    }
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, (loop, batch) in cases.items():  # interleaved: drift hits every case alike
            results[name].append(rate(loop, batch, seconds))
    clear_caches()
    return results


def measure(runs: int) -> list[Row]:
    """`bench/run`'s rows: warm (the goal's part) and cold (information)."""
    seconds, sessions = (0.15, 1000) if quick() else (0.5, 3000)
    results = run(runs, seconds, sessions)
    medians = {name: statistics.median(values) for name, values in results.items()}
    raw = {"runs": runs, "seconds_per_run": seconds, "distinct_sessions": sessions,
           "ops_per_second": results, "median_ops_per_second": medians}
    floor = f"bare HMAC-SHA256 {per_second(medians[HMAC_FLOOR])}"
    return [
        Row(path="SigV4 verify + token open, in process, warm session (one core)",
            figure=f"{per_second(medians[WARM])} per core", baseline=floor, ratio=None,
            goal=f">= {per_second(GOAL_PER_SECOND)} per core (leaving room for revocation "
                 "and decision)",
            passed=medians[WARM] >= GOAL_PER_SECOND, raw=raw),
        Row(path="SigV4 verify + token open, in process, first request of each session",
            figure=f"{per_second(medians[COLD])} per core",
            baseline=f"botocore signing {per_second(medians[BOTOCORE])}",
            ratio=medians[COLD] / medians[BOTOCORE],
            goal="information: caches cold (compare with the client's own signing)",
            passed=True, raw={}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--sessions", type=int, default=3000, help="distinct sessions (cold)")
    args = parser.parse_args()
    results = run(args.runs, args.seconds, args.sessions)

    medians = {name: statistics.median(values) for name, values in results.items()}
    floor = medians[HMAC_FLOOR]
    print(f"python {platform.python_version()} on {platform.machine()}, one core, "
          f"{args.runs} runs x {args.seconds}s, medians")
    print(f"{'case':55} {'ops/s':>10} {'us/op':>8} {'x bare HMAC':>12}")
    for name, value in medians.items():
        print(f"{name:55} {value:10.0f} {1e6 / value:8.1f} {value / floor:12.3f}")
    for label in (WARM, COLD):
        left = 1e6 / GOAL_PER_SECOND - 1e6 / medians[label]
        print(f"{label}: leaves {left:.1f} us of the {1e6 / GOAL_PER_SECOND:.0f} us budget "
              f"(goal {GOAL_PER_SECOND}/s) for the revocation check and the policy decision")

    out = ROOT / "bench" / "results" / "sigv4.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "python": platform.python_version(),
        "machine": platform.machine(),
        "runs": args.runs,
        "seconds_per_run": args.seconds,
        "distinct_sessions": args.sessions,
        "goal_per_second": GOAL_PER_SECOND,
        "ops_per_second": results,
        "median_ops_per_second": medians,
    }, indent=2) + "\n")
    print(f"raw results: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
