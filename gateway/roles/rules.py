"""Mapping rules (Cognito style): conditions on asserted attributes/claims, all of which
must hold, evaluated in order; a provider's default role applies when none matched."""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase
from functools import lru_cache

from gateway.identity import FederatedIdentity
from gateway.store.snapshot import Condition, MappingRule

# Values longer than this are never matched against a regex: the pattern is the
# administrator's, the value the identity provider's (keeps backtracking bounded).
MAX_REGEX_INPUT = 1024


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def condition_holds(condition: Condition, identity: FederatedIdentity) -> bool:
    """Whether the asserted values of the claim satisfy the condition.

    Every operator needs the claim to be present: `not_equals` holds when the claim is
    asserted and none of its values equals the value (an absent claim is not evidence).
    `in_group` reads the claim as a list of group names and wants one of them exactly
    (`Users,Admins` is not the group `Admins`).
    """
    asserted = identity.attributes.get(condition.claim, ())
    expected = condition.values
    match condition.operator:
        case "equals" | "in_group":
            return any(v == expected[0] for v in asserted)
        case "not_equals":
            return bool(asserted) and all(v != expected[0] for v in asserted)
        case "contains":
            return any(expected[0] in v for v in asserted)
        case "starts_with":
            return any(v.startswith(expected[0]) for v in asserted)
        case "matches":
            return any(fnmatchcase(v, expected[0]) for v in asserted)
        case "regex":
            pattern = _compiled(expected[0])
            return any(
                len(v) <= MAX_REGEX_INPUT and pattern.fullmatch(v) is not None for v in asserted
            )
        case "in":
            return any(v in expected for v in asserted)
    return False


def rule_matches(rule: MappingRule, identity: FederatedIdentity) -> bool:
    """A rule applies when every one of its conditions holds (no conditions: everyone)."""
    return all(condition_holds(c, identity) for c in rule.conditions)


def matching_rules(
    rules: Iterable[MappingRule], identity: FederatedIdentity
) -> list[tuple[int, MappingRule]]:
    """(1-based position, rule) of every rule that matches, in order.

    A rule without conditions is the provider's default role: it is used only when
    no rule with conditions matched.
    """
    ordered = list(enumerate(rules, 1))
    matched = [(i, r) for i, r in ordered if r.conditions and rule_matches(r, identity)]
    if matched:
        return matched
    return [(i, r) for i, r in ordered if not r.conditions]


def describe(condition: Condition) -> str:
    """`groups contains "eng"`, for explanations people read."""
    shown = ", ".join(f'"{v}"' for v in condition.values)
    return f"{condition.claim} {condition.operator.replace('_', ' ')} {shown}"
