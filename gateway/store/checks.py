"""Small typed readers for untrusted nested data that collect every problem.

Each reader returns the value when it is acceptable and None otherwise, having
appended a `Problem` naming the exact path. Callers therefore keep going after
an error and report everything in one pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from gateway.problems import Problem, join

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def describe(value: Any) -> str:
    """How a YAML/JSON value's type reads in a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


class Reader:
    """Collects problems while reading one document."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def mapping(
        self,
        value: Any,
        path: str,
        *,
        required: Collection[str] = (),
        optional: Collection[str] = (),
        what: str = "a mapping",
    ) -> Mapping[str, Any] | None:
        """A mapping with exactly these keys allowed; reports missing and unknown ones."""
        if not isinstance(value, Mapping):
            self.problem(path, f"expected {what}, got {describe(value)}")
            return None
        allowed = [*required, *optional]
        for key in value:
            if not isinstance(key, str):
                self.problem(path, f"keys must be strings, got {describe(key)} {key!r}")
            elif key not in allowed:
                self.problem(
                    join(path, key), f"unknown key (expected one of: {', '.join(allowed)})"
                )
        for key in required:
            if key not in value:
                self.problem(join(path, key), "required")
        return value

    def items(self, value: Any, path: str) -> list[tuple[str, Any]] | None:
        """Entries of a free-form mapping whose keys must be strings."""
        if not isinstance(value, Mapping):
            self.problem(path, f"expected a mapping, got {describe(value)}")
            return None
        entries: list[tuple[str, Any]] = []
        for key, item in value.items():
            if isinstance(key, str):
                entries.append((key, item))
            else:
                self.problem(path, f"keys must be strings, got {describe(key)} {key!r}")
        return entries

    def sequence(self, value: Any, path: str) -> list[Any] | None:
        if not isinstance(value, list | tuple):
            self.problem(path, f"expected a list, got {describe(value)}")
            return None
        return list(value)

    def string(
        self,
        value: Any,
        path: str,
        *,
        pattern: re.Pattern[str] | None = None,
        expected: str = "",
        max_length: int | None = None,
        allow_empty: bool = True,
    ) -> str | None:
        """A string; `expected` phrases the pattern for the message."""
        if not isinstance(value, str):
            hint = " (quote it)" if isinstance(value, int | float) and pattern else ""
            self.problem(path, f"expected {expected or 'a string'}, got {describe(value)}{hint}")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.problem(path, f"expected {expected}, got {value!r}")
            return None
        if not allow_empty and not value.strip():
            self.problem(path, "must not be empty")
            return None
        if max_length is not None and len(value) > max_length:
            self.problem(path, f"at most {max_length} characters, got {len(value)}")
            return None
        return value

    def boolean(self, value: Any, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.problem(path, f"expected true or false, got {describe(value)}")
            return None
        return value

    def integer(self, value: Any, path: str, *, low: int, high: int, unit: str = "") -> int | None:
        expected = f"an integer from {low} to {high}{f' ({unit})' if unit else ''}"
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(path, f"expected {expected}, got {describe(value)}")
            return None
        if not low <= value <= high:
            self.problem(path, f"expected {expected}, got {value}")
            return None
        return value

    def choice(self, value: Any, path: str, choices: Collection[str]) -> str | None:
        if not isinstance(value, str) or value not in choices:
            shown = repr(value) if isinstance(value, str) else describe(value)
            self.problem(path, f"expected one of {', '.join(choices)}, got {shown}")
            return None
        return value

    def url(self, value: Any, path: str, *, allow_query: bool = True) -> str | None:
        """An https URL; plain http only for the local machine (demo and tests)."""
        text = self.string(value, path, expected="a URL", max_length=2048)
        if text is None:
            return None
        try:
            parts = urlsplit(text)
            host = parts.hostname
        except ValueError:
            host = None
        if host is None or not (
            parts.scheme == "https" or (parts.scheme == "http" and host in LOCAL_HOSTS)
        ):
            self.problem(
                path, f"expected an https:// URL (http:// only for localhost), got {text!r}"
            )
            return None
        if parts.fragment or (parts.query and not allow_query):
            self.problem(
                path, f"expected a URL without {'query or ' if not allow_query else ''}fragment"
            )
            return None
        return text

    def strings(
        self,
        value: Any,
        path: str,
        *,
        pattern: re.Pattern[str] | None = None,
        expected: str = "a string",
        max_length: int | None = None,
        non_empty: bool = False,
    ) -> tuple[str, ...] | None:
        """A list of distinct strings, order kept."""
        items = self.sequence(value, path)
        if items is None:
            return None
        if non_empty and not items:
            self.problem(path, "must not be empty")
            return None
        result: list[str] = []
        ok = True
        for index, item in enumerate(items):
            text = self.string(
                item,
                join(path, index),
                pattern=pattern,
                expected=expected,
                max_length=max_length,
                allow_empty=False,
            )
            if text is None:
                ok = False
            elif text in result:
                self.problem(join(path, index), f"duplicate {text!r}")
                ok = False
            else:
                result.append(text)
        return tuple(result) if ok else None

    def json_value(self, value: Any, path: str) -> bool:
        """True when `value` is plain JSON (YAML can carry sets, bytes, non-string keys)."""
        if value is None or isinstance(value, str | bool | int):
            return True
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                self.problem(path, "not representable in JSON")
                return False
            return True
        if isinstance(value, list | tuple):
            return all([self.json_value(v, join(path, i)) for i, v in enumerate(value)])
        if isinstance(value, Mapping):
            ok = True
            for key, item in value.items():
                if not isinstance(key, str):
                    self.problem(path, f"keys must be strings, got {describe(key)} {key!r}")
                    ok = False
                elif not self.json_value(item, join(path, key)):
                    ok = False
            return ok
        self.problem(path, f"not representable in JSON: {describe(value)}")
        return False

    def json_document(self, value: Any, path: str) -> Mapping[str, Any] | None:
        """A mapping, or a string holding a JSON object (as pasted from AWS)."""
        if isinstance(value, str):
            try:
                value = json.loads(value, object_pairs_hook=_no_duplicate_keys)
            except ValueError as exc:
                self.problem(path, f"not valid JSON: {exc}")
                return None
        if not isinstance(value, Mapping):
            self.problem(path, f"expected a mapping (or a JSON object), got {describe(value)}")
            return None
        return value if self.json_value(value, path) else None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result
