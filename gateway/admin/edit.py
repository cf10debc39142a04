"""Admin edits: change the configuration document, validate it whole, apply it atomically.

Every admin page writes through `edit_config`: inside one transaction holding the config
lock it reads the stored configuration as the same document `gateway config export`
writes, lets the page change it, validates the result with `parse_config` (the CLI
import's validation, nothing weaker), and applies the difference with the import's
`resolve`/`apply`, which write one change-log row per entity with the admin as actor.
Reading and writing under one lock means two admins editing at once cannot lose each
other's changes. Any problem raises `Invalid` and nothing is written.

`edit_role` is the same for an edit of one existing role that keeps its identity (account,
name, path, id), which is what the role page's save and "revoke sessions" are. Reading,
exporting and validating the whole document for that grows with the configuration
(~5 s at 10,000 roles, docs/decisions/0009), yet the checks `parse_config` makes of other
entities cannot change their verdict: names, ids and ARNs stay as they are, so rules
still name the role, and no other entity changes. It reads that one role under the same
lock, validates it with every check `parse_config` makes of a role (`parse_role`), keeps
the stored id and the later `revoke_sessions_before` (`resolve`), and writes it with
its change-log row (`apply_role`).

`create_role` and `delete_role` are the same for adding and removing one role, which is
what the role pages' "create" and "delete" are. Of the whole-document checks, only these
involve other entities, and each is one indexed query: a new role needs its account, a
name free in that account regardless of case and, when it gives one, an id no role has;
a deleted role must not be named by any mapping rule or default role
(`references_to_role`, the problems `parse_config` would report at the same paths).
The role itself is checked with `parse_role`, every check `parse_config` makes of one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.problems import Invalid, Problem
from gateway.store.config_db import (
    ImportReport,
    account_exists,
    apply,
    apply_role,
    read_config,
    read_role,
    references_to_role,
    resolve,
    role_with_id,
    roles_named,
)
from gateway.store.config_schema import (
    ConfigSpec,
    RoleSpec,
    config_document,
    parse_config,
    parse_role,
    role_document,
)
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
    with _refused_by_database(), transaction(engine) as session:
        lock_config(session)
        current = read_config(session)
        document = config_document(current)
        result = change(document)
        desired = parse_config(document)
        resolved, notes = resolve(current, desired)
        changes = apply(session, current, resolved, actor=actor)
    return ImportReport(tuple(changes), tuple(notes)), result


@contextmanager
def _refused_by_database() -> Iterator[None]:
    """A constraint the checks missed (or a concurrent writer outside the lock) is a
    problem like any other: the transaction was rolled back, nothing was written."""
    try:
        yield
    except IntegrityError as exc:
        raise Invalid(
            [Problem("", f"the database refused the change: {exc.orig}; nothing was written")]
        ) from exc


def stored_role(engine: Engine, account_id: str, name: str) -> Document | None:
    """One stored role as its export document (for the role form to start from), or None."""
    with engine.connect() as connection:
        role = read_role(connection, account_id, name)
    return role_document(role) if role is not None else None


def edit_role(
    engine: Engine, account_id: str, name: str, change: Callable[[Document], Document],
    *, actor: str,
) -> ImportReport:
    """Apply `change` to one stored role's document (it returns the new document); all of
    it or (raising `Invalid`, problem paths relative to the role) nothing.

    The role's name, path and id cannot change here (they are what other entities refer
    to; renames go through `edit_config`, which checks every reference).
    """
    with _refused_by_database(), transaction(engine) as session:
        lock_config(session)
        current = _existing_role(session, account_id, name)
        document = change(role_document(current))
        desired = parse_role(document, account_id=account_id)
        moved = [
            Problem(field, f"a role's {field} cannot change here (it was {old!r})")
            for field, old, new in (
                ("name", current.name, desired.name),
                ("path", current.path, desired.path),
            )
            if old != new
        ]
        if moved:
            raise Invalid(moved)
        # The stored id is kept (and a different one refused), revocation only moves on.
        resolved, notes = resolve(
            ConfigSpec(roles=(current,)), ConfigSpec(roles=(desired,)), locate=lambda _: ""
        )
        changes = apply_role(session, current, resolved.roles[0], actor=actor)
    return ImportReport(tuple(changes), tuple(notes))


def create_role(engine: Engine, account_id: str, document: Document, *, actor: str
                ) -> ImportReport:
    """Add one role (its export document, as under `accounts[i].roles`) to an existing
    account; all of it or (raising `Invalid`, problem paths relative to the role) nothing.
    """
    with _refused_by_database(), transaction(engine) as session:
        lock_config(session)
        if not account_exists(session, account_id):
            raise Invalid([Problem("account", f"there is no account {account_id}")])
        name = document.get("name")
        same = roles_named(session, account_id, name) if isinstance(name, str) else []
        if name in same:
            raise Invalid([Problem("name", f"account {account_id} has a role {name} already")])
        problems: list[Problem] = []
        try:
            desired: RoleSpec | None = parse_role(document, account_id=account_id)
        except Invalid as exc:
            problems += exc.problems
            desired = None
        # parse_config's checks against the other roles, reported with the role's own.
        problems += [
            Problem("name", f"account {account_id} has a role {other} already: "
                            "role names must differ in more than case")
            for other in same
        ]
        role_id = desired.role_id if desired is not None else None
        if role_id is not None and (owner := role_with_id(session, role_id)):
            problems.append(Problem("id", f"already the id of role {owner}"))
        if problems or desired is None:
            raise Invalid(problems)
        # A fresh id (ids of stored roles are unique in the database: a clash is refused).
        resolved, notes = resolve(ConfigSpec(), ConfigSpec(roles=(desired,)), locate=lambda _: "")
        changes = apply_role(session, None, resolved.roles[0], actor=actor)
    return ImportReport(tuple(changes), tuple(notes))


def delete_role(engine: Engine, account_id: str, name: str, *, actor: str) -> ImportReport:
    """Remove one role; refused (`Invalid`, at the referring rules' document paths, nothing
    written) while a mapping rule or default role still names it."""
    with _refused_by_database(), transaction(engine) as session:
        lock_config(session)
        current = _existing_role(session, account_id, name)
        problems = references_to_role(session, current.arn)
        if problems:
            raise Invalid(problems)
        changes = apply_role(session, current, None, actor=actor)
    return ImportReport(tuple(changes))


def _existing_role(session: Session, account_id: str, name: str) -> RoleSpec:
    role = read_role(session, account_id, name)
    if role is None:
        raise Invalid([Problem("role", f"there is no role {name} in account {account_id}")])
    return role


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
