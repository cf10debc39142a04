"""Policy variables: `${key}`, `${key, 'default'}`, escapes `${*}` `${?}` `${$}`, null values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.iam.wildcard import Segment

Values = tuple[str, ...]

_ESCAPES = {"*": "*", "?": "?", "$": "$"}
_VARIABLE = re.compile(r"\s*([^\s,'{}$]+)\s*(?:,\s*'([^']*)'\s*)?")


@dataclass(frozen=True, slots=True)
class Variable:
    """`${key}` or `${key, 'default'}`; `key` is lower-cased because condition keys are."""

    key: str
    default: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Verbatim:
    """An escaped character (`${*}` → `*`): never a wildcard."""

    text: str


# Plain `str` pieces are pattern text, where `*` and `?` keep their wildcard meaning.
Piece = str | Verbatim | Variable
Template = tuple[Piece, ...]


class TemplateError(ValueError):
    """A `${` that does not form a variable or an escape."""


def parse_template(text: str) -> Template:
    """Split `text` into pattern text, escapes and variables; raises TemplateError."""
    pieces: list[Piece] = []
    position = 0
    while True:
        start = text.find("${", position)
        if start < 0:
            break
        end = text.find("}", start + 2)
        if end < 0:
            raise TemplateError(
                f"unterminated policy variable at character {start}; write ${{$}} for a literal $"
            )
        if start > position:
            pieces.append(text[position:start])
        inner = text[start + 2 : end]
        if inner in _ESCAPES:
            pieces.append(Verbatim(_ESCAPES[inner]))
        else:
            match = _VARIABLE.fullmatch(inner)
            if match is None or ":" not in match.group(1):
                raise TemplateError(
                    f"invalid policy variable ${{{inner}}}; expected ${{prefix:key}} "
                    "or ${prefix:key, 'default'}"
                )
            pieces.append(Variable(match.group(1).lower(), match.group(2), text[start : end + 1]))
        position = end + 1
    if position < len(text) or not pieces:
        pieces.append(text[position:])
    return tuple(pieces)


def has_variables(template: Template) -> bool:
    """Whether any piece depends on the request (a variable)."""
    return any(isinstance(piece, Variable) for piece in template)


def is_plain(template: Template) -> bool:
    """Whether the template is one piece of pattern text (no escapes, no variables)."""
    return len(template) == 1 and isinstance(template[0], str)


def variable_value(variable: Variable, keys: Mapping[str, Values]) -> str | None:
    """The variable's value: the key's single value, else the default, else None (null)."""
    values = keys.get(variable.key)
    # Only single-valued keys may be variables; a multi-valued one is treated as absent so a
    # policy can never be satisfied by picking whichever value suits the caller.
    if values is not None and len(values) == 1:
        return values[0]
    return variable.default


def resolve(template: Template, keys: Mapping[str, Values]) -> tuple[Segment, ...] | None:
    """Pattern pieces with variables substituted (as literal text), or None if one is null."""
    out: list[Segment] = []
    for piece in template:
        if isinstance(piece, str):
            out.append((piece, True))
        elif isinstance(piece, Verbatim):
            out.append((piece.text, False))
        else:
            value = variable_value(piece, keys)
            if value is None:
                return None
            out.append((value, False))
    return tuple(out)


def resolve_text(template: Template, keys: Mapping[str, Values]) -> str | None:
    """The substituted text (escapes become their character), or None if a variable is null."""
    segments = resolve(template, keys)
    if segments is None:
        return None
    return "".join(text for text, _ in segments)


def static_segments(template: Template) -> tuple[Segment, ...]:
    """Pattern pieces of a template without variables."""
    resolved = resolve(template, {})
    assert resolved is not None, "static_segments() needs a template without variables"
    return resolved
