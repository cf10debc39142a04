"""Small builders shared by the IAM tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.iam import Policy, Principal, RequestContext, parse_policy
from gateway.iam.document import PolicyKind

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def policy(document: Any, kind: PolicyKind = "identity", name: str = "") -> Policy:
    """Compile a test policy, named for readable explanations."""
    return parse_policy(document, kind=kind).named(name or f"{kind}-policy")


def allow(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    """An identity-policy document with one Allow statement."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}],
    }


def session(account: str = ACCOUNT, role: str = "Dev", name: str = "alice") -> Principal:
    """A role session principal."""
    return Principal.aws(f"arn:aws:sts::{account}:assumed-role/{role}/{name}")


def ctx(
    action: str,
    resource: str = "*",
    principal: Principal | None = None,
    keys: dict[str, Any] | None = None,
    now: datetime = NOW,
) -> RequestContext:
    """A request context at a fixed time."""
    return RequestContext(action, resource, principal, keys or {}, now=now)
