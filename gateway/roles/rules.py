"""Mapping rules (Cognito style): conditions on asserted attributes/claims, all of which
must hold, evaluated in order; a provider's default role applies when none matched."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
    if isinstance(rules, tuple) and len(rules) >= INDEX_FROM:
        return _index(rules).matching(identity)
    ordered = list(enumerate(rules, 1))
    matched = [(i, r) for i, r in ordered if r.conditions and rule_matches(r, identity)]
    if matched:
        return matched
    return [(i, r) for i, r in ordered if not r.conditions]


# Below this many rules a plain scan is as fast as the index.
INDEX_FROM = 16
_EXACT = ("equals", "in_group", "in")


@dataclass(frozen=True, slots=True)
class RuleIndex:
    """A provider's rules arranged so a sign-in checks only those that may match.

    Scanning 1,000 rules costs ~2 ms a sign-in. Every operator needs its claim to be
    asserted, an exact operator (equals, in_group, in) one of its values, starts_with
    a value with its prefix: so a rule is filed under (claim, value) or (claim, prefix)
    of such a condition, or else under the claim of its first condition, and a sign-in
    looks up only what it asserted. The candidates are then checked in full with
    `rule_matches`, so the answer is always the scan's.
    """

    rules: tuple[MappingRule, ...]
    by_value: Mapping[tuple[str, str], tuple[int, ...]]  # 0-based positions
    by_prefix: Mapping[tuple[str, str], tuple[int, ...]]
    prefix_lengths: Mapping[str, tuple[int, ...]]  # by claim
    by_claim: Mapping[str, tuple[int, ...]]
    defaults: tuple[int, ...]

    @classmethod
    def build(cls, rules: tuple[MappingRule, ...]) -> RuleIndex:
        by_value: dict[tuple[str, str], list[int]] = {}
        by_prefix: dict[tuple[str, str], list[int]] = {}
        by_claim: dict[str, list[int]] = {}
        defaults: list[int] = []
        for position, rule in enumerate(rules):
            if not rule.conditions:
                defaults.append(position)
                continue
            exact = next((c for c in rule.conditions if c.operator in _EXACT), None)
            prefix = next((c for c in rule.conditions if c.operator == "starts_with"), None)
            if exact is not None:
                values = exact.values if exact.operator == "in" else exact.values[:1]
                for value in dict.fromkeys(values):
                    by_value.setdefault((exact.claim, value), []).append(position)
            elif prefix is not None:
                by_prefix.setdefault((prefix.claim, prefix.values[0]), []).append(position)
            else:
                by_claim.setdefault(rule.conditions[0].claim, []).append(position)
        lengths: dict[str, set[int]] = {}
        for claim, value in by_prefix:
            lengths.setdefault(claim, set()).add(len(value))
        return cls(
            rules,
            {k: tuple(v) for k, v in by_value.items()},
            {k: tuple(v) for k, v in by_prefix.items()},
            {k: tuple(sorted(v)) for k, v in lengths.items()},
            {k: tuple(v) for k, v in by_claim.items()},
            tuple(defaults),
        )

    def matching(self, identity: FederatedIdentity) -> list[tuple[int, MappingRule]]:
        """What `matching_rules` answers for these rules."""
        maybe: set[int] = set()
        for claim, values in identity.attributes.items():
            maybe.update(self.by_claim.get(claim, ()))
            lengths = self.prefix_lengths.get(claim, ())
            for value in values:
                maybe.update(self.by_value.get((claim, value), ()))
                for length in lengths:
                    maybe.update(self.by_prefix.get((claim, value[:length]), ()))
        rules = self.rules
        matched = [(i + 1, rules[i]) for i in sorted(maybe) if rule_matches(rules[i], identity)]
        if matched:
            return matched
        return [(i + 1, rules[i]) for i in self.defaults]


# Indexes of the rule tuples in use (each snapshot's, the simulator's drafts), by
# identity: hashing 1,000 rules on every sign-in would cost what the index saves. An
# entry holds its tuple, so the id cannot be reused while the entry lives.
_INDEXES: dict[int, RuleIndex] = {}
_INDEXES_KEPT = 32
_indexes_lock = threading.Lock()


def _index(rules: tuple[MappingRule, ...]) -> RuleIndex:
    with _indexes_lock:
        found = _INDEXES.get(id(rules))
    if found is not None and found.rules is rules:
        return found
    built = RuleIndex.build(rules)
    with _indexes_lock:
        while len(_INDEXES) >= _INDEXES_KEPT:
            del _INDEXES[next(iter(_INDEXES))]
        _INDEXES[id(rules)] = built
    return built


def describe(condition: Condition) -> str:
    """`groups contains "eng"`, for explanations people read."""
    shown = ", ".join(f'"{v}"' for v in condition.values)
    return f"{condition.claim} {condition.operator.replace('_', ' ')} {shown}"
