"""Compiled IAM policy decisions per second, beside a plain dict-lookup loop from the same run.

Run: .venv/bin/python bench/bench_policy.py [--runs 7] [--seconds 0.4]
Writes the raw numbers to bench/results/policy.json; `measure` gives bench/run its row.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOAL_PER_SECOND = 100_000
BASELINE = "dict lookup loop (baseline)"
DECISION = "policy decision, compiled"

# A typical role: 5 statements, 2 conditions, one variable.
ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "TeamData",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": "arn:aws:s3:::data/teams/${aws:PrincipalTag/team}/*",
        },
        {
            "Sid": "Orders",
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:Query"],
            "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/Orders",
        },
        {
            "Sid": "Queue",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": "arn:aws:sqs:*:123456789012:orders-*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        },
        {"Sid": "Describe", "Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"},
        {
            "Sid": "OfficeNetworkOnly",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}},
        },
    ],
}
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::123456789012:saml-provider/ADFS"},
        "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
        "Condition": {"StringEquals": {"saml:aud": "https://signin.aws.amazon.com/saml"}},
    },
}
SESSION = "arn:aws:sts::123456789012:assumed-role/Analyst/alice"
BASE_KEYS = {
    "aws:PrincipalTag/team": "blue",
    "aws:SourceIp": "10.1.2.3",
    "aws:SecureTransport": True,
    "aws:TokenIssueTime": "2026-05-01T11:00:00Z",
}
# (action, resource, extra keys): two allows (variable and static), an implicit and an
# explicit deny, so no single fast path flatters the figure.
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("s3:GetObject", "arn:aws:s3:::data/teams/blue/2026/report.csv", {}),
    ("dynamodb:Query", "arn:aws:dynamodb:us-east-1:123456789012:table/Orders", {}),
    ("s3:GetObject", "arn:aws:s3:::data/teams/red/report.csv", {}),
    ("ec2:DescribeInstances", "*", {"aws:SourceIp": "198.51.100.7"}),
]


def time_per_op(body: Callable[[int], None], seconds: float) -> float:
    """Seconds per operation of `body(n)`, with n grown until one call takes `seconds`."""
    n = 1_000
    while True:
        start = time.perf_counter()
        body(n)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / n
        n = max(n * 2, int(n * seconds / max(elapsed, 1e-9) * 1.1))


def measurements() -> dict[str, Callable[[int], None]]:
    """Name → loop body; the first is the baseline."""
    from gateway.iam import (
        Principal,
        RequestContext,
        SessionPermissions,
        evaluate_session,
        evaluate_trust,
        parse_policy,
    )

    role = parse_policy(ROLE_POLICY, kind="identity").named("Analyst")
    permissions = SessionPermissions((role,), revoke_before=datetime(2026, 1, 1, tzinfo=UTC))
    principal = Principal.aws(SESSION)
    contexts = [
        RequestContext(action, resource, principal, {**BASE_KEYS, **extra})
        for action, resource, extra in REQUESTS
    ]
    expected = [True, True, False, False]
    got = [evaluate_session(permissions, c).allowed for c in contexts]
    if got != expected:
        raise SystemExit(f"benchmark requests decided {got}, expected {expected}")
    table = {c.action: i % 2 == 0 for i, c in enumerate(contexts)}
    requests = [(a, r, {**BASE_KEYS, **e}) for a, r, e in REQUESTS]
    trust = parse_policy(TRUST_POLICY, kind="trust")
    saml = Principal.federated("arn:aws:iam::123456789012:saml-provider/ADFS")
    trust_context = RequestContext(
        "sts:AssumeRoleWithSAML",
        "arn:aws:iam::123456789012:role/Analyst",
        saml,
        {"saml:aud": "https://signin.aws.amazon.com/saml", "aws:RequestTag/team": "blue"},
    )
    document = json.dumps(ROLE_POLICY)
    count = len(contexts)

    def baseline(n: int) -> None:
        get = table.get
        for i in range(n):
            get(contexts[i % count].action)

    def decision(n: int) -> None:
        for i in range(n):
            evaluate_session(permissions, contexts[i % count])

    def decision_with_context(n: int) -> None:
        for i in range(n):
            action, resource, keys = requests[i % count]
            evaluate_session(permissions, RequestContext(action, resource, principal, keys))

    def trust_decision(n: int) -> None:
        for _ in range(n):
            evaluate_trust(trust, trust_context, tag_session=True)

    def compile_policy(n: int) -> None:
        for _ in range(n):
            parse_policy(document, kind="identity")

    return {
        BASELINE: baseline,
        DECISION: decision,
        "decision + building the context": decision_with_context,
        "trust decision (SAML + TagSession)": trust_decision,
        "parse + compile the role policy": compile_policy,
    }


def human_time(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e3:.2f} ms"


def run(runs: int, seconds: float) -> tuple[str, dict[str, list[float]]]:
    """Seconds per operation of every measurement, `runs` times each, interleaved."""
    sys.path.insert(0, str(ROOT))
    from bench.common import pin_to_one_core

    pinned = pin_to_one_core()
    bodies = measurements()
    raw: dict[str, list[float]] = {name: [] for name in bodies}
    # Interleave the measurements so drift on a noisy machine hits them all alike.
    for _ in range(runs):
        for name, body in bodies.items():
            raw[name].append(time_per_op(body, seconds))
    return pinned, raw


def measure(runs: int) -> list[Any]:
    """`bench/run`'s row: compiled decisions per second on one core."""
    sys.path.insert(0, str(ROOT))
    from bench.common import Row, per_second, quick

    pinned, raw = run(runs, 0.1 if quick() else 0.4)
    medians = {name: statistics.median(values) for name, values in raw.items()}
    rate = 1 / medians[DECISION]
    baseline = 1 / medians[BASELINE]
    return [
        Row(
            path="Policy decision, compiled (in process, one core)",
            figure=f"{per_second(rate)} per core",
            baseline=f"dict lookup loop {per_second(baseline)}",
            ratio=None,
            goal=f">= {per_second(GOAL_PER_SECOND)} per core",
            passed=rate >= GOAL_PER_SECOND,
            raw={
                "cpu": pinned,
                "runs": runs,
                "seconds_per_op": raw,
                "per_second_median": {name: 1 / v for name, v in medians.items()},
            },
        )
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="repetitions; the median is printed")
    parser.add_argument("--seconds", type=float, default=0.4, help="target length of one run")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "policy.json")
    args = parser.parse_args()
    pinned, raw = run(args.runs, args.seconds)
    medians = {name: statistics.median(values) for name, values in raw.items()}
    baseline = medians[BASELINE]
    print(
        f"IAM policy decisions: Python {platform.python_version()}, {pinned}, "
        f"median of {args.runs} runs"
    )
    print(f"{'measurement':<36} {'per op':>10} {'per second':>12} {'vs baseline':>12}")
    for name, seconds in medians.items():
        print(
            f"{name:<36} {human_time(seconds):>10} {1 / seconds:>12,.0f} "
            f"{seconds / baseline:>11.1f}x"
        )
    rate = 1 / medians[DECISION]
    passed = rate >= GOAL_PER_SECOND
    print(
        f"goal: compiled policy decision ≥ {GOAL_PER_SECOND:,}/s on one core: "
        f"{'PASS' if passed else 'FAIL'} ({rate:,.0f}/s)"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "policy",
        "when": datetime.now(UTC).isoformat(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": pinned,
        "runs": args.runs,
        "seconds_per_op": raw,
        "median_seconds_per_op": medians,
        "baseline": BASELINE,
        "ratio_to_baseline": {name: value / baseline for name, value in medians.items()},
        "goal": {
            "measurement": DECISION,
            "per_second": GOAL_PER_SECOND,
            "achieved_per_second": rate,
            "pass": passed,
        },
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"raw numbers: {args.output}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
