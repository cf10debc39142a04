"""Admin edits: change the configuration document, validate it whole, apply it atomically.

Every admin page writes through `edit_config`: inside one transaction holding the config
lock it reads the stored configuration as the same document `gateway config export`
writes, lets the page change it, validates the result with `parse_config` (the CLI
import's validation, nothing weaker), and applies the difference with the import's
`resolve`/`apply`, which write one change-log row per entity with the admin as actor.
Reading and writing under one lock means two admins editing at once cannot lose each
other's changes. Any problem raises `Invalid` and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from gateway.problems import Invalid, Problem
from gateway.store.config_db import ImportReport, apply, read_config, resolve
from gateway.store.config_schema import ConfigSpec, config_document, parse_config
from gateway.store.db import lock_config, transaction

T = TypeVar("T")
Document = dict[str, Any]


def current_document(engine: Engine) -> Document:
    """The stored configuration as an export document (for forms to start from)."""
    with engine.connect() as connection:
        return config_document(read_config(connection))


def current_spec(engine: Engine) -> ConfigSpec:
    with engine.connect() as connection:
        return read_config(connection)


def edit_config(
    engine: Engine, change: Callable[[Document], T], *, actor: str
) -> tuple[ImportReport, T]:
    """Apply `change` to the stored document; all of it or (raising `Invalid`) nothing."""
    try:
        with transaction(engine) as session:
            lock_config(session)
            current = read_config(session)
            document = config_document(current)
            result = change(document)
            desired = parse_config(document)
            resolved, notes = resolve(current, desired)
            changes = apply(session, current, resolved, actor=actor)
    except IntegrityError as exc:
        raise Invalid(
            [Problem("", f"the database refused the change: {exc.orig}; nothing was written")]
        ) from exc
    return ImportReport(tuple(changes), tuple(notes)), result


def find_account(document: Document, account_id: str) -> Document:
    for account in document["accounts"]:
        if account["id"] == account_id:
            return dict_of(account)
    raise Invalid([Problem("account", f"there is no account {account_id}")])


def find_role(document: Document, account_id: str, name: str) -> tuple[int, int, Document]:
    """(account index, role index, role document); `Invalid` when there is no such role."""
    for a_index, account in enumerate(document["accounts"]):
        if account["id"] != account_id:
            continue
        for r_index, role in enumerate(account.get("roles") or ()):
            if role["name"] == name:
                return a_index, r_index, dict_of(role)
    raise Invalid([Problem("role", f"there is no role {name} in account {account_id}")])


def find_provider(document: Document, name: str) -> tuple[int, Document]:
    for index, provider in enumerate(document["identity_providers"]):
        if provider["name"] == name:
            return index, dict_of(provider)
    raise Invalid([Problem("identity_provider", f"there is no identity provider {name}")])


def dict_of(value: Any) -> Document:
    if not isinstance(value, dict):
        raise TypeError("expected a mapping in the configuration document")
    return value


def relative(problems: list[Problem], prefix: str) -> list[Problem]:
    """Problems under `prefix` (e.g. `accounts[0].roles[2]`) with paths relative to it."""
    out: list[Problem] = []
    for problem in problems:
        path = problem.path
        if path == prefix:
            path = ""
        elif path.startswith(prefix + ".") or path.startswith(prefix + "["):
            path = path[len(prefix):].lstrip(".")
        out.append(Problem(path, problem.message))
    return out
