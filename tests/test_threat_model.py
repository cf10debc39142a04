"""docs/threat-model.md names only tests that exist (a renamed test must update it)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "docs" / "threat-model.md"
REFERENCE = re.compile(r"`((?:tests/[\w/]+\.py)?)((?:::\w+)?)[^`]*`")


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_test_the_threat_model_names_exists() -> None:
    current: Path | None = None
    named = 0
    for file, test in REFERENCE.findall(MODEL.read_text()):
        if file:
            current = ROOT / file
            assert current.is_file(), file
        if test:
            assert current is not None, test
            assert test[2:] in _test_names(current), f"{current.relative_to(ROOT)}{test}"
            named += 1
    assert named >= 60, named
    for directory in re.findall(r"`(tests/[\w/]+/)`", MODEL.read_text()):
        assert (ROOT / directory).is_dir(), directory
