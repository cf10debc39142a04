"""Who is an administrator: a signed-in identity matching an admin rule of its provider.

Admin rules have the shape of mapping rules without a role and are evaluated by the same
condition code (`gateway.roles.rules.condition_holds`), so an operator writes and reads
them the same way. The other way in is a break-glass link (`gateway.admin.links`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.identity import FederatedIdentity
from gateway.roles.rules import condition_holds, describe
from gateway.store.snapshot import AdminRule, Snapshot


@dataclass(frozen=True, slots=True)
class Admin:
    """An administrator of this request: `actor` goes into the change log and audit."""

    actor: str
    via: str  # how they are an admin, in words

    @property
    def break_glass(self) -> bool:
        return self.actor.startswith("break-glass:")


def rule_matches(rule: AdminRule, identity: FederatedIdentity) -> bool:
    """Every condition holds; a rule without conditions never matches (fail closed)."""
    return bool(rule.conditions) and all(condition_holds(c, identity) for c in rule.conditions)


def describe_rule(rule: AdminRule) -> str:
    return " and ".join(describe(c) for c in rule.conditions)


def matching_admin_rule(
    identity: FederatedIdentity, snapshot: Snapshot
) -> tuple[int, AdminRule] | None:
    """The first admin rule (1-based position) of the identity's provider that matches."""
    provider = snapshot.providers_by_name.get(identity.provider)
    if provider is None or not provider.enabled:
        return None  # a disabled provider's sessions lose admin rights with it
    for index, rule in enumerate(provider.admin_rules, 1):
        if rule_matches(rule, identity):
            return index, rule
    return None


def admin_for(identity: FederatedIdentity, snapshot: Snapshot) -> Admin | None:
    """The identity as an administrator, or None when no admin rule matches it."""
    found = matching_admin_rule(identity, snapshot)
    if found is None:
        return None
    index, rule = found
    return Admin(
        actor=f"{identity.provider}:{identity.subject}"[:256],
        via=f"admin rule {index} of {identity.provider}: {describe_rule(rule)}",
    )
