"""`bench/run`: every benchmark, one table, raw numbers saved as JSON.

Each `bench/bench_*.py` exposing `measure(runs) -> list[Row]` runs in a process of its
own (a module pinning itself to one core, or leaving servers behind, cannot skew the
next one). The table has a row per figure: path, figure, the baseline measured in the
same run, ratio, goal, pass/fail. The rows and their raw numbers go to
bench/results/<UTC timestamp>-<git short sha>.json and bench/results/latest.json;
`--compare FILE` prints an earlier file's figures beside the new ones.
Exit status 0 only when every row passes.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DEFAULT_RUNS = 5
QUICK_RUNS = 1
COLUMNS = ("path", "figure", "baseline (same run)", "ratio", "goal", "result")


def discover(directory: Path = BENCH) -> list[str]:
    """Short names of the benchmark modules: bench_policy.py → policy."""
    return sorted(p.stem.removeprefix("bench_") for p in directory.glob("bench_*.py"))


# --- one module, in a child process -------------------------------------------------------


def load(directory: Path, name: str) -> ModuleType:
    if directory.resolve() == BENCH:
        return importlib.import_module(f"bench.bench_{name}")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", directory / f"bench_{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def child(directory: Path, name: str, runs: int, out: Path) -> None:
    """Import one module, call its `measure`, write the rows as JSON to `out`."""
    sys.path.insert(0, str(ROOT))
    module = load(directory, name)
    measure = getattr(module, "measure", None)
    if measure is None:
        out.write_text(json.dumps({"converted": False}))
        return
    rows = [dataclasses.asdict(row) for row in measure(runs)]
    out.write_text(json.dumps({"converted": True, "rows": rows}, default=str))


def failed_row(name: str, figure: str) -> dict[str, Any]:
    return {
        "path": f"bench_{name}.py",
        "figure": figure,
        "baseline": "",
        "ratio": None,
        "goal": "",
        "passed": False,
        "raw": {},
    }


def run_module(
    directory: Path, name: str, runs: int, quick: bool, timeout: float
) -> dict[str, Any]:
    """Rows of one module (a failing row when it crashed, timed out or lacks `measure`)."""
    started = time.monotonic()
    env = {**os.environ, "BENCH_QUICK": "1" if quick else "0"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        try:
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--dir",
                    str(directory),
                    "--child",
                    name,
                    "--runs",
                    str(runs),
                    "--child-out",
                    str(out),
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            output, code = done.stdout + done.stderr, done.returncode
        except subprocess.TimeoutExpired as exc:
            output, code = f"timed out after {timeout:.0f} s\n{exc.stderr or ''}", -1
        result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    seconds = time.monotonic() - started
    if result.get("converted") is False:
        rows = [failed_row(name, "not converted yet (no measure())")]
    elif code != 0 or "rows" not in result:
        last = [line for line in output.strip().splitlines() if line.strip()][-1:] or ["?"]
        rows = [failed_row(name, f"error: {last[0][:120]}")]
        sys.stderr.write(
            f"--- bench_{name} failed (exit {code}); its output:\n{output[-4000:]}\n---\n"
        )
    else:
        rows = result["rows"]
    for row in rows:
        row["module"] = name
    return {"name": name, "seconds": seconds, "exit": code, "rows": rows}


# --- the table -----------------------------------------------------------------------------


def cells(row: dict[str, Any]) -> list[str]:
    ratio = row.get("ratio")
    return [
        row["path"],
        row["figure"],
        row["baseline"],
        "" if ratio is None else f"{ratio:.2f}x",
        row["goal"],
        "pass" if row["passed"] else "FAIL",
    ]


def table(header: tuple[str, ...] | list[str], lines: list[list[str]]) -> str:
    """A Markdown table padded to line up in a terminal (and pasteable into the README)."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=False)]

    def line(values: list[str] | tuple[str, ...]) -> str:
        padded = (str(v).ljust(w) for v, w in zip(values, widths, strict=True))
        return "| " + " | ".join(padded) + " |"

    return "\n".join(
        [
            line(header),
            "|" + "|".join("-" * (w + 2) for w in widths) + "|",
            *(line(v) for v in lines),
        ]
    )


def comparison(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Old vs new per row, matched by module and path."""
    before = {(r.get("module"), r["path"]): r for r in old.get("rows", [])}
    lines = []
    for row in new["rows"]:
        prior = before.pop((row.get("module"), row["path"]), None)
        if prior is None:
            now = cells(row)
            lines.append([row["path"], "(new row)", row["figure"], "", now[3], now[5]])
            continue
        lines.append(
            [
                row["path"],
                prior["figure"],
                row["figure"],
                cells(prior)[3],
                cells(row)[3],
                f"{cells(prior)[5]} → {cells(row)[5]}",
            ]
        )
    for row in before.values():
        lines.append(
            [row["path"], row["figure"], "(not measured now)", cells(row)[3], "", cells(row)[5]]
        )
    title = f"Compared with {old.get('git', {}).get('sha', '?')} of {old.get('when', '?')}:"
    return (
        title
        + "\n"
        + table(("path", "old figure", "new figure", "old ratio", "new ratio", "result"), lines)
    )


# --- the run -------------------------------------------------------------------------------


def git() -> dict[str, Any]:
    def out(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {
        "sha": out("rev-parse", "--short", "HEAD") or "nogit",
        "dirty": bool(out("status", "--porcelain", "--untracked-files=no")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/run", description="Run every benchmark and print one table."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a fast smoke run: one run per figure, shorter measurements",
    )
    parser.add_argument(
        "--runs",
        type=int,
        help=f"runs per figure, the median is reported (default {DEFAULT_RUNS}, "
        f"{QUICK_RUNS} with --quick)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only these benchmarks (policy, sigv4, ...; repeatable or comma-separated)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="FILE",
        help="an earlier results JSON file: print its figures beside the new",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=BENCH / "results",
        help="directory for the JSON files (default bench/results)",
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds one benchmark module may take"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--dir", type=Path, default=BENCH, help="directory of bench_*.py modules (default bench/)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.dir = args.dir.resolve()  # the children run in the repository root

    runs = args.runs or (QUICK_RUNS if args.quick else DEFAULT_RUNS)
    if args.child:
        child(args.dir, args.child, runs, args.child_out)
        return 0
    names = discover(args.dir)
    if args.list:
        print("\n".join(names))
        return 0
    wanted = [n for item in args.only for n in item.split(",") if n]
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        parser.error(f"no such benchmark: {', '.join(unknown)} (there are: {', '.join(names)})")
    if wanted:
        names = [n for n in names if n in wanted]
    old = json.loads(args.compare.read_text()) if args.compare else None

    started = datetime.now(UTC)
    load_before = os.getloadavg()
    modules = []
    for name in names:
        print(f"bench_{name} ...", file=sys.stderr, flush=True)
        result = run_module(args.dir, name, runs, args.quick, args.timeout)
        print(f"bench_{name}: {result['seconds']:.0f} s", file=sys.stderr, flush=True)
        modules.append(result)
    rows = [row for m in modules for row in m["rows"]]
    report = {
        "when": started.isoformat(timespec="seconds"),
        "git": git(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_before_after": [load_before, os.getloadavg()],
        "runs": runs,
        "quick": args.quick,
        "modules": [{k: m[k] for k in ("name", "seconds", "exit")} for m in modules],
        "rows": rows,
    }
    passed = all(row["passed"] for row in rows) and bool(rows)

    sha = report["git"]["sha"] + ("+dirty" if report["git"]["dirty"] else "")
    print(
        f"bench/run {started:%Y-%m-%d %H:%M} UTC, {sha}, Python {report['python']} "
        f"on {report['cpus']} CPUs, {runs} run(s) per figure (medians)"
        f"{', QUICK smoke run' if args.quick else ''}; load average "
        f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(table(COLUMNS, [cells(row) for row in rows]))
    if old is not None:
        print()
        print(comparison(old, report))

    args.results.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, default=str) + "\n"
    saved = args.results / f"{started:%Y%m%dT%H%M%SZ}-{report['git']['sha']}.json"
    saved.write_text(text)
    (args.results / "latest.json").write_text(text)
    print(
        f"\n{'every row passes' if passed else 'FAIL: not every row passes'}; raw numbers: {saved}"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
