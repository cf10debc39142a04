"""Decisions, principal matching and explanations."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.iam import (
    Principal,
    SessionPermissions,
    check_revocation,
    evaluate,
    evaluate_resource,
    evaluate_session,
    evaluate_trust,
)
from tests.iam.support import ACCOUNT, OTHER_ACCOUNT, allow, ctx, policy, session

ROLE = f"arn:aws:iam::{ACCOUNT}:role/team/Target"


def trust_for(principal: Any, action: Any = "sts:AssumeRole") -> Any:
    return policy(
        {
            "Version": "2012-10-17",
            "Statement": {"Effect": "Allow", "Principal": principal, "Action": action},
        },
        kind="trust",
        name="trust",
    )


@pytest.mark.parametrize(
    ("named", "caller", "allowed"),
    [
        ("*", Principal.anonymous(), True),
        ({"AWS": "*"}, session(), True),
        ({"AWS": "*"}, Principal.federated("accounts.google.com"), False),
        ({"AWS": ACCOUNT}, session(), True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, session(), True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, session(OTHER_ACCOUNT), False),
        # A role ARN (with or without path) names every session of that role.
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/Dev"}, session(role="Dev"), True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/eng/Dev"}, session(role="Dev"), True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/Dev"}, session(role="DevOps"), False),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/Dev"}, session(OTHER_ACCOUNT, role="Dev"), False),
        ({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/alice"}, session(name="alice"), True),
        ({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/alice"}, session(name="bob"), False),
        (
            {"AWS": f"arn:aws:iam::{ACCOUNT}:user/u"},
            Principal.aws(f"arn:aws:iam::{ACCOUNT}:user/u"),
            True,
        ),
        ({"Federated": "accounts.google.com"}, Principal.federated("accounts.google.com"), True),
        ({"Federated": "accounts.google.com"}, Principal.aws("accounts.google.com"), False),
        ({"Service": "ec2.amazonaws.com"}, Principal.service("ec2.amazonaws.com"), True),
        ({"Service": "ec2.amazonaws.com"}, Principal.federated("ec2.amazonaws.com"), False),
    ],
)
def test_trust_principal_matching(named: Any, caller: Principal, allowed: bool) -> None:
    decision = evaluate_trust(trust_for(named), ctx("sts:AssumeRole", ROLE, caller))
    assert decision.allowed is allowed


ADMIN_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/ops"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Admin"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


@pytest.mark.parametrize(
    ("not_principal", "caller", "denied"),
    [
        # AWS's example lists the session, its role and its account to exclude the session.
        ([ADMIN_SESSION, ADMIN_ROLE, ROOT], session(role="Admin", name="ops"), False),
        ([ADMIN_SESSION, ROOT], session(role="Admin", name="ops"), False),
        ([ADMIN_SESSION, ADMIN_ROLE, ROOT], session(role="Admin", name="other"), True),
        # Naming only the role, or only the account, does not exclude the role's sessions.
        ([ADMIN_ROLE, ROOT], session(role="Admin", name="ops"), True),
        ([ROOT], session(role="Admin", name="ops"), True),
        ([ADMIN_SESSION, ADMIN_ROLE], session(role="Admin", name="ops"), True),
        ([ROOT], Principal.aws(ACCOUNT), False),
        ([ADMIN_SESSION, ROOT], session(role="Dev"), True),
    ],
)
def test_not_principal_excludes_only_the_callers_own_arn_with_its_account(
    not_principal: list[str], caller: Principal, denied: bool
) -> None:
    bucket = policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"},
                {
                    "Sid": "OnlyAdminDeletes",
                    "Effect": "Deny",
                    "NotPrincipal": {"AWS": not_principal},
                    "Action": "s3:DeleteBucket",
                    "Resource": "*",
                },
            ],
        },
        kind="resource",
    )
    perms = SessionPermissions((policy(allow()),))
    request = ctx("s3:DeleteBucket", "arn:aws:s3:::b", caller)
    decision = evaluate_resource(perms, bucket, request, resource_account=ACCOUNT)
    assert decision.allowed is not denied
    if denied:
        assert decision.reason == "explicit_deny"


def test_session_policies_intersect_with_role_policies() -> None:
    role = policy(allow(["s3:GetObject", "s3:PutObject"]), name="role")
    only_get = policy(allow("s3:GetObject"), kind="session", name="inline-session")
    only_list = policy(allow("s3:ListBucket"), kind="session", name="managed-session")
    perms = SessionPermissions((role,), (only_get, only_list))
    get = evaluate_session(perms, ctx("s3:GetObject", "arn:aws:s3:::b/k"))
    assert get.allowed
    assert [m.policy for m in get.matched] == ["role", "inline-session"]
    put = evaluate_session(perms, ctx("s3:PutObject", "arn:aws:s3:::b/k"))
    assert (put.allowed, put.reason) == (False, "session_policy_no_allow")
    # The session policy allows listing but the role does not: no grant.
    listing = evaluate_session(perms, ctx("s3:ListBucket", "arn:aws:s3:::b"))
    assert (listing.allowed, listing.reason) == (False, "no_allow")


def test_explicit_deny_in_a_session_policy_wins() -> None:
    perms = SessionPermissions(
        (policy(allow()),),
        (
            policy(
                {
                    "Statement": [
                        {"Effect": "Allow", "Action": "*", "Resource": "*"},
                        {
                            "Sid": "NoDelete",
                            "Effect": "Deny",
                            "Action": "s3:Delete*",
                            "Resource": "*",
                        },
                    ]
                },
                kind="session",
                name="s",
            ),
        ),
    )
    decision = evaluate_session(perms, ctx("s3:DeleteObject", "arn:aws:s3:::b/k"))
    assert (decision.allowed, decision.reason) == (False, "explicit_deny")
    assert decision.matched[0].statement == "NoDelete"
    assert "explicitly denied by s / NoDelete" in decision.rule


def test_no_policies_means_implicit_deny() -> None:
    decision = evaluate_session(SessionPermissions(()), ctx("s3:GetObject", "*"))
    assert (decision.allowed, decision.reason) == (False, "no_allow")
    assert evaluate([], ctx("s3:GetObject", "*")).reason == "no_allow"


def test_plain_evaluate_of_a_policy_set() -> None:
    policies = [
        policy(allow("s3:*"), name="a"),
        policy(
            {"Statement": {"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}}, name="b"
        ),
    ]
    assert evaluate(policies, ctx("s3:GetObject", "arn:aws:s3:::b/k")).allowed
    assert evaluate(policies, ctx("s3:DeleteObject", "arn:aws:s3:::b/k")).reason == "explicit_deny"


def test_role_chaining_same_account_trust_naming_the_role_needs_no_identity_allow() -> None:
    trust = trust_for({"AWS": f"arn:aws:iam::{ACCOUNT}:role/Dev"})
    caller = SessionPermissions(())
    decision = evaluate_trust(
        trust, ctx("sts:AssumeRole", ROLE, session(role="Dev")), caller=caller
    )
    assert decision.allowed
    assert decision.matched[0].principal_match == "role"


def test_role_chaining_trust_naming_the_role_is_still_cut_by_session_policies() -> None:
    trust = trust_for({"AWS": f"arn:aws:iam::{ACCOUNT}:role/Dev"})
    request = ctx("sts:AssumeRole", ROLE, session(role="Dev"))
    only_s3 = (policy(allow("s3:*"), kind="session"),)
    refused = evaluate_trust(trust, request, caller=SessionPermissions((), only_s3))
    assert (refused.allowed, refused.reason) == (False, "session_policy_no_allow")
    by_session = trust_for({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/alice"})
    assert evaluate_trust(by_session, request, caller=SessionPermissions((), only_s3)).allowed


def test_role_chaining_trust_naming_the_account_needs_the_callers_allow() -> None:
    trust = trust_for({"AWS": ACCOUNT})
    request = ctx("sts:AssumeRole", ROLE, session())
    refused = evaluate_trust(trust, request, caller=SessionPermissions(()))
    assert (refused.allowed, refused.reason) == (False, "identity_no_allow")
    may_assume = SessionPermissions((policy(allow("sts:AssumeRole", ROLE)),))
    assert evaluate_trust(trust, request, caller=may_assume).allowed
    assumes_other = SessionPermissions(
        (policy(allow("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/Other")),)
    )
    assert not evaluate_trust(trust, request, caller=assumes_other).allowed


def test_role_chaining_callers_explicit_deny_and_revocation_always_count() -> None:
    trust = trust_for({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/alice"})
    deny = SessionPermissions(
        (policy({"Statement": {"Effect": "Deny", "Action": "sts:*", "Resource": "*"}}),)
    )
    request = ctx("sts:AssumeRole", ROLE, session(), {"aws:TokenIssueTime": "2026-01-01T00:00:00Z"})
    assert evaluate_trust(trust, request, caller=deny).reason == "explicit_deny"
    revoked = SessionPermissions((), revoke_before=datetime(2026, 2, 1, tzinfo=UTC))
    assert evaluate_trust(trust, request, caller=revoked).reason == "revoked"


def test_trust_decisions_only_for_assume_actions() -> None:
    with pytest.raises(ValueError):
        evaluate_trust(trust_for("*"), ctx("s3:GetObject", ROLE, session()))


def test_every_extra_trust_action_must_be_allowed() -> None:
    trust = trust_for({"AWS": ACCOUNT}, ["sts:AssumeRole", "sts:TagSession"])
    request = ctx("sts:AssumeRole", ROLE, session())
    tagged = evaluate_trust(trust, request, tag_session=True)
    assert tagged.allowed and [p.action for p in tagged.parts] == [
        "sts:AssumeRole",
        "sts:TagSession",
    ]
    with_source = evaluate_trust(trust, request, tag_session=True, set_source_identity=True)
    assert not with_source.allowed
    assert [p.allowed for p in with_source.parts] == [True, True, False]
    assert with_source.parts[2].action == "sts:SetSourceIdentity"


def test_explanation_names_the_failed_condition_and_rule() -> None:
    trust = policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Sid": "SamlOnly",
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/ADFS"},
                "Action": "sts:AssumeRoleWithSAML",
                "Condition": {"StringEquals": {"saml:aud": "https://signin.aws.amazon.com/saml"}},
            },
        },
        kind="trust",
        name="Target trust",
    )
    request = ctx(
        "sts:AssumeRoleWithSAML",
        ROLE,
        Principal.federated(f"arn:aws:iam::{ACCOUNT}:saml-provider/ADFS"),
        {"saml:aud": "https://evil.example/acs"},
    )
    decision = evaluate_trust(trust, request)
    text = decision.explain()
    assert text.splitlines()[0] == f"DENIED sts:AssumeRoleWithSAML on {ROLE}"
    assert "decided by: no_allow" in text
    assert (
        'Target trust / SamlOnly: StringEquals saml:aud expected ["https://signin.aws.amazon.com/saml"],'
        ' got ["https://evil.example/acs"]: no listed value matched'
    ) in text
    data = decision.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["failed_conditions"][0] == {
        "policy": "Target trust",
        "statement": "SamlOnly",
        "operator": "StringEquals",
        "key": "saml:aud",
        "expected": ["https://signin.aws.amazon.com/saml"],
        "actual": ["https://evil.example/acs"],
        "why": "no listed value matched",
    }


def test_explanation_of_an_allow_lists_matched_statements_and_parts() -> None:
    trust = trust_for({"AWS": ACCOUNT}, ["sts:AssumeRole", "sts:TagSession"])
    decision = evaluate_trust(trust, ctx("sts:AssumeRole", ROLE, session()), tag_session=True)
    text = decision.explain()
    assert text.startswith(f"ALLOWED sts:AssumeRole on {ROLE}")
    assert f"\n  ALLOWED sts:TagSession on {ROLE}" in text
    assert "trust / Statement (Allow, principal matched as account)" in text
    data = decision.to_dict()
    assert [p["action"] for p in data["parts"]] == ["sts:AssumeRole", "sts:TagSession"]
    assert data["parts"][0]["matched_statements"][0]["principal_match"] == "account"


def test_absent_key_is_reported_as_absent() -> None:
    perms = SessionPermissions(
        (policy(allow(Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})),)
    )
    decision = evaluate_session(perms, ctx("s3:GetObject", "*"))
    (failure,) = decision.failed
    assert failure.actual is None and failure.why == "key absent from the request"
    assert "got absent" in str(failure)


def test_resource_without_policy_in_another_account_is_denied() -> None:
    perms = SessionPermissions((policy(allow()),))
    request = ctx("s3:GetObject", f"arn:aws:sqs:us-east-1:{OTHER_ACCOUNT}:queue", session())
    decision = evaluate_resource(perms, None, request)
    assert (decision.allowed, decision.reason) == (False, "resource_policy_no_allow")
    same = ctx("s3:GetObject", f"arn:aws:sqs:us-east-1:{ACCOUNT}:queue", session())
    assert evaluate_resource(perms, None, same).allowed


def test_unknown_resource_account_is_treated_as_another_account() -> None:
    bucket = policy(
        {
            "Statement": {
                "Effect": "Allow",
                "Principal": {"AWS": ACCOUNT},
                "Action": "s3:*",
                "Resource": "*",
            }
        },
        kind="resource",
    )
    request = ctx("s3:GetObject", "arn:aws:s3:::bucket/k", session())
    refused = evaluate_resource(SessionPermissions(()), bucket, request)
    assert (refused.allowed, refused.reason) == (False, "identity_no_allow")


def test_check_revocation_passes_new_sessions() -> None:
    perms = SessionPermissions((), revoke_before=datetime(2026, 1, 1))
    fresh = ctx("s3:GetObject", "*", keys={"aws:TokenIssueTime": "2026-01-01T00:00:01Z"})
    old = ctx("s3:GetObject", "*", keys={"aws:TokenIssueTime": "2025-12-31T23:59:59Z"})
    assert check_revocation(perms, fresh) is None
    revoked = check_revocation(perms, old)
    assert revoked is not None and revoked.reason == "revoked"
    assert "AWSRevokeOlderSessions" in revoked.rule
    assert check_revocation(SessionPermissions(()), old) is None


def test_unknown_condition_keys_are_absent_not_errors() -> None:
    perms = SessionPermissions(
        (policy(allow(Condition={"StringNotEquals": {"custom:thing": "x"}})),)
    )
    assert evaluate_session(perms, ctx("s3:GetObject", "*")).allowed


def test_cross_account_chaining_with_tags_needs_tag_session_in_the_callers_policies() -> None:
    trust = trust_for({"AWS": OTHER_ACCOUNT}, ["sts:AssumeRole", "sts:TagSession"])
    request = ctx("sts:AssumeRole", ROLE, session(OTHER_ACCOUNT), {"aws:RequestTag/team": "blue"})
    assume_only = SessionPermissions((policy(allow("sts:AssumeRole", ROLE)),))
    refused = evaluate_trust(trust, request, tag_session=True, caller=assume_only)
    assert not refused.allowed
    assert [(p.action, p.allowed) for p in refused.parts] == [
        ("sts:AssumeRole", True),
        ("sts:TagSession", False),
    ]
    assert refused.parts[1].reason == "identity_no_allow"
    both = SessionPermissions((policy(allow(["sts:AssumeRole", "sts:TagSession"], ROLE)),))
    assert evaluate_trust(trust, request, tag_session=True, caller=both).allowed


def test_cross_account_allow_names_the_resource_policy_then_the_callers_own() -> None:
    bucket = policy(
        {
            "Statement": {
                "Sid": "PartnerReads",
                "Effect": "Allow",
                "Principal": {"AWS": ACCOUNT},
                "Action": "s3:GetObject",
                "Resource": "*",
            }
        },
        kind="resource",
        name="bucket policy",
    )
    role = policy(allow("s3:Get*", Sid="Reads"), name="role")
    inline = policy(allow("s3:GetObject", Sid="Narrow"), kind="session", name="session policy")
    request = ctx("s3:GetObject", "arn:aws:s3:::partner/k", session())
    decision = evaluate_resource(
        SessionPermissions((role,), (inline,)), bucket, request, resource_account=OTHER_ACCOUNT
    )
    assert (decision.allowed, decision.reason) == (True, "allowed")
    assert decision.rule == (
        "cross-account: allowed by bucket policy and by the caller's own policies"
    )
    assert [(m.policy, m.statement, m.principal_match) for m in decision.matched] == [
        ("bucket policy", "PartnerReads", "account"),
        ("role", "Reads", None),
        ("session policy", "Narrow", None),
    ]
    # Either side alone falls short, each for its own reason.
    no_session = evaluate_resource(
        SessionPermissions((role,), (policy(allow("s3:List*"), kind="session"),)),
        bucket, request, resource_account=OTHER_ACCOUNT,
    )
    assert (no_session.allowed, no_session.reason) == (False, "session_policy_no_allow")
    no_role = evaluate_resource(
        SessionPermissions((policy(allow("s3:Put*")),)), bucket, request,
        resource_account=OTHER_ACCOUNT,
    )
    assert (no_role.allowed, no_role.reason) == (False, "identity_no_allow")


def test_the_per_action_statement_index_is_the_scan() -> None:
    compiled = policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Get", "Effect": "Allow", "Action": "s3:Get*", "Resource": "*"},
                {"Sid": "NotS3", "Effect": "Deny", "NotAction": "s3:*", "Resource": "*"},
                {"Sid": "Any", "Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Sid": "Exact", "Effect": "Allow", "Action": "S3:getobject", "Resource": "*"},
            ],
        }
    )
    for action in ("s3:getobject", "s3:putobject", "ec2:describeinstances", "s3:get"):
        expected = tuple(st for st in compiled.statements if st.matches_action(action))
        assert compiled.statements_for(action) == expected
        assert compiled.statements_for(action) == expected  # from the index this time
    assert [st.label for st in compiled.statements_for("s3:getobject")] == ["Get", "Any", "Exact"]


def test_the_per_action_statement_index_is_bounded() -> None:
    from gateway.iam import document

    compiled = policy(allow("s3:*"))
    for n in range(document._ACTION_INDEX_LIMIT + 50):
        assert len(compiled.statements_for(f"s3:action{n}")) == 1
        assert len(compiled.statements_for(f"ec2:action{n}")) == 0
    assert len(compiled._by_action) == document._ACTION_INDEX_LIMIT
