"""Structural mutation of a valid document: fuzzing near the shape a parser expects."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from tests.fuzz.strategies import JSON, WORD

Path = tuple[Any, ...]


def paths(document: Any, prefix: Path = ()) -> list[Path]:
    """Every node's path (mapping keys and list indexes), the root included."""
    found: list[Path] = [prefix]
    if isinstance(document, dict):
        for name, value in document.items():
            found.extend(paths(value, (*prefix, name)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found.extend(paths(value, (*prefix, index)))
    return found


def _parent(document: Any, path: Path) -> Any:
    node = document
    for step in path[:-1]:
        node = node[step]
    return node


@st.composite
def mutated(draw: st.DrawFn, original: Any, max_edits: int = 3) -> Any:
    """`original` with 1..max_edits nodes replaced, removed, duplicated or retyped."""
    document = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, max_edits))):
        candidates = paths(document)
        path = draw(st.sampled_from(candidates))
        action = draw(st.sampled_from(["replace", "remove", "duplicate", "add", "empty"]))
        if not path:
            if action == "replace":
                document = draw(JSON)
            continue
        parent = _parent(document, path)
        step = path[-1]
        if action == "replace":
            parent[step] = draw(JSON)
        elif action == "remove":
            del parent[step]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(step, copy.deepcopy(parent[step]))
        elif action == "add" and isinstance(parent, dict):
            parent[draw(WORD)] = draw(JSON)
        elif action == "empty":
            parent[step] = type(parent[step])() if isinstance(parent[step], (dict, list, str)) \
                else None
    return document
