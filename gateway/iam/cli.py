"""`gateway policy validate|simulate`: check policy files and explain decisions from a shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gateway.iam.context import Principal, RequestContext, is_known_key
from gateway.iam.document import DEFAULT_MAX_CHARS, KINDS, Policy, PolicyKind, parse_policy
from gateway.iam.evaluate import (
    ASSUME_ACTIONS,
    Decision,
    SessionPermissions,
    evaluate_resource,
    evaluate_session,
    evaluate_trust,
)
from gateway.problems import Invalid

EXIT_DENIED = 2


@click.group()
def policy() -> None:
    """Validate IAM policy documents and simulate decisions."""


@policy.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="identity",
    show_default=True,
    help="Which rules apply: trust policies need Principal, identity ones must not have it.",
)
@click.option("--max-chars", type=int, help="Size limit without whitespace (default per kind).")
def validate(file: Any, kind: PolicyKind, max_chars: int | None) -> None:
    """Print every problem in FILE ("-" for stdin) with its path; exit 1 if there is any."""
    try:
        text = file.read()
    except UnicodeDecodeError as exc:
        click.echo(f"{file.name}: not UTF-8 text: {exc}", err=True)
        sys.exit(1)
    try:
        compiled = parse_policy(text, kind=kind, max_chars=max_chars)
    except Invalid as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        click.echo(f"{file.name}: {len(exc.problems)} problem(s)", err=True)
        sys.exit(1)
    limit = max_chars if max_chars is not None else DEFAULT_MAX_CHARS[kind]
    click.echo(
        f"{file.name}: valid {kind} policy, {len(compiled.statements)} statement(s), "
        f"{compiled.size} of {limit} characters"
    )


@policy.command()
@click.option(
    "--policy",
    "policy_files",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Policy file; repeatable. Files with Principal are trust or resource-based policies.",
)
@click.option(
    "--session-policy",
    "session_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Session policy file; repeatable. Limits what the --policy files allow.",
)
@click.option("--action", required=True, help="e.g. s3:GetObject or sts:AssumeRoleWithSAML")
@click.option("--resource", required=True, help="Resource ARN (the role ARN for sts:AssumeRole*)")
@click.option("--principal", help="Caller: session/role ARN, account id, or a federated provider")
@click.option(
    "--context",
    "context_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Condition key; repeat a key for a multi-valued key.",
)
@click.option("--tag-session", is_flag=True, help="Trust: session tags are passed.")
@click.option("--set-source-identity", is_flag=True, help="Trust: a source identity is set.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
def simulate(
    policy_files: tuple[Path, ...],
    session_files: tuple[Path, ...],
    action: str,
    resource: str,
    principal: str | None,
    context_pairs: tuple[str, ...],
    tag_session: bool,
    set_source_identity: bool,
    as_json: bool,
) -> None:
    """Decide one request against policy files; exit 0 allowed, 2 denied, 1 bad input."""
    keys: dict[str, list[str]] = {}
    for pair in context_pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--context")
        if not is_known_key(key):
            click.echo(f"warning: {key} is not a key this gateway sets", err=True)
        keys.setdefault(key, []).append(value)
    with_principal: list[Policy] = []
    identity: list[Policy] = []
    for path in policy_files:
        text = _read(path)
        kind: PolicyKind = "identity"
        if _names_principals(text):
            kind = "trust" if action in ASSUME_ACTIONS else "resource"
        compiled = _parse(path, text, kind)
        (identity if kind == "identity" else with_principal).append(compiled)
    session = [_parse(path, _read(path), "session") for path in session_files]
    if len(with_principal) > 1:
        raise click.UsageError("at most one --policy file may have a Principal element")
    ctx = RequestContext(action, resource, Principal.parse(principal) if principal else None, keys)
    permissions = SessionPermissions(tuple(identity), tuple(session))
    decision: Decision
    if with_principal and with_principal[0].kind == "trust":
        decision = evaluate_trust(
            with_principal[0],
            ctx,
            tag_session=tag_session,
            set_source_identity=set_source_identity,
            caller=permissions if identity else None,
        )
    elif with_principal:
        decision = evaluate_resource(permissions, with_principal[0], ctx)
    else:
        decision = evaluate_session(permissions, ctx)
    if as_json:
        click.echo(json.dumps(decision.to_dict(), indent=2))
    else:
        click.echo(decision.explain())
    sys.exit(0 if decision.allowed else EXIT_DENIED)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        click.echo(f"{path}: cannot read: {exc}", err=True)
        sys.exit(1)


def _names_principals(text: str) -> bool:
    """Whether any statement has Principal/NotPrincipal (malformed text: no, parse reports it)."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return False
    if not isinstance(document, dict):
        return False
    statements = document.get("Statement")
    items = statements if isinstance(statements, list) else [statements]
    return any(
        isinstance(item, dict) and ("Principal" in item or "NotPrincipal" in item) for item in items
    )


def _parse(path: Path, text: str, kind: PolicyKind) -> Policy:
    try:
        return parse_policy(text, kind=kind).named(path.name)
    except Invalid as exc:
        for problem in exc.problems:
            click.echo(f"{path}: {problem}", err=True)
        sys.exit(1)
