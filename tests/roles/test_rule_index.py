"""The rule index (large rule lists) answers exactly what scanning every rule answers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.identity import FederatedIdentity
from gateway.roles.rules import INDEX_FROM, RuleIndex, matching_rules
from gateway.store.config_schema import ConditionSpec, RuleSpec

CLAIMS = ("groups", "email", "dept")
VALUES = ("a", "ab", "abc", "b", "ba", "", "a*", "x@example.com")
PATTERNS = {"matches": ("a*", "*b", "?b", "*"), "regex": ("a.*", "b|ab", "[a-c]+", ".*")}


@st.composite
def conditions(draw: st.DrawFn) -> ConditionSpec:
    operator = draw(
        st.sampled_from(
            (
                "equals",
                "not_equals",
                "contains",
                "starts_with",
                "matches",
                "regex",
                "in",
                "in_group",
            )
        )
    )
    claim = draw(st.sampled_from(CLAIMS))
    if operator == "in":
        values = tuple(draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=3)))
    elif operator in PATTERNS:
        values = (draw(st.sampled_from(PATTERNS[operator])),)
    else:
        values = (draw(st.sampled_from(VALUES)),)
    return ConditionSpec(claim, operator, values)  # type: ignore[arg-type]


rules_lists = st.lists(
    st.builds(
        RuleSpec,
        role_arn=st.sampled_from([f"arn:aws:iam::111111111111:role/R{i}" for i in range(4)]),
        conditions=st.lists(conditions(), max_size=3).map(tuple),
    ),
    min_size=INDEX_FROM,
    max_size=60,
)
identities = st.dictionaries(
    st.sampled_from(CLAIMS), st.lists(st.sampled_from(VALUES), max_size=4).map(tuple)
).map(
    lambda attributes: FederatedIdentity(
        provider="p",
        kind="saml",
        issuer="i",
        subject="s",
        subject_type="persistent",
        audience=("a",),
        attributes=attributes,
    )
)


@settings(max_examples=200, deadline=None)
@given(rules=rules_lists, people=st.lists(identities, min_size=1, max_size=5))
def test_the_index_matches_the_scan(rules: list[RuleSpec], people: list[FederatedIdentity]) -> None:
    indexed = tuple(rules)
    for person in people:
        # A list is scanned; a tuple this long goes through the index.
        assert matching_rules(indexed, person) == matching_rules(list(rules), person)
        assert RuleIndex.build(indexed).matching(person) == matching_rules(list(rules), person)


def test_an_edited_rule_list_gets_its_own_index() -> None:
    engineers = ConditionSpec("groups", "equals", ("eng",))
    before = tuple(RuleSpec(f"arn:aws:iam::1:role/R{i}", (engineers,)) for i in range(INDEX_FROM))
    after = (RuleSpec("arn:aws:iam::1:role/New", (engineers,)), *before[1:])
    person = FederatedIdentity(
        provider="p",
        kind="saml",
        issuer="i",
        subject="s",
        subject_type="persistent",
        audience=("a",),
        attributes={"groups": ("eng",)},
    )
    assert matching_rules(before, person)[0][1].role_arn == "arn:aws:iam::1:role/R0"
    assert matching_rules(after, person)[0][1].role_arn == "arn:aws:iam::1:role/New"
    assert matching_rules(before, person)[0][1].role_arn == "arn:aws:iam::1:role/R0"
