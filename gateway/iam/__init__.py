"""IAM policy language: parse, validate, compile, evaluate, explain.

Build a `Policy` once with `parse_policy` (config load), a `RequestContext` per request, then
ask `evaluate_trust`, `evaluate_session` or `evaluate_resource` for a `Decision`.
docs/decisions/0003-iam-engine.md explains the semantics chosen where AWS leaves room.
"""

from __future__ import annotations

from gateway.iam.arn import (
    Arn,
    RoleRef,
    SessionRef,
    account_root_arn,
    arn_matches,
    is_account_id,
    parse_arn,
    parse_role_arn,
    parse_session_arn,
    role_arn,
    session_arn,
)
from gateway.iam.context import (
    Principal,
    RequestContext,
    is_known_key,
    saml_keys,
    session_keys,
    tag_keys,
    web_identity_keys,
)
from gateway.iam.document import (
    DEFAULT_MAX_CHARS,
    KINDS,
    MAX_POLICY_ARNS,
    Policy,
    PolicyKind,
    PrincipalMatch,
    Statement,
    parse_policy,
    policy_size,
    validate_policy,
    validate_policy_arns,
)
from gateway.iam.evaluate import (
    ASSUME_ACTIONS,
    REASONS,
    Decision,
    FailedCondition,
    MatchedStatement,
    SessionPermissions,
    check_revocation,
    evaluate,
    evaluate_resource,
    evaluate_session,
    evaluate_trust,
    revoke_older_sessions_policy,
)

__all__ = [
    "ASSUME_ACTIONS",
    "DEFAULT_MAX_CHARS",
    "KINDS",
    "MAX_POLICY_ARNS",
    "REASONS",
    "Arn",
    "Decision",
    "FailedCondition",
    "MatchedStatement",
    "Policy",
    "PolicyKind",
    "Principal",
    "PrincipalMatch",
    "RequestContext",
    "RoleRef",
    "SessionPermissions",
    "SessionRef",
    "Statement",
    "account_root_arn",
    "arn_matches",
    "check_revocation",
    "evaluate",
    "evaluate_resource",
    "evaluate_session",
    "evaluate_trust",
    "is_account_id",
    "is_known_key",
    "parse_arn",
    "parse_policy",
    "parse_role_arn",
    "parse_session_arn",
    "policy_size",
    "revoke_older_sessions_policy",
    "role_arn",
    "saml_keys",
    "session_arn",
    "session_keys",
    "tag_keys",
    "validate_policy",
    "validate_policy_arns",
    "web_identity_keys",
]
