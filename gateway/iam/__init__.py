"""IAM policy language: parse, validate, compile, evaluate, explain.

TEMPORARY STUB: the policy-engine work replaces this module's body; the two
functions below are the agreed public contract used by config import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from gateway.problems import Invalid, Problem

PolicyKind = Literal["trust", "identity", "session", "resource"]


def validate_policy(
    document: str | Mapping[str, Any], *, kind: PolicyKind, path: str = ""
) -> list[Problem]:
    """Every problem with a policy document, each with a path under `path`."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            return [Problem(path, f"not valid JSON: {exc}")]
    if not isinstance(document, Mapping):
        return [Problem(path, "expected a JSON object")]
    return []


def parse_policy(document: str | Mapping[str, Any], *, kind: PolicyKind, path: str = "") -> Any:
    """Parse and compile a policy; raises Invalid with every problem."""
    problems = validate_policy(document, kind=kind, path=path)
    if problems:
        raise Invalid(problems)
    return document
