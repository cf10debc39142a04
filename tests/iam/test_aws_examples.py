"""The AWS documentation's own policy examples, each evaluated against the requests it describes.

Sources: IAM User Guide `reference_policies_examples_*`, `reference_policies_variables`,
`reference_policies_condition-single-vs-multi-valued-context-keys`, `id_roles_create_for-idp_*`,
`id_session-tags`, `id_credentials_temp_control-access_disable-perms` (aws-sts.md §4 to §7).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.iam import (
    Principal,
    SessionPermissions,
    evaluate_resource,
    evaluate_session,
    evaluate_trust,
    revoke_older_sessions_policy,
    web_identity_keys,
)
from tests.iam.support import ACCOUNT, OTHER_ACCOUNT, ctx, policy, session

BUCKET = "arn:aws:s3:::amzn-s3-demo-bucket"


def decide(document: dict[str, Any], action: str, resource: str, **kwargs: Any) -> Any:
    """Evaluate one identity policy for a role session."""
    compiled = policy(document, name="example")
    return evaluate_session(SessionPermissions((compiled,)), ctx(action, resource, **kwargs))


S3_HOME_FOLDER = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowListingOfUserFolder",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": BUCKET,
            "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}},
        },
        {
            "Sid": "AllowAllS3ActionsInUserFolder",
            "Effect": "Allow",
            "Action": ["s3:*"],
            "Resource": [f"{BUCKET}/home/${{aws:username}}/*"],
        },
    ],
}


@pytest.mark.parametrize(
    ("action", "resource", "keys", "allowed"),
    [
        ("s3:GetObject", f"{BUCKET}/home/alice/notes.txt", {"aws:username": "alice"}, True),
        ("s3:PutObject", f"{BUCKET}/home/alice/a/b/c.txt", {"aws:username": "alice"}, True),
        ("s3:GetObject", f"{BUCKET}/home/bob/notes.txt", {"aws:username": "alice"}, False),
        ("s3:ListBucket", BUCKET, {"aws:username": "alice", "s3:prefix": "home/alice/"}, True),
        ("s3:ListBucket", BUCKET, {"aws:username": "alice", "s3:prefix": "home/bob/"}, False),
        # No aws:username (a role session): the variable is null and matches nothing.
        ("s3:GetObject", f"{BUCKET}/home/alice/notes.txt", {}, False),
        # A user named "*" gets the folder literally named "*", not every folder.
        ("s3:GetObject", f"{BUCKET}/home/bob/notes.txt", {"aws:username": "*"}, False),
        ("s3:GetObject", f"{BUCKET}/home/*/notes.txt", {"aws:username": "*"}, True),
    ],
)
def test_s3_home_folder_with_aws_username_variable(
    action: str, resource: str, keys: dict[str, str], allowed: bool
) -> None:
    assert decide(S3_HOME_FOLDER, action, resource, keys=keys).allowed is allowed


TAG_KEYS = ["environment", "cost-center"]


@pytest.mark.parametrize(
    ("request_keys", "all_values", "any_value"),
    [
        (["environment"], True, True),
        (["environment", "cost-center"], True, True),
        (["environment", "owner"], False, True),
        (["owner"], False, False),
        # No tags at all: ForAllValues is vacuously true (why AWS warns against it in Allow).
        ([], True, False),
    ],
)
def test_for_all_values_and_for_any_value_on_aws_tag_keys(
    request_keys: list[str], all_values: bool, any_value: bool
) -> None:
    for prefix, expected in (("ForAllValues", all_values), ("ForAnyValue", any_value)):
        document = {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": "*",
                "Condition": {f"{prefix}:StringEquals": {"aws:TagKeys": TAG_KEYS}},
            },
        }
        keys = {"aws:TagKeys": request_keys}
        assert decide(document, "ec2:CreateTags", "*", keys=keys).allowed is expected, prefix


DENY_OUTSIDE_IP_RANGES = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]},
                "Bool": {"aws:ViaAWSService": "false"},
            },
        },
    ],
}


@pytest.mark.parametrize(
    ("source_ip", "via_service", "allowed"),
    [
        ("192.0.2.10", "false", True),
        ("203.0.113.255", "false", True),
        ("198.51.100.7", "false", False),
        # A call an AWS service makes on the caller's behalf is not subject to the IP rule.
        ("198.51.100.7", "true", True),
        # IPv4-mapped IPv6 is the same client.
        ("::ffff:192.0.2.10", "false", True),
    ],
)
def test_deny_access_outside_source_ip_ranges(
    source_ip: str, via_service: str, allowed: bool
) -> None:
    keys = {"aws:SourceIp": source_ip, "aws:ViaAWSService": via_service}
    decision = decide(DENY_OUTSIDE_IP_RANGES, "s3:GetObject", f"{BUCKET}/x", keys=keys)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason == "explicit_deny"


@pytest.mark.parametrize(
    ("source_ip", "allowed"),
    [
        ("203.0.113.9", True),
        ("2001:db8:1234:5678::1", True),
        ("2001:DB8:1234:5678:ffff:ffff:ffff:ffff", True),
        ("2001:db8:1234:5679::1", False),
        ("not-an-ip", False),
    ],
)
def test_ip_address_condition_with_ipv4_and_ipv6_ranges(source_ip: str, allowed: bool) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {
                "IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}
            },
        },
    }
    keys = {"aws:SourceIp": source_ip}
    assert decide(document, "s3:GetObject", f"{BUCKET}/x", keys=keys).allowed is allowed


@pytest.mark.parametrize(
    ("now", "allowed"),
    [
        (datetime(2020, 5, 15, tzinfo=UTC), True),
        (datetime(2020, 3, 31, 23, 59, tzinfo=UTC), False),
        (datetime(2020, 7, 1, tzinfo=UTC), False),
    ],
)
def test_allow_access_only_between_two_dates(now: datetime, allowed: bool) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "service-prefix:action-name",
            "Resource": "*",
            "Condition": {
                "DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
                "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"},
            },
        },
    }
    assert decide(document, "service-prefix:action-name", "*", now=now).allowed is allowed


BLOCK_UNLESS_MFA = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "AllowEverything", "Effect": "Allow", "Action": "*", "Resource": "*"},
        {
            "Sid": "BlockMostAccessUnlessSignedInWithMFA",
            "Effect": "Deny",
            "NotAction": [
                "iam:CreateVirtualMFADevice",
                "iam:EnableMFADevice",
                "iam:ListMFADevices",
                "iam:ListUsers",
                "iam:ListVirtualMFADevices",
                "iam:ResyncMFADevice",
            ],
            "Resource": "*",
            "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
        },
    ],
}


@pytest.mark.parametrize(
    ("action", "keys", "allowed"),
    [
        ("s3:GetObject", {"aws:MultiFactorAuthPresent": True}, True),
        ("s3:GetObject", {"aws:MultiFactorAuthPresent": False}, False),
        # Long-term keys carry no MFA key at all: IfExists makes the Deny apply.
        ("s3:GetObject", {}, False),
        ("iam:EnableMFADevice", {}, True),
        ("IAM:listusers", {"aws:MultiFactorAuthPresent": "false"}, True),
    ],
)
def test_bool_if_exists_blocks_access_without_mfa(
    action: str, keys: dict[str, Any], allowed: bool
) -> None:
    decision = decide(BLOCK_UNLESS_MFA, action, "*", keys=keys)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.matched[0].statement == "BlockMostAccessUnlessSignedInWithMFA"


def test_bucket_policy_denies_requests_without_secure_transport() -> None:
    bucket_policy = policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ACCOUNT},
                    "Action": "s3:GetObject",
                    "Resource": f"{BUCKET}/*",
                },
                {
                    "Sid": "RestrictToTLSRequestsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [BUCKET, f"{BUCKET}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        },
        kind="resource",
        name="bucket",
    )
    perms = SessionPermissions(
        (policy({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}),)
    )
    over_tls = ctx("s3:GetObject", f"{BUCKET}/k", session(), {"aws:SecureTransport": True})
    plain = ctx("s3:GetObject", f"{BUCKET}/k", session(), {"aws:SecureTransport": False})
    assert evaluate_resource(perms, bucket_policy, over_tls, resource_account=ACCOUNT).allowed
    refused = evaluate_resource(perms, bucket_policy, plain, resource_account=ACCOUNT)
    assert (refused.allowed, refused.reason) == (False, "explicit_deny")
    assert refused.matched[0].statement == "RestrictToTLSRequestsOnly"


REVOKED_AT = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("issued", "allowed"),
    [
        (datetime(2026, 4, 1, 8, 59, 59, tzinfo=UTC), False),
        (REVOKED_AT, True),
        (datetime(2026, 4, 1, 9, 0, 1, tzinfo=UTC), True),
    ],
)
def test_revoke_older_sessions_policy_denies_sessions_issued_before(
    issued: datetime, allowed: bool
) -> None:
    role_policy = policy(
        {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}, name="Admin"
    )
    request = ctx("s3:GetObject", f"{BUCKET}/k", session(), {"aws:TokenIssueTime": issued})
    # AWS's console attaches AWSRevokeOlderSessions; the gateway's revoke_before is equivalent.
    with_policy = SessionPermissions((role_policy, revoke_older_sessions_policy(REVOKED_AT)))
    with_setting = SessionPermissions((role_policy,), revoke_before=REVOKED_AT)
    by_policy = evaluate_session(with_policy, request)
    by_setting = evaluate_session(with_setting, request)
    assert by_policy.allowed is allowed
    assert by_setting.allowed is allowed
    if not allowed:
        assert by_policy.reason == "explicit_deny"
        assert by_policy.matched[0].policy == "AWSRevokeOlderSessions"
        assert by_setting.reason == "revoked"


SAML_PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/ExampleOrgSSOProvider"
SAML_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": SAML_PROVIDER},
            "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {"saml:aud": "https://signin.aws.amazon.com/saml"}},
        }
    ],
}
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SAML-Dev"


@pytest.mark.parametrize(
    ("action", "provider", "aud", "allowed"),
    [
        ("sts:AssumeRoleWithSAML", SAML_PROVIDER, "https://signin.aws.amazon.com/saml", True),
        ("sts:AssumeRoleWithSAML", SAML_PROVIDER, "https://attacker.example/saml", False),
        ("sts:AssumeRoleWithSAML", SAML_PROVIDER, None, False),
        (
            "sts:AssumeRoleWithSAML",
            f"arn:aws:iam::{ACCOUNT}:saml-provider/Other",
            "https://signin.aws.amazon.com/saml",
            False,
        ),
        (
            "sts:AssumeRoleWithWebIdentity",
            SAML_PROVIDER,
            "https://signin.aws.amazon.com/saml",
            False,
        ),
    ],
)
def test_saml_trust_policy_requires_provider_and_saml_aud(
    action: str, provider: str, aud: str | None, allowed: bool
) -> None:
    trust = policy(SAML_TRUST, kind="trust", name="trust")
    request = ctx(action, ROLE, Principal.federated(provider), {"saml:aud": aud})
    decision = evaluate_trust(trust, request)
    assert decision.allowed is allowed
    if not allowed and aud == "https://attacker.example/saml":
        failure = decision.failed[0]
        assert (failure.key, failure.operator) == ("saml:aud", "StringEquals")
        assert failure.actual == ("https://attacker.example/saml",)


def test_saml_trust_with_session_tags_needs_tag_session_and_keys_are_case_insensitive() -> None:
    # AWS's own example spells the key "SAML:aud"; condition keys are case-insensitive.
    trust = policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/ADFS"},
                    "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                    "Condition": {
                        "StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}
                    },
                }
            ],
        },
        kind="trust",
    )
    caller = Principal.federated(f"arn:aws:iam::{ACCOUNT}:saml-provider/ADFS")
    request = ctx(
        "sts:AssumeRoleWithSAML",
        ROLE,
        caller,
        {"saml:aud": "https://signin.aws.amazon.com/saml", "aws:RequestTag/Project": "Unicorn"},
    )
    decision = evaluate_trust(trust, request, tag_session=True)
    assert decision.allowed
    assert [part.action for part in decision.parts] == ["sts:AssumeRoleWithSAML", "sts:TagSession"]
    without_tag_permission = policy(SAML_TRUST, kind="trust")
    refused = evaluate_trust(
        without_tag_permission,
        ctx(
            "sts:AssumeRoleWithSAML",
            ROLE,
            Principal.federated(SAML_PROVIDER),
            {"saml:aud": "https://signin.aws.amazon.com/saml"},
        ),
        tag_session=True,
    )
    assert not refused.allowed
    assert refused.parts[0].allowed and not refused.parts[1].allowed
    assert "sts:TagSession" in refused.rule


GOOGLE_CLIENT = "66677788899.apps.googleusercontent.com"
GOOGLE_TRUST = {
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Allow",
        "Principal": {"Federated": "accounts.google.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"accounts.google.com:aud": GOOGLE_CLIENT}},
    },
}


@pytest.mark.parametrize(
    ("claims", "allowed"),
    [
        ({"aud": GOOGLE_CLIENT, "sub": "110169484474386276334"}, True),
        # With azp present, AWS puts azp in :aud and the token's aud in :oaud.
        ({"aud": "other-audience", "azp": GOOGLE_CLIENT, "sub": "1"}, True),
        ({"aud": GOOGLE_CLIENT, "azp": "someone-else", "sub": "1"}, False),
        ({"aud": "wrong.apps.googleusercontent.com", "sub": "1"}, False),
    ],
)
def test_web_identity_trust_for_google_checks_accounts_google_com_aud(
    claims: dict[str, str], allowed: bool
) -> None:
    trust = policy(GOOGLE_TRUST, kind="trust")
    keys = web_identity_keys("accounts.google.com", claims)
    request = ctx(
        "sts:AssumeRoleWithWebIdentity", ROLE, Principal.federated("accounts.google.com"), keys
    )
    assert evaluate_trust(trust, request).allowed is allowed
    other_provider = ctx(
        "sts:AssumeRoleWithWebIdentity", ROLE, Principal.federated("graph.facebook.com"), keys
    )
    assert not evaluate_trust(trust, other_provider).allowed


EKS_ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
EKS_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{EKS_ISSUER}"


@pytest.mark.parametrize(
    ("sub", "aud", "allowed"),
    [
        ("system:serviceaccount:default:my-service-account", "sts.amazonaws.com", True),
        ("system:serviceaccount:default:other", "sts.amazonaws.com", False),
        ("system:serviceaccount:default:my-service-account", "other", False),
    ],
)
def test_web_identity_trust_for_an_oidc_provider_uses_issuer_keys(
    sub: str, aud: str, allowed: bool
) -> None:
    trust = policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": EKS_PROVIDER},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{EKS_ISSUER}:sub": "system:serviceaccount:default:my-service-account",
                            f"{EKS_ISSUER}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        },
        kind="trust",
    )
    keys = web_identity_keys(f"https://{EKS_ISSUER}", {"sub": sub, "aud": aud})
    request = ctx("sts:AssumeRoleWithWebIdentity", ROLE, Principal.federated(EKS_PROVIDER), keys)
    assert evaluate_trust(trust, request).allowed is allowed


def test_web_identity_trust_for_facebook_and_amazon_use_app_id() -> None:
    for host, claims in (
        ("graph.facebook.com", {"app_id": "1234567890", "id": "42"}),
        ("www.amazon.com", {"app_id": "1234567890", "user_id": "amzn1.account.X"}),
    ):
        trust = policy(
            {
                "Version": "2012-10-17",
                "Statement": {
                    "Effect": "Allow",
                    "Principal": {"Federated": host},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {f"{host}:app_id": "1234567890"}},
                },
            },
            kind="trust",
        )
        good = ctx(
            "sts:AssumeRoleWithWebIdentity",
            ROLE,
            Principal.federated(host),
            web_identity_keys(host, claims),
        )
        bad = ctx(
            "sts:AssumeRoleWithWebIdentity",
            ROLE,
            Principal.federated(host),
            web_identity_keys(host, {**claims, "app_id": "999"}),
        )
        assert evaluate_trust(trust, good).allowed, host
        assert not evaluate_trust(trust, bad).allowed, host


BUCKET_ACCOUNT = OTHER_ACCOUNT
SHARED = "arn:aws:s3:::shared-bucket"


def bucket_policy(principal: Any) -> Any:
    return policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Sid": "CrossAccountRead",
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": "s3:GetObject",
                "Resource": f"{SHARED}/*",
            },
        },
        kind="resource",
        name="bucket-policy",
    )


READ_SHARED = {
    "Version": "2012-10-17",
    "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{SHARED}/*"},
}


@pytest.mark.parametrize(
    ("granted_to", "caller_allows", "caller", "allowed", "reason"),
    [
        (f"arn:aws:iam::{ACCOUNT}:root", True, session(), True, "allowed"),
        (ACCOUNT, True, session(), True, "allowed"),
        # Both accounts must allow: the caller's own policy is still needed across accounts.
        (f"arn:aws:iam::{ACCOUNT}:root", False, session(), False, "identity_no_allow"),
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/alice",
            False,
            session(),
            False,
            "identity_no_allow",
        ),
        (
            f"arn:aws:iam::{ACCOUNT}:root",
            True,
            session("111122223333"),
            False,
            "resource_policy_no_allow",
        ),
        (
            f"arn:aws:iam::{ACCOUNT}:role/Dev",
            True,
            session(role="Ops"),
            False,
            "resource_policy_no_allow",
        ),
        (f"arn:aws:iam::{ACCOUNT}:role/Dev", True, session(role="Dev"), True, "allowed"),
    ],
)
def test_cross_account_resource_policy_needs_both_accounts_to_allow(
    granted_to: str, caller_allows: bool, caller: Principal, allowed: bool, reason: str
) -> None:
    identity = (policy(READ_SHARED, name="role-policy"),) if caller_allows else ()
    request = ctx("s3:GetObject", f"{SHARED}/report.csv", caller)
    decision = evaluate_resource(
        SessionPermissions(identity),
        bucket_policy(granted_to),
        request,
        resource_account=BUCKET_ACCOUNT,
    )
    assert (decision.allowed, decision.reason) == (allowed, reason)


@pytest.mark.parametrize(
    ("granted_to", "identity_allows", "session_policy_allows", "allowed", "reason"),
    [
        # Naming the session ARN allows even with nothing in identity or session policies.
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/alice", False, False, True, "allowed"),
        # Naming the role ARN: still cut by the session policy.
        (f"arn:aws:iam::{ACCOUNT}:role/Dev", False, None, True, "allowed"),
        (f"arn:aws:iam::{ACCOUNT}:role/Dev", False, False, False, "session_policy_no_allow"),
        # Naming the account delegates to the caller's identity policies.
        (f"arn:aws:iam::{ACCOUNT}:root", False, None, False, "no_allow"),
        (f"arn:aws:iam::{ACCOUNT}:root", True, None, True, "allowed"),
        (f"arn:aws:iam::{ACCOUNT}:root", True, False, False, "session_policy_no_allow"),
    ],
)
def test_same_account_resource_policy_follows_who_it_names(
    granted_to: str,
    identity_allows: bool,
    session_policy_allows: bool | None,
    allowed: bool,
    reason: str,
) -> None:
    identity = (policy(READ_SHARED),) if identity_allows else ()
    session_policies = ()
    if session_policy_allows is not None:
        action = "s3:GetObject" if session_policy_allows else "s3:ListBucket"
        session_policies = (
            policy(
                READ_SHARED | {"Statement": {"Effect": "Allow", "Action": action, "Resource": "*"}},
                kind="session",
            ),
        )
    decision = evaluate_resource(
        SessionPermissions(identity, session_policies),
        bucket_policy(granted_to),
        ctx("s3:GetObject", f"{SHARED}/report.csv", session()),
        resource_account=ACCOUNT,
    )
    assert (decision.allowed, decision.reason) == (allowed, reason)


EXTERNAL_ID_TRUST = {
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "Unique ID Assigned by Example Corp"}},
    },
}


@pytest.mark.parametrize(
    ("external_id", "caller_may_assume", "allowed", "reason"),
    [
        ("Unique ID Assigned by Example Corp", True, True, "allowed"),
        (None, True, False, "resource_policy_no_allow"),
        ("guess", True, False, "resource_policy_no_allow"),
        ("Unique ID Assigned by Example Corp", False, False, "identity_no_allow"),
    ],
)
def test_external_id_trust_for_a_third_party_account(
    external_id: str | None, caller_may_assume: bool, allowed: bool, reason: str
) -> None:
    trust = policy(EXTERNAL_ID_TRUST, kind="trust", name="trust")
    caller_policy = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE},
    }
    caller = SessionPermissions((policy(caller_policy),) if caller_may_assume else ())
    request = ctx(
        "sts:AssumeRole",
        ROLE,
        session(OTHER_ACCOUNT, "Vendor", "job"),
        {"sts:ExternalId": external_id},
    )
    decision = evaluate_trust(trust, request, caller=caller)
    assert (decision.allowed, decision.reason) == (allowed, reason)


def test_set_source_identity_must_be_allowed_when_a_source_identity_is_set() -> None:
    trust = policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/CriticalRole"},
                    "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                    "Condition": {"StringLike": {"sts:SourceIdentity": "admin-*"}},
                }
            ],
        },
        kind="trust",
    )
    caller = session(role="CriticalRole", name="s1")
    perms = SessionPermissions(())
    good = ctx("sts:AssumeRole", ROLE, caller, {"sts:SourceIdentity": "admin-ana"})
    bad = ctx("sts:AssumeRole", ROLE, caller, {"sts:SourceIdentity": "ana"})
    assert evaluate_trust(trust, good, set_source_identity=True, caller=perms).allowed
    refused = evaluate_trust(trust, bad, set_source_identity=True, caller=perms)
    assert not refused.allowed
    assert [p.allowed for p in refused.parts] == [False, False]


def test_not_action_allows_everything_except_iam() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
    }
    assert decide(document, "s3:GetObject", f"{BUCKET}/k").allowed
    assert not decide(document, "iam:CreateUser", "*").allowed
    assert not decide(document, "IAM:createuser", "*").allowed


@pytest.mark.parametrize(
    ("principal_project", "resource_project", "allowed"),
    [("Falcon", "Falcon", True), ("Falcon", "Eagle", False), (None, "Falcon", False)],
)
def test_abac_resource_tag_must_equal_principal_tag_variable(
    principal_project: str | None, resource_project: str, allowed: bool
) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "aws:ResourceTag/access-project": "${aws:PrincipalTag/access-project}"
                }
            },
        },
    }
    keys = {
        "aws:PrincipalTag/access-project": principal_project,
        "aws:ResourceTag/access-project": resource_project,
    }
    assert decide(document, "secretsmanager:GetSecretValue", "*", keys=keys).allowed is allowed


@pytest.mark.parametrize(
    ("team", "resource", "allowed"),
    [
        ("blue", f"{BUCKET}/blue/plan.txt", True),
        ("blue", f"{BUCKET}/company-wide/plan.txt", False),
        (None, f"{BUCKET}/company-wide/plan.txt", True),
        (None, f"{BUCKET}/blue/plan.txt", False),
    ],
)
def test_variable_default_value_when_the_principal_tag_is_missing(
    team: str | None, resource: str, allowed: bool
) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [f"{BUCKET}/${{aws:PrincipalTag/team, 'company-wide'}}/*"],
        },
    }
    keys = {"aws:PrincipalTag/team": team}
    assert decide(document, "s3:GetObject", resource, keys=keys).allowed is allowed


def test_null_condition_denies_requests_made_with_long_term_keys() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"Null": {"aws:TokenIssueTime": "true"}},
            },
        ],
    }
    temporary = {"aws:TokenIssueTime": "2026-05-01T11:00:00Z"}
    assert decide(document, "s3:GetObject", "*", keys=temporary).allowed
    refused = decide(document, "s3:GetObject", "*", keys={})
    assert (refused.allowed, refused.reason) == (False, "explicit_deny")


@pytest.mark.parametrize(
    ("department", "role", "principal_arn", "allowed"),
    [
        ("finance", "audit", "arn:aws:iam::222222222222:user/Ana", True),
        ("legal", "security", "arn:aws:iam::222222222222:user/Ana", True),
        ("sales", "audit", "arn:aws:iam::222222222222:user/Ana", False),
        ("finance", "intern", "arn:aws:iam::222222222222:user/Ana", False),
        ("finance", "audit", "arn:aws:iam::222222222222:user/Bob", False),
    ],
)
def test_multiple_values_or_multiple_keys_and_multiple_operators_and(
    department: str, role: str, principal_arn: str, allowed: bool
) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "iam:*AccessKey*",
            "Resource": "arn:aws:iam::account-id:user/*",
            "Condition": {
                "StringEquals": {
                    "aws:PrincipalTag/department": ["finance", "hr", "legal"],
                    "aws:PrincipalTag/role": ["audit", "security"],
                },
                "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::222222222222:user/Ana"},
            },
        },
    }
    keys = {
        "aws:PrincipalTag/department": department,
        "aws:PrincipalTag/role": role,
        "aws:PrincipalArn": principal_arn,
    }
    decision = decide(
        document, "iam:CreateAccessKey", "arn:aws:iam::account-id:user/Ana", keys=keys
    )
    assert decision.allowed is allowed


@pytest.mark.parametrize(
    ("max_keys", "allowed"), [("10", True), ("7", True), ("11", False), ("ten", False)]
)
def test_numeric_less_than_equals_limits_s3_max_keys(max_keys: str, allowed: bool) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": BUCKET,
            "Condition": {"NumericLessThanEquals": {"s3:max-keys": "10"}},
        },
    }
    assert (
        decide(document, "s3:ListBucket", BUCKET, keys={"s3:max-keys": max_keys}).allowed is allowed
    )


@pytest.mark.parametrize(
    ("principal_arn", "allowed"),
    [
        ("arn:aws:iam::111122223333:role/admin-ops", True),
        ("arn:aws:iam::444455556666:role/admin-dev", True),
        ("arn:aws:iam::444455556666:role/dev-admin", False),
        # `*` in the account segment never crosses into the next segment.
        ("arn:aws:iam::444455556666:extra:role/admin-x", False),
    ],
)
def test_arn_like_matches_each_segment_separately(principal_arn: str, allowed: bool) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin-*"}},
        },
    }
    assert (
        decide(document, "s3:GetObject", "*", keys={"aws:PrincipalArn": principal_arn}).allowed
        is allowed
    )


@pytest.mark.parametrize(
    ("resource", "allowed"),
    [
        ("arn:aws:s3:::B/1/2/test/x.jpg", True),
        ("arn:aws:s3:::B/1/test/x.jpg", True),
        ("arn:aws:s3:::B/test/x.jpg", False),
        ("arn:aws:s3:::C/1/test/x.jpg", False),
    ],
)
def test_resource_wildcard_crosses_slashes(resource: str, allowed: bool) -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::B/*/test/*",
        },
    }
    assert decide(document, "s3:GetObject", resource).allowed is allowed


def test_actions_match_case_insensitively() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "iam:ListAccessKeys", "Resource": "*"},
    }
    assert decide(document, "IAM:listaccesskeys", "*").allowed
    assert decide(document, "iam:ListAccessKeys", "*").allowed
    assert not decide(document, "iam:ListAccessKey", "*").allowed


@pytest.mark.parametrize(("session_name", "allowed"), [("alice", True), ("bob", False)])
def test_trust_policy_requires_role_session_name_to_match_username(
    session_name: str, allowed: bool
) -> None:
    trust = policy(
        {
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringLike": {"sts:RoleSessionName": "${aws:username}"}},
            },
        },
        kind="trust",
    )
    request = ctx(
        "sts:AssumeRole",
        ROLE,
        Principal.aws(f"arn:aws:iam::{ACCOUNT}:user/alice"),
        {"aws:username": "alice", "sts:RoleSessionName": session_name},
    )
    assert evaluate_trust(trust, request).allowed is allowed


def test_revoke_before_without_token_issue_time_fails_closed() -> None:
    role_policy = policy({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}})
    perms = SessionPermissions((role_policy,), revoke_before=datetime(2026, 1, 1, tzinfo=UTC))
    decision = evaluate_session(perms, ctx("s3:GetObject", "*", session()))
    assert (decision.allowed, decision.reason) == (False, "revoked")
