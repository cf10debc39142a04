"""Roles: trust and permission policies with problems shown at their JSON path, session
limits, tags, and the role's live sessions with revocation (all, or one by one)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Response, flash, g, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from gateway.admin import edit, sessions
from gateway.admin.edit import Document, edit_role, stored_role
from gateway.problems import Invalid, Problem
from gateway.runtime import runtime
from gateway.store import names
from gateway.store.config_db import ImportReport
from gateway.store.config_schema import format_instant, validate_role
from gateway.store.snapshot import Role
from gateway.web.admin import bp
from gateway.web.admin.access import flash_report, page
from gateway.web.admin.forms import (
    FieldProblems,
    block,
    integer_or_text,
    parse_tags,
    tags_text,
    text,
)
from gateway.web.admin.paging import paginate

ROLE_FIELDS = ("account", "name", "path", "id", "description", "max_session_duration", "tags",
               "trust_policy", "policies", "revoke_sessions_before")
EMPTY_TRUST = json.dumps({"Version": "2012-10-17", "Statement": []}, indent=2)


@dataclass(frozen=True, slots=True)
class PolicyRow:
    name: str
    document: str
    field: str  # the problem path this row's problems are filed under

    @staticmethod
    def of(name: str, document: str) -> PolicyRow:
        return PolicyRow(name, document, f"policies.{name}" if name else "policies")


def pretty(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


# Roles per page of the list: a configuration may hold thousands (docs/decisions/0009).
PAGE_SIZE = 100
MAX_QUERY = 200


@bp.get("/roles")
def roles() -> Response:
    """The roles, filtered by account and text and shown a page at a time."""
    snapshot = runtime().snapshot
    accounts = sorted(snapshot.accounts_by_id.values(), key=lambda a: a.id)
    account_id = text(request.args, "account")
    if account_id not in snapshot.accounts_by_id:
        account_id = ""
    query = text(request.args, "q")[:MAX_QUERY]
    chosen = [account_id] if account_id else [a.id for a in accounts]
    listed: list[Role] = [r for a in chosen for r in snapshot.roles_by_account.get(a, ())]
    if query:
        needle = query.casefold()
        listed = [r for r in listed if needle in _searchable(r)]
    paged = paginate(listed, request.args.get("page"), PAGE_SIZE)
    shown = {r.arn for r in paged.items}
    used_by: dict[str, list[str]] = {}
    for provider in snapshot.providers_by_name.values():
        for rule in provider.rules:
            if rule.role_arn in shown:
                used_by.setdefault(rule.role_arn, []).append(provider.name)
    return page("admin/roles.html", title="Roles", section="admin.roles",
                accounts=accounts, roles_by_account=snapshot.roles_by_account,
                account_id=account_id, query=query, paged=paged, used_by=used_by,
                total=len(snapshot.roles_by_arn), problems=snapshot.problems)


def _searchable(role: Role) -> str:
    # The ARN holds the account, path and name.
    return f"{role.arn}\n{role.role_id}\n{role.description}".casefold()


def _form(role: Document, account_id: str, *, creating: bool, rows: list[PolicyRow],
          problems: list[Problem], status: int = 200, **extra: Any) -> Response:
    snapshot = runtime().snapshot
    fields = FieldProblems(problems, [*ROLE_FIELDS, *(row.field for row in rows)])
    trust = role.get("trust_policy")
    return page(
        "admin/role_form.html", status=status, section="admin.roles",
        title="New role" if creating else f"Role {role.get('name', '')}",
        creating=creating, role=role, account_id=account_id,
        accounts=sorted(snapshot.accounts_by_id), rows=rows, field_problems=fields,
        problems=fields.all, tags=tags_text(role.get("tags")) if isinstance(
            role.get("tags"), dict) else role.get("tags", ""),
        trust_text=trust if isinstance(trust, str) else pretty(trust) if trust else EMPTY_TRUST,
        **extra,
    )


def _rows_of(role: Document) -> list[PolicyRow]:
    policies = role.get("policies") or {}
    return [PolicyRow.of(n, pretty(d)) for n, d in policies.items()] + [PolicyRow.of("", "")]


def _read_form(
    role: Document, *, creating: bool
) -> tuple[Document, list[PolicyRow], list[Problem]]:
    """The role document the form describes, starting from the stored one."""
    form = request.form
    role = dict(role)
    problems: list[Problem] = []
    if creating:
        role["name"] = text(form, "name")
        role["path"] = text(form, "path") or "/"
    description = text(form, "description")
    if description:
        role["description"] = description
    else:
        role.pop("description", None)
    duration = text(form, "max_session_duration")
    if duration:
        role["max_session_duration"] = integer_or_text(duration)
    else:
        role.pop("max_session_duration", None)
    tags, tag_problems = parse_tags(block(form, "tags"))
    problems += tag_problems
    if tags:
        role["tags"] = tags
    else:
        role.pop("tags", None)
    trust = block(form, "trust_policy")
    if not trust:
        problems.append(Problem("trust_policy", "required: who may assume this role"))
    role["trust_policy"] = trust
    rows: list[PolicyRow] = []
    policies: dict[str, str] = {}
    count = integer_or_text(text(form, "policy_count"))
    for index in range(min(count, 100) if isinstance(count, int) else 0):
        name = text(form, f"policy-{index}-name")
        document = block(form, f"policy-{index}-document")
        if form.get(f"policy-{index}-remove") or (not name and not document):
            continue
        rows.append(PolicyRow.of(name, document))
        if not name:
            problems.append(Problem("policies", "a permission policy needs a name"))
        elif name in policies:
            problems.append(Problem(f"policies.{name}", "two policies with the same name"))
        else:
            policies[name] = document
    rows.append(PolicyRow.of("", ""))
    if policies:
        role["policies"] = policies
    else:
        role.pop("policies", None)
    return role, rows, problems


@bp.get("/roles/new")
def new_role() -> Response:
    account_id = request.args.get("account", "")
    return _form({"path": "/"}, account_id, creating=True, rows=[PolicyRow.of("", "")],
                 problems=[])


@bp.post("/roles")
def create_role() -> BaseResponse:
    account_id = text(request.form, "account")
    role, rows, problems = _read_form({}, creating=True)
    if account_id not in runtime().snapshot.accounts_by_id:
        problems.append(Problem("account", "choose the account the role belongs to"))
    problems += validate_role(role, account_id=account_id)
    if problems:
        return _form(role, account_id, creating=True, rows=rows, problems=problems, status=400)
    try:
        # Validated again under the lock, with what is stored by then (`edit.create_role`).
        report = _written(edit.create_role(runtime().engine, account_id, role,
                                           actor=g.admin.actor))
    except Invalid as exc:
        return _form(role, account_id, creating=True, rows=rows, problems=exc.problems,
                     status=400)
    flash_report(report, f"Role {role['name']} created.")
    return redirect(url_for("admin.role", account_id=account_id, name=role["name"]), 303)


def _stored(account_id: str, name: str) -> Document | None:
    # One role's rows, not the whole configuration: this runs on every role page.
    return stored_role(runtime().engine, account_id, name)


def _write_role(account_id: str, name: str, change: Callable[[Document], Document]
                ) -> ImportReport:
    """`access.write` for an edit of one role that keeps its name and path (`edit_role`)."""
    return _written(edit_role(runtime().engine, account_id, name, change, actor=g.admin.actor))


def _written(report: ImportReport) -> ImportReport:
    """After one role's write (`edit_role`, `create_role`, `delete_role`): every process
    reloads, re-reading only the roles the change log names (`load_snapshot`)."""
    if report.changed:
        runtime().config.bump()
    return report


def _configured(account_id: str, name: str) -> Role | None:
    arn = names.role_arn(account_id, "/", name)
    snapshot = runtime().snapshot
    role = snapshot.roles_by_arn.get(arn)
    if role is not None:
        return role
    return next((r for r in snapshot.roles_by_account.get(account_id, ()) if r.name == name),
                None)


def _unknown(account_id: str, name: str) -> Response:
    return page("admin/not_found.html", title="No such role", status=404, section="admin.roles",
                message=f"Account {account_id[:12]!r} has no role named {name[:64]!r}.")


def _edit_page(account_id: str, name: str, role: Document, *, rows: list[PolicyRow] | None = None,
               problems: list[Problem] | None = None, status: int = 200) -> Response:
    rt = runtime()
    configured = _configured(account_id, name)
    live = (sessions.live_sessions(rt.engine, configured, rt.revocations, datetime.now(UTC))
            if configured is not None else [])
    rules = [
        (provider.name, index)
        for provider in rt.snapshot.providers_by_name.values()
        for index, rule in enumerate(provider.rules, 1)
        if configured is not None and rule.role_arn == configured.arn
    ]
    return _form(role, account_id, creating=False, rows=rows or _rows_of(role),
                 problems=problems or [], status=status, configured=configured,
                 sessions=live, mapped_by=rules)


@bp.get("/roles/<account_id>/<name>")
def role(account_id: str, name: str) -> Response:
    stored = _stored(account_id, name)
    if stored is None:
        return _unknown(account_id, name)
    return _edit_page(account_id, name, stored)


@bp.post("/roles/<account_id>/<name>")
def save_role(account_id: str, name: str) -> BaseResponse:
    stored = _stored(account_id, name)
    if stored is None:
        return _unknown(account_id, name)
    role, rows, problems = _read_form(stored, creating=False)
    problems += validate_role(role, account_id=account_id)
    if problems:
        return _edit_page(account_id, name, role, rows=rows, problems=problems, status=400)
    try:
        # Validated again under the lock, with what is stored by then.
        report = _write_role(account_id, name, lambda _stored_now: role)
    except Invalid as exc:
        return _edit_page(account_id, name, role, rows=rows, problems=exc.problems, status=400)
    flash_report(report, f"Role {name} saved.")
    return redirect(url_for("admin.role", account_id=account_id, name=name), 303)


@bp.post("/roles/<account_id>/<name>/revoke-sessions")
def revoke_sessions(account_id: str, name: str) -> BaseResponse:
    """Every session issued before now is refused from now on (AWS's "revoke sessions")."""
    if _stored(account_id, name) is None:
        return _unknown(account_id, name)
    now = datetime.now(UTC)

    def change(role: Document) -> Document:
        role["revoke_sessions_before"] = format_instant(now)
        return role

    try:
        report = _write_role(account_id, name, change)
    except Invalid:  # deleted since _stored: the same page as an unknown role
        return _unknown(account_id, name)
    flash_report(report, f"Every session of {name} issued before "
                         f"{format_instant(now)} is refused from now on.")
    return redirect(url_for("admin.role", account_id=account_id, name=name), 303)


@bp.post("/roles/<account_id>/<name>/sessions/revoke")
def revoke_session(account_id: str, name: str) -> BaseResponse:
    rt = runtime()
    configured = _configured(account_id, name)
    if configured is None:
        return _unknown(account_id, name)
    access_key_id = text(request.form, "access_key_id")
    event = sessions.revoke_session(
        rt.engine, rt.revocations, configured, access_key_id, actor=g.admin.actor,
        request_id=g.get("request_id"), source_ip=request.remote_addr,
    )
    if event is None:
        stored = _stored(account_id, name) or {}
        return _edit_page(account_id, name, stored, status=404, problems=[Problem(
            "access_key_id", f"no credentials {access_key_id[:128]!r} were issued for this role",
        )])
    flash(f"Session {access_key_id} revoked: its credentials are refused from now on.",
          "success")
    return redirect(url_for("admin.role", account_id=account_id, name=name) + "#sessions", 303)


@bp.post("/roles/<account_id>/<name>/delete")
def delete_role(account_id: str, name: str) -> BaseResponse:
    if _stored(account_id, name) is None:
        return _unknown(account_id, name)
    try:
        report = _written(edit.delete_role(runtime().engine, account_id, name,
                                           actor=g.admin.actor))
    except Invalid as exc:
        return page("admin/not_found.html", title="Cannot delete the role", status=409,
                    section="admin.roles", problems=exc.problems,
                    message=f"The role {name} is still referred to; change those first.")
    flash_report(report, f"Role {name} deleted.")
    return redirect(url_for("admin.roles"), 303)
