"""YAML configuration (gateway.store.config_io, config_schema): any text or document is
read into a ConfigSpec or refused with `Invalid` listing problems; nothing else escapes.
"""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.problems import Invalid
from gateway.store.config_io import load_yaml
from gateway.store.config_schema import parse_config, validate_config
from tests.fuzz.mutate import mutated
from tests.fuzz.strategies import AWKWARD

DEMO_TEXT = resources.files("gateway").joinpath("demo_config.yaml").read_text()
DEMO = load_yaml(DEMO_TEXT)
YAML_BITS = ["\n", ": ", "- ", "  ", "&a ", "*a", "!!python/object:os.system ", "{", "}", "[",
             "]", "'", '"', "|", ">", "? ", "---", "...", "%YAML 1.1", "<<: *a", "!!binary ",
             "\t", "#", "~", "2012-10-17", "no", "0x1F", "1e400", ".nan"]


def _read(data: Any) -> None:
    problems = validate_config(data)
    try:
        parse_config(data)
    except Invalid as exc:
        assert exc.problems and problems
        return
    assert not problems


@given(document=mutated(DEMO))
def test_a_mutated_demo_config_is_read_or_refused_with_problems(document: Any) -> None:
    _read(document)


@given(edits=st.lists(st.tuples(st.integers(0, len(DEMO_TEXT)),
                                st.text(st.sampled_from(AWKWARD), max_size=3)
                                | st.sampled_from(YAML_BITS)), min_size=1, max_size=4))
def test_edited_yaml_text_is_read_or_refused_with_problems(
    edits: list[tuple[int, str]],
) -> None:
    text = DEMO_TEXT
    for position, insert in edits:
        text = text[:position] + insert + text[position:]
    try:
        data = load_yaml(text)
    except Invalid as exc:
        assert exc.problems
        return
    _read(data)


@given(text=st.text(max_size=300))
def test_any_text_is_yaml_or_a_syntax_problem(text: str) -> None:
    try:
        data = load_yaml(text)
    except Invalid as exc:
        assert exc.problems
        return
    _read(data)


def test_found_a_list_as_provider_kind_is_a_problem_not_a_type_error() -> None:
    document = copy.deepcopy(DEMO)
    document["identity_providers"][0]["kind"] = ["oidc"]
    with pytest.raises(Invalid) as caught:
        parse_config(document)
    assert any(p.path == "identity_providers[0].kind" for p in caught.value.problems)
