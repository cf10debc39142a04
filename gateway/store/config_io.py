"""Configuration as code: export to and import from one YAML document.

Import is declarative: what the file lists exists afterwards exactly as written,
what it does not list is deleted. Everything is validated before anything is
written, and everything is written in one transaction or nothing is.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from typing import Any, cast

import yaml
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from gateway.problems import Invalid, Problem
from gateway.store.config_db import ImportReport, apply, read_config, resolve
from gateway.store.config_schema import (
    RoleSpec,
    config_document,
    parse_config,
    validate_config,
    validate_identity_provider,
    validate_role,
)
from gateway.store.db import lock_config, transaction

__all__ = [
    "ImportReport",
    "dump_yaml",
    "export_config",
    "import_config",
    "import_document",
    "load_yaml",
    "validate_config",
    "validate_identity_provider",
    "validate_role",
]


# ---------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """Safe YAML with fewer surprises for configuration files.

    * Dates stay strings: `Version: 2012-10-17` must not become a date object.
    * Only true/false are booleans: YAML 1.1 would turn a tag value `no` (Norway) or
      `on` into one.
    * Duplicate keys are errors, not a silent last-one-wins.
    * Aliases are refused: they would let a small file expand into a huge one.
    """

    yaml_implicit_resolvers = {
        first: [
            (tag, regexp)
            for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
        ]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
            mark = cast(yaml.Mark | None, event.start_mark)
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not supported", mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the base class reports unhashable keys
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, no anchors, multi-line text as `|`.

    Strings that any YAML reader could take for another type (dates, yes/no,
    numbers) are quoted, because the stock resolver decides the quoting.
    """

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def load_yaml(text: str) -> Any:
    """Parse one YAML document; syntax errors raise `Invalid` with line and column."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise Invalid([Problem("", f"YAML syntax error at {where}{message}")]) from exc
    except yaml.YAMLError as exc:
        raise Invalid([Problem("", f"YAML syntax error: {exc}")]) from exc


def dump_yaml(document: Mapping[str, Any]) -> str:
    """Deterministic YAML: key order as given, no line folding, UTF-8 text kept."""
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,
        indent=2,
    )


# ---------------------------------------------------------------- export / import


def export_config(engine: Engine) -> str:
    """The whole configuration (no keys, no audit) as YAML; stable byte for byte."""
    with engine.connect() as connection:
        spec = read_config(connection)
    return dump_yaml(config_document(spec))


def import_config(engine: Engine, text: str, *, actor: str, dry_run: bool = False) -> ImportReport:
    """Make the stored configuration equal to the YAML `text`.

    Raises `Invalid` with every problem (and writes nothing) when the file is not
    valid. A file equal to what is stored writes nothing, change log included.
    """
    return import_document(engine, load_yaml(text), actor=actor, dry_run=dry_run)


def import_document(
    engine: Engine, data: Any, *, actor: str, dry_run: bool = False
) -> ImportReport:
    """`import_config` for an already parsed document (the admin API posts JSON)."""
    desired = parse_config(data)
    try:
        with transaction(engine) as session:
            lock_config(session)
            current = read_config(session)
            resolved, notes = resolve(current, desired, locate=lambda r: _locate(data, r))
            changes = apply(session, current, resolved, actor=actor)
            if dry_run:
                session.rollback()
    except IntegrityError as exc:
        # Validation covers what a file can say; this is left for races with other
        # writers and for exotic swaps of unique values between two entities.
        raise Invalid(
            [Problem("", f"the database refused the change: {exc.orig}; nothing was written")]
        ) from exc
    return ImportReport(tuple(changes), tuple(notes), dry_run)


def _locate(data: Any, role: RoleSpec) -> str:
    """The path of `role` in the document it was read from."""
    for a_index, account in enumerate(data["accounts"]):
        if account.get("id") != role.account_id:
            continue
        for r_index, raw in enumerate(account.get("roles") or ()):
            if raw.get("name") == role.name:
                return f"accounts[{a_index}].roles[{r_index}]"
    return f"role {role.arn}"
