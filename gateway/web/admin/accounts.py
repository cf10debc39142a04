"""Accounts: create, and set or clear an alias."""

from __future__ import annotations

from flask import Response, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from gateway.admin.edit import Document, find_account, relative
from gateway.problems import Invalid, Problem
from gateway.runtime import runtime
from gateway.store import names
from gateway.web.admin import bp
from gateway.web.admin.access import flash_report, page, write
from gateway.web.admin.forms import FieldProblems, text


def _accounts_page(problems: list[Problem] | None = None, form: dict[str, str] | None = None,
                   status: int = 200) -> Response:
    snapshot = runtime().snapshot
    accounts = sorted(snapshot.accounts_by_id.values(), key=lambda a: a.id)
    fields = FieldProblems(problems or [], ["id", "alias"])
    return page(
        "admin/accounts.html", title="Accounts", section="admin.accounts", status=status,
        accounts=accounts, roles_by_account=snapshot.roles_by_account, form=form or {},
        field_problems=fields, problems=fields.all,
    )


@bp.get("/accounts")
def accounts() -> Response:
    return _accounts_page()


@bp.post("/accounts")
def create_account() -> BaseResponse:
    account_id = text(request.form, "id")
    alias = text(request.form, "alias")
    form = {"id": account_id, "alias": alias}

    def change(document: Document) -> None:
        if any(a["id"] == account_id for a in document["accounts"]):
            raise Invalid([Problem("accounts[new].id", f"account {account_id} exists already")])
        entry: Document = {"id": account_id, "roles": []}
        if alias:
            entry["alias"] = alias
        document["accounts"].append(entry)

    if not names.ACCOUNT_ID.fullmatch(account_id):
        problem = Problem("id", f"expected 12 digits, got {account_id!r}")
        return _accounts_page([problem], form, 400)
    try:
        report, _ = write(change)
    except Invalid as exc:
        index = _new_index(exc.problems)
        return _accounts_page(relative(exc.problems, index), form, 400)
    flash_report(report, f"Account {account_id} created.")
    return redirect(url_for("admin.accounts"), 303)


@bp.post("/accounts/<account_id>/alias")
def set_alias(account_id: str) -> BaseResponse:
    alias = text(request.form, "alias")
    position: list[int] = []

    def change(document: Document) -> None:
        account = find_account(document, account_id)
        position.append(document["accounts"].index(account))
        if alias:
            account["alias"] = alias
        else:
            account.pop("alias", None)

    try:
        report, _ = write(change)
    except Invalid as exc:
        prefix = f"accounts[{position[0]}]" if position else "accounts"
        problems = relative(exc.problems, prefix)
        status = 404 if any(p.path == "account" for p in problems) else 400
        return _accounts_page(problems, {"edit": account_id, "alias": alias}, status)
    flash_report(report, f"Alias of account {account_id} saved.")
    return redirect(url_for("admin.accounts"), 303)


def _new_index(problems: list[Problem]) -> str:
    """Problems of a new account are reported under its (last) index in the document."""
    for problem in problems:
        if problem.path.startswith("accounts["):
            return problem.path.split("]", 1)[0] + "]"
    return "accounts[new]"
