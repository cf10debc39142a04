"""Reading admin forms into configuration documents, and problems back onto fields."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from gateway.problems import Problem, join
from gateway.store.config_schema import OPERATORS

MAX_CONDITIONS = 4  # rows the condition builder offers


def text(form: MultiDict[str, str], name: str) -> str:
    """A single-line field, trimmed."""
    return (form.get(name) or "").strip()


def block(form: MultiDict[str, str], name: str) -> str:
    """A multi-line field with line endings normalized (browsers send CRLF)."""
    return (form.get(name) or "").replace("\r\n", "\n").strip()


def lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def integer_or_text(value: str) -> int | str:
    """An integer when the field holds one; otherwise the text, for validation to name."""
    try:
        return int(value)
    except ValueError:
        return value


def parse_tags(value: str) -> tuple[dict[str, str], list[Problem]]:
    """`key=value` per line."""
    tags: dict[str, str] = {}
    problems: list[Problem] = []
    for number, line in enumerate(value.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, tag_value = line.partition("=")
        if not sep:
            problems.append(Problem("tags", f"line {number}: expected key=value, got {line!r}"))
        elif key.strip() in tags:
            problems.append(Problem(join("tags", key.strip()), "the same key twice"))
        else:
            tags[key.strip()] = tag_value.strip()
    return tags, problems


def tags_text(tags: Mapping[str, str] | None) -> str:
    return "\n".join(f"{k}={v}" for k, v in (tags or {}).items())


@dataclass(frozen=True, slots=True)
class ConditionRow:
    claim: str = ""
    operator: str = "equals"
    value: str = ""


def condition_rows(form: MultiDict[str, str], prefix: str = "cond") -> list[ConditionRow]:
    rows = []
    for index in range(MAX_CONDITIONS):
        rows.append(ConditionRow(
            claim=text(form, f"{prefix}-{index}-claim"),
            operator=text(form, f"{prefix}-{index}-operator") or "equals",
            value=text(form, f"{prefix}-{index}-value"),
        ))
    return rows


def condition_documents(rows: Iterable[ConditionRow]) -> list[dict[str, Any]]:
    """The filled-in rows as conditions; `in` takes comma-separated values."""
    documents: list[dict[str, Any]] = []
    for row in rows:
        if not row.claim and not row.value:
            continue
        if row.operator == "in":
            values = [v.strip() for v in row.value.split(",") if v.strip()]
            documents.append({"claim": row.claim, "operator": "in", "values": values})
        else:
            documents.append({"claim": row.claim, "operator": row.operator, "value": row.value})
    return documents


def rows_of(conditions: Sequence[Mapping[str, Any]]) -> list[ConditionRow]:
    """Stored conditions as builder rows, padded with empty rows."""
    rows = [
        ConditionRow(
            str(c.get("claim", "")), str(c.get("operator", "equals")),
            ", ".join(c["values"]) if "values" in c else str(c.get("value", "")),
        )
        for c in conditions
    ][:MAX_CONDITIONS]
    return rows + [ConditionRow() for _ in range(MAX_CONDITIONS - len(rows))]


def operators() -> tuple[str, ...]:
    return tuple(OPERATORS)


class FieldProblems:
    """Problems sorted onto the form fields they belong to; the rest stay general.

    A problem belongs to the field whose name is its path or a prefix of it at a
    path boundary (`trust_policy.Statement[0].Effect` → `trust_policy`); the longest
    matching field wins, so `policies.Read` beats `policies`.
    """

    def __init__(self, problems: Iterable[Problem], fields: Iterable[str]) -> None:
        self.by_field: dict[str, list[Problem]] = {}
        self.general: list[Problem] = []
        ordered = sorted(set(fields), key=len, reverse=True)
        for problem in problems:
            owner = next((f for f in ordered if _under(problem.path, f)), None)
            if owner is None:
                self.general.append(problem)
            else:
                self.by_field.setdefault(owner, []).append(problem)

    def __call__(self, field: str) -> list[Problem]:
        return self.by_field.get(field, [])

    def __bool__(self) -> bool:
        return bool(self.general or self.by_field)

    @property
    def all(self) -> list[Problem]:
        return self.general + [p for ps in self.by_field.values() for p in ps]


def _under(path: str, field: str) -> bool:
    return path == field or path.startswith(field + ".") or path.startswith(field + "[")
