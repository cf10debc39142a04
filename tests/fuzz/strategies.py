"""Input generators shared by the fuzz tests: JSON values, near-miss strings, XML trees."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Characters parsers tend to trip on: separators, quotes, escapes, controls, wide ones.
AWKWARD = "\x00\t\n\r \"'\\/:;,=&%*?$.{}[]<>#@+-_~|`^()!\u00e9\u2028\ud7ff\U0001f600"
WORD = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(AWKWARD), max_size=24)
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False), WORD,
)
JSON: st.SearchStrategy[Any] = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(WORD, inner, max_size=4),
    max_leaves=24,
)


def mixed(*likely: Any) -> st.SearchStrategy[Any]:
    """Mostly plausible values, sometimes anything at all."""
    return st.one_of(st.sampled_from(likely), JSON)


def key(*likely: str) -> st.SearchStrategy[str]:
    """A mapping key: mostly a known name, sometimes any text."""
    return st.one_of(st.sampled_from(likely), WORD)


def often(valid: Any, other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`valid` four times in five, else `other`: most inputs get past the first checks."""
    return st.integers(0, 4).flatmap(lambda i: st.just(valid) if i else other)
