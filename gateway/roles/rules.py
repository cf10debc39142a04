"""Mapping rules: conditions on asserted attributes/claims, all of which must hold."""

from __future__ import annotations

from fnmatch import fnmatchcase

from gateway.identity import FederatedIdentity
from gateway.store.snapshot import Condition, MappingRule


def condition_holds(condition: Condition, identity: FederatedIdentity) -> bool:
    """Whether any asserted value of the claim satisfies the condition."""
    asserted = identity.attributes.get(condition.claim, ())
    expected = condition.values
    match condition.operator:
        case "equals":
            return any(v == expected[0] for v in asserted)
        case "contains":
            return any(expected[0] in v for v in asserted)
        case "starts_with":
            return any(v.startswith(expected[0]) for v in asserted)
        case "matches":
            return any(fnmatchcase(v, expected[0]) for v in asserted)
        case "in":
            return any(v in expected for v in asserted)
    return False


def rule_matches(rule: MappingRule, identity: FederatedIdentity) -> bool:
    """A rule applies when every one of its conditions holds (no conditions: everyone)."""
    return all(condition_holds(c, identity) for c in rule.conditions)


def describe(condition: Condition) -> str:
    """`groups contains "eng"`, for explanations people read."""
    shown = ", ".join(f'"{v}"' for v in condition.values)
    return f"{condition.claim} {condition.operator.replace('_', ' ')} {shown}"
