"""`pip-audit` over the virtual environment, honest about what it could not check.

pip-audit says "No known vulnerabilities found" even when the advisory service (PyPI's
JSON API) answered for none of the packages, e.g. behind a registry mirror that serves
only the simple index. So this reads its JSON report and prints one of:

* vulnerable packages, then exits 1 (CI fails);
* "clean": every package was checked and none is vulnerable;
* "NOT AUDITED": the service could not be asked for some or all packages. That is
  reported loudly but does not fail the run, unless PIP_AUDIT_REQUIRED=1 (set it where
  the service is reachable, so a silent outage cannot pass for a clean audit).

Usage: .venv/bin/python .ci/dependency_audit.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PIP_AUDIT = Path(sys.executable).with_name("pip-audit")


def main() -> int:
    required = os.environ.get("PIP_AUDIT_REQUIRED") == "1"
    try:
        run = subprocess.run(
            [str(PIP_AUDIT), "--format", "json", "--progress-spinner", "off", "--skip-editable"],
            capture_output=True, text=True, timeout=600, check=False,
        )
    except subprocess.TimeoutExpired:
        print("pip-audit: NOT AUDITED, the advisory service did not answer within 600 s")
        return 1 if required else 0
    try:
        report = json.loads(run.stdout)
    except ValueError:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"pip-audit: NOT AUDITED, the advisory service could not be asked: {last}")
        return 1 if required else 0
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if "skip_reason" in d]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    for dep in vulnerable:
        ids = ", ".join(v["id"] + (f" (fixed in {', '.join(v['fix_versions'])})"
                                   if v.get("fix_versions") else "") for v in dep["vulns"])
        print(f"pip-audit: {dep['name']} {dep['version']} is vulnerable: {ids}")
    if vulnerable:
        return 1
    checked = len(dependencies) - len(skipped)
    if skipped:
        print(f"pip-audit: NOT AUDITED, {len(skipped)} of {len(dependencies)} packages could "
              f"not be checked (advisory service unreachable or package unknown to it), "
              f"{checked} checked clean. First: {skipped[0]['skip_reason']}")
        return 1 if required else 0
    print(f"pip-audit: clean, {checked} packages checked, no known vulnerabilities")
    return 0


if __name__ == "__main__":
    sys.exit(main())
