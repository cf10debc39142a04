"""Mapping rules of one provider: ordered, edited with a condition builder, checked against
the target role's trust policy, and previewed against recent sign-ins before saving."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Response, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from gateway.admin import simulate, trust
from gateway.admin.edit import Document, current_document, find_provider, find_role, relative
from gateway.problems import Invalid, Problem
from gateway.runtime import runtime
from gateway.store import names
from gateway.store.config_schema import parse_config, validate_identity_provider
from gateway.store.snapshot import IdentityProvider, MappingRule
from gateway.web.admin import bp
from gateway.web.admin.access import flash_report, page, write
from gateway.web.admin.forms import (
    ConditionRow,
    FieldProblems,
    condition_documents,
    condition_rows,
    operators,
    rows_of,
    text,
)
from gateway.web.admin.providers import stored_provider, unknown_provider

RULE_FIELDS = ("role", "when", "description")


@dataclass(frozen=True, slots=True)
class RuleView:
    index: int  # 0-based position in mapping_rules
    document: Document
    check: trust.TrustCheck | None  # None: the role is not configured (or not loadable)

    @property
    def role_arn(self) -> str:
        return str(self.document.get("role", ""))


def acs_url() -> str:
    return f"{runtime().settings.base_url}/saml/acs"


def _views(document: Document, provider: IdentityProvider) -> list[RuleView]:
    snapshot = runtime().snapshot
    views = []
    for index, rule in enumerate(document.get("mapping_rules") or []):
        role = snapshot.roles_by_arn.get(str(rule.get("role")))
        check = trust.check(role, provider, acs_url()) if role is not None else None
        views.append(RuleView(index, rule, check))
    return views


def _page(document: Document, provider: IdentityProvider, *, status: int = 200,
          problems: list[Problem] | None = None, rows: list[ConditionRow] | None = None,
          new_rule: dict[str, str] | None = None, impact: simulate.Impact | None = None,
          new_check: trust.TrustCheck | None = None) -> Response:
    snapshot = runtime().snapshot
    fields = FieldProblems(problems or [], RULE_FIELDS)
    role_choices = sorted(snapshot.roles_by_arn)
    return page(
        "admin/rules.html", status=status, title=f"Mapping rules of {provider.name}",
        section="admin.providers", provider=provider, rules=_views(document, provider),
        default_role=document.get("default_role"), roles=role_choices,
        operators=operators(), rows=rows or rows_of([]), new_rule=new_rule or {},
        field_problems=fields, problems=fields.all, impact=impact, new_check=new_check,
        describe=_describe,
    )


def _describe(condition: dict[str, Any]) -> str:
    values = condition.get("values", [condition.get("value", "")])
    shown = ", ".join(json.dumps(v, ensure_ascii=False) for v in values)
    operator = str(condition.get("operator", "")).replace("_", " ")
    return f"{condition.get('claim')} {operator} {shown}"


@bp.get("/providers/<name>/rules")
def rules(name: str) -> Response:
    loaded = stored_provider(name)
    if loaded is None:
        return unknown_provider(name)
    return _page(*loaded)


@bp.post("/providers/<name>/rules")
def add_rule(name: str) -> BaseResponse:
    """Add the rule at the end, or (action=preview) show what it would change first."""
    loaded = stored_provider(name)
    if loaded is None:
        return unknown_provider(name)
    document, provider = loaded
    rows = condition_rows(request.form)
    new_rule = {"description": text(request.form, "description"),
                "role": text(request.form, "role")}
    rule: Document = {"when": condition_documents(rows), "role": new_rule["role"]}
    if new_rule["description"]:
        rule = {"description": new_rule["description"], **rule}
    index = len(document.get("mapping_rules") or [])
    candidate = {**document, "mapping_rules": [*(document.get("mapping_rules") or []), rule]}
    problems = relative(
        validate_identity_provider(candidate, role_arns=list(runtime().snapshot.roles_by_arn)),
        f"mapping_rules[{index}]",
    )
    if problems:
        return _page(document, provider, status=400, problems=problems, rows=rows,
                     new_rule=new_rule)
    role = runtime().snapshot.roles_by_arn.get(rule["role"])
    check = trust.check(role, provider, acs_url()) if role is not None else None
    if request.form.get("action") == "preview":
        try:
            new_rules = _spec_rules(candidate)
        except Invalid as exc:
            return _page(document, provider, status=400, problems=exc.problems, rows=rows,
                         new_rule=new_rule)
        impact = simulate.rule_impact(
            runtime().engine, runtime().snapshot, provider, new_rules, acs_url=acs_url(),
        )
        return _page(document, provider, impact=impact, new_check=check, rows=rows,
                     new_rule=new_rule)

    def change(config: Document) -> None:
        _, current = find_provider(config, name)
        current["mapping_rules"] = [*(current.get("mapping_rules") or []), rule]

    try:
        report, _ = write(change)
    except Invalid as exc:
        return _page(document, provider, status=400,
                     problems=exc.problems, rows=rows, new_rule=new_rule)
    flash_report(report, f"Rule {index + 1} added to {name}.")
    if check is not None and check.verdict == "untrusted":
        flash(f"Warning: {check.message}", "warning")
    return redirect(url_for("admin.rules", name=name), 303)


def _spec_rules(provider_document: Document) -> tuple[MappingRule, ...]:
    """The provider's rules as the snapshot would hold them, read by the real parser."""
    config = current_document(runtime().engine)
    index, _ = find_provider(config, str(provider_document["name"]))
    config["identity_providers"][index] = provider_document
    spec = parse_config(config)
    return next(p.rules for p in spec.providers if p.name == provider_document["name"])


@bp.post("/providers/<name>/rules/<int:index>/move")
def move_rule(name: str, index: int) -> BaseResponse:
    if stored_provider(name) is None:
        return unknown_provider(name)
    direction = request.form.get("direction")
    step = {"up": -1, "down": 1}.get(direction or "")
    if step is None:
        return page("admin/not_found.html", title="Bad request", status=400,
                    section="admin.providers", message="Move a rule up or down.")

    def change(config: Document) -> None:
        _, current = find_provider(config, name)
        ordered = list(current.get("mapping_rules") or [])
        target = index + step
        if not (0 <= index < len(ordered) and 0 <= target < len(ordered)):
            raise Invalid([Problem(f"mapping_rules[{index}]", "cannot move this rule there")])
        ordered[index], ordered[target] = ordered[target], ordered[index]
        current["mapping_rules"] = ordered

    try:
        report, _ = write(change)
    except Invalid as exc:
        return page("admin/not_found.html", title="Cannot move the rule", status=400,
                    section="admin.providers", problems=exc.problems,
                    message="That rule cannot move further.")
    flash_report(report, f"Rule {index + 1} moved {direction}.")
    return redirect(url_for("admin.rules", name=name), 303)


@bp.post("/providers/<name>/rules/<int:index>/delete")
def delete_rule(name: str, index: int) -> BaseResponse:
    if stored_provider(name) is None:
        return unknown_provider(name)

    def change(config: Document) -> None:
        _, current = find_provider(config, name)
        ordered = list(current.get("mapping_rules") or [])
        if not 0 <= index < len(ordered):
            raise Invalid([Problem(f"mapping_rules[{index}]", "there is no such rule")])
        del ordered[index]
        current["mapping_rules"] = ordered

    try:
        report, _ = write(change)
    except Invalid as exc:
        return page("admin/not_found.html", title="No such rule", status=404,
                    section="admin.providers", problems=exc.problems,
                    message=f"{name} has no rule {index + 1}.")
    flash_report(report, f"Rule {index + 1} of {name} deleted.")
    return redirect(url_for("admin.rules", name=name), 303)


@bp.post("/providers/<name>/trust")
def add_trust(name: str) -> BaseResponse:
    """Append the statement that makes a role trust this provider."""
    loaded = stored_provider(name)
    if loaded is None:
        return unknown_provider(name)
    _, provider = loaded
    role_arn = text(request.form, "role")
    parsed = names.parse_role_arn(role_arn)
    if parsed is None or role_arn not in runtime().snapshot.roles_by_arn:
        return page("admin/not_found.html", title="No such role", status=404,
                    section="admin.providers", message=f"There is no role {role_arn[:200]!r}.")
    account_id, _, role_name = parsed

    def change(config: Document) -> None:
        _, _, role = find_role(config, account_id, role_name)
        role["trust_policy"] = trust.with_statement(role["trust_policy"], provider, acs_url())

    try:
        report, _ = write(change)
    except Invalid as exc:
        return page("admin/not_found.html", title="Cannot change the trust policy", status=400,
                    section="admin.providers", problems=exc.problems,
                    message=f"The trust policy of {role_arn} could not be extended.")
    flash_report(report, f"{role_name} now trusts {provider.name}.")
    return redirect(url_for("admin.rules", name=name), 303)
