"""Wildcard patterns (`*` any run of characters, `?` exactly one) compiled to fast matchers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

Matcher = Callable[[str], bool]

# A pattern piece: its text and whether `*`/`?` in it are wildcards. Pieces that came from a
# policy variable or an escape such as `${*}` are literal, so a user named `*` matches only `*`.
Segment = tuple[str, bool]


def has_wildcards(text: str) -> bool:
    """Whether `text` contains `*` or `?`."""
    return "*" in text or "?" in text


# A wildcard pattern as tokens: ("lit", character), ("one", class) or ("star", class), where
# class is the regex for one character the wildcard may stand for (`.` or, in ARN head
# segments, `[^:]`).
Token = tuple[str, str]


def segments_regex(segments: Iterable[Segment]) -> str:
    """Regular-expression source equivalent to the pattern pieces, anchored by fullmatch."""
    tokens: list[Token] = []
    for text, active in segments:
        for char in text:
            if active and char == "*":
                tokens.append(("star", "."))
            elif active and char == "?":
                tokens.append(("one", "."))
            else:
                tokens.append(("lit", char))
    return tokens_regex(tokens)


def tokens_regex(tokens: Iterable[Token]) -> str:
    """Regex source for wildcard tokens that matches in linear time, whatever the input.

    A naive `.*a.*a.*b` backtracks polynomially on hostile values (ReDoS). The groups between
    stars have fixed length, so committing to each group's leftmost occurrence is always
    right; an atomic group `(?>.*?group)` does exactly that and never backtracks into it.
    """
    groups: list[str] = []
    stars: list[str] = []
    current: list[str] = []
    for kind, value in tokens:
        if kind == "star":
            groups.append("".join(current))
            current = []
            stars.append(value)
        elif kind == "one":
            current.append(value)
        else:
            current.append(re.escape(value))
    groups.append("".join(current))
    if not stars:
        return groups[0]
    middle = "".join(
        f"(?>{cls}*?{group})" for cls, group in zip(stars[:-1], groups[1:-1], strict=True)
    )
    return f"{groups[0]}{middle}{stars[-1]}*{groups[-1]}"


def _always(_: str) -> bool:
    return True


def _never(_: str) -> bool:
    return False


@lru_cache(maxsize=4096)
def compile_regex(source: str) -> Matcher:
    """A fullmatch matcher for regex source, cached so equal patterns compile once."""
    # DOTALL: `*` must cross newlines too, or a crafted value could escape a Deny.
    fullmatch = re.compile(source, re.DOTALL).fullmatch
    return lambda text: fullmatch(text) is not None


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> Matcher:
    """A matcher for one wildcard pattern; `ignore_case` lower-cases both sides."""
    return compile_segments(((pattern, True),), ignore_case=ignore_case)


@lru_cache(maxsize=4096)
def compile_segments(segments: tuple[Segment, ...], *, ignore_case: bool = False) -> Matcher:
    """A matcher for pattern pieces, taking the exact and prefix fast paths when it can."""
    if ignore_case:
        segments = tuple((text.lower(), active) for text, active in segments)
        inner = compile_segments(segments)
        return lambda text: inner(text.lower())
    literal, tail_star = _split_literal(segments)
    if literal is not None:
        if tail_star:
            return _always if literal == "" else _startswith(literal)
        return literal.__eq__
    return compile_regex(segments_regex(segments))


def compile_patterns(patterns: Iterable[str], *, ignore_case: bool = False) -> Matcher:
    """One matcher for a list of patterns (OR): a set lookup, a prefix tuple, one regex."""
    exact: set[str] = set()
    prefixes: list[str] = []
    regexes: list[str] = []
    for raw in patterns:
        pattern = raw.lower() if ignore_case else raw
        literal, tail_star = _split_literal(((pattern, True),))
        if literal is None:
            regexes.append(segments_regex(((pattern, True),)))
        elif tail_star:
            if literal == "":
                return _always
            prefixes.append(literal)
        else:
            exact.add(literal)
    matcher = _combine(frozenset(exact), tuple(prefixes), regexes)
    if ignore_case:
        return lambda text: matcher(text.lower())
    return matcher


def _combine(exact: frozenset[str], prefixes: tuple[str, ...], regexes: list[str]) -> Matcher:
    rx = compile_regex("|".join(f"(?:{r})" for r in regexes)) if regexes else None
    if rx is None and not prefixes:
        if not exact:
            return _never
        if len(exact) == 1:
            return next(iter(exact)).__eq__
        return exact.__contains__
    if rx is None:
        if not exact:
            return _startswith_any(prefixes)
        return lambda text: text in exact or text.startswith(prefixes)
    if not prefixes and not exact:
        return rx
    return lambda text: text in exact or text.startswith(prefixes) or rx(text)


def _startswith(prefix: str) -> Matcher:
    return lambda text: text.startswith(prefix)


def _startswith_any(prefixes: tuple[str, ...]) -> Matcher:
    return lambda text: text.startswith(prefixes)


def _split_literal(segments: Iterable[Segment]) -> tuple[str | None, bool]:
    """(literal text, ends with an active `*`) when no other wildcard is active, else (None, _)."""
    parts: list[str] = []
    pieces = list(segments)
    tail_star = False
    for position, (text, active) in enumerate(pieces):
        if not active or not has_wildcards(text):
            parts.append(text)
            continue
        last = position == len(pieces) - 1
        body = text[:-1] if last and text.endswith("*") else None
        if body is None or has_wildcards(body):
            return None, False
        parts.append(body)
        tail_star = True
    return "".join(parts), tail_star
