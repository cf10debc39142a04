"""`bench/run`: one table, the raw numbers as JSON, a comparison, the exit status.

Only the shape is checked; how fast anything is belongs to the benchmarks themselves.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "bench" / "run"
COLUMNS = ["path", "figure", "baseline (same run)", "ratio", "goal", "result"]
ROW_KEYS = {"module", "path", "figure", "baseline", "ratio", "goal", "passed", "raw"}


def bench_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RUN), *args], capture_output=True, text=True, timeout=600)


def table_rows(stdout: str, header: list[str]) -> list[list[str]]:
    """The cells of the table whose header is `header`."""
    lines = stdout.splitlines()
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    start = cells.index(header)
    rows = []
    for line, row in zip(lines[start + 2 :], cells[start + 2 :], strict=False):
        if not line.startswith("|"):
            break
        rows.append(row)
    return rows


def test_quick_policy_run_prints_the_table_saves_json_and_compares(tmp_path: Path) -> None:
    old_row = {
        "module": "policy",
        "path": "Policy decision, compiled (in process, one core)",
        "figure": "1/s per core",
        "baseline": "old",
        "ratio": None,
        "goal": "g",
        "passed": False,
        "raw": {},
    }
    old = tmp_path / "old.json"
    old.write_text(
        json.dumps(
            {"when": "2026-01-01T00:00:00+00:00", "git": {"sha": "abc1234"}, "rows": [old_row]}
        )
    )
    results = tmp_path / "results"

    done = bench_run(
        "--quick", "--only", "policy", "--results", str(results), "--compare", str(old)
    )

    latest: dict[str, Any] = json.loads((results / "latest.json").read_text())
    assert {"when", "git", "python", "cpus", "runs", "quick", "modules", "rows"} <= set(latest)
    assert latest["quick"] is True and latest["runs"] == 1
    assert [m["name"] for m in latest["modules"]] == ["policy"]
    [row] = latest["rows"]
    assert set(row) == ROW_KEYS
    assert row["module"] == "policy" and row["path"] == old_row["path"]
    assert isinstance(row["passed"], bool)
    assert re.fullmatch(r"[\d,]+/s per core", row["figure"])
    # Every raw measurement is kept, one per run.
    assert all(len(v) == 1 for v in row["raw"]["seconds_per_op"].values())
    saved = [p for p in results.iterdir() if p.name != "latest.json"]
    assert len(saved) == 1
    assert re.fullmatch(rf"\d{{8}}T\d{{6}}Z-{latest['git']['sha']}\.json", saved[0].name)
    assert json.loads(saved[0].read_text()) == latest

    [cells] = table_rows(done.stdout, COLUMNS)
    assert cells == [
        row["path"],
        row["figure"],
        row["baseline"],
        "",
        row["goal"],
        "pass" if row["passed"] else "FAIL",
    ]
    [compared] = table_rows(
        done.stdout, ["path", "old figure", "new figure", "old ratio", "new ratio", "result"]
    )
    assert compared[:3] == [row["path"], "1/s per core", row["figure"]]
    assert "abc1234" in done.stdout
    assert done.returncode == (0 if row["passed"] else 1), done.stderr


FINE = """
from bench.common import Row


def measure(runs):
    return [Row("fine path", f"{runs} run(s)", "base", 2.0, ">= 1x", True, {"runs": runs})]
"""
UNCONVERTED = """
if __name__ == "__main__":
    print("old style")
"""
BROKEN = """
def measure(runs):
    raise RuntimeError("the server did not start")
"""


def test_unconverted_and_crashing_modules_are_failing_rows(tmp_path: Path) -> None:
    (tmp_path / "bench_fine.py").write_text(FINE)
    (tmp_path / "bench_old.py").write_text(UNCONVERTED)
    (tmp_path / "bench_broken.py").write_text(BROKEN)
    results = tmp_path / "results"

    done = bench_run("--dir", str(tmp_path), "--runs", "3", "--results", str(results))

    assert done.returncode == 1
    rows = {r["module"]: r for r in json.loads((results / "latest.json").read_text())["rows"]}
    assert rows["fine"]["passed"] is True and rows["fine"]["figure"] == "3 run(s)"
    assert rows["old"]["passed"] is False and "not converted yet" in rows["old"]["figure"]
    assert rows["broken"]["passed"] is False
    assert "the server did not start" in rows["broken"]["figure"]
    table = {cells[0]: cells for cells in table_rows(done.stdout, COLUMNS)}
    assert table["fine path"][3:] == ["2.00x", ">= 1x", "pass"]
    assert table["bench_old.py"][-1] == "FAIL"


def test_all_rows_passing_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "bench_fine.py").write_text(FINE)
    done = bench_run("--dir", str(tmp_path), "--results", str(tmp_path / "results"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every row passes" in done.stdout
