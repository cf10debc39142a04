"""What a verified role session may do: its role's policies, its session policy, revocation.

Shared by the STS actions and the authorization API. Session policies travel inside the
session token as text; compiling them is cached by text so a busy session's policy is
parsed once per process, not once per request.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from gateway.iam import parse_policy
from gateway.iam.context import Principal, RequestContext, session_keys
from gateway.iam.document import Policy
from gateway.iam.evaluate import SessionPermissions
from gateway.problems import Invalid
from gateway.state.revocations import Revocations
from gateway.store.snapshot import Role, Snapshot
from gateway.sts.credentials import SessionClaims
from gateway.sts.errors import AccessDenied, InvalidClientTokenId, MalformedPolicyDocument


@lru_cache(maxsize=4096)
def session_policy(text: str) -> Policy:
    """The compiled inline session policy; MalformedPolicyDocument names every problem."""
    try:
        policy: Policy = parse_policy(text, kind="session", path="Policy")
    except Invalid as exc:
        raise MalformedPolicyDocument(
            "; ".join(str(p) for p in exc.problems), detail="session policy rejected"
        ) from None
    return policy.named("session policy")


def live_role(
    access_key_id: str, claims: SessionClaims, snapshot: Snapshot, revocations: Revocations
) -> Role:
    """The session's role, refusing revoked sessions and roles that no longer exist."""
    if revocations.is_revoked(access_key_id):
        raise InvalidClientTokenId(detail=f"session {claims.session_id} was revoked")
    role = snapshot.roles_by_arn.get(claims.role_arn)
    if role is None or role.role_id != claims.role_id:
        # A deleted (or deleted and re-created) role ends its sessions, as in AWS.
        raise AccessDenied(
            f"User: {claims.arn} is not authorized to perform this action because its role "
            "no longer exists",
            detail="role deleted",
        )
    return role


def permissions(claims: SessionClaims, role: Role) -> SessionPermissions:
    """Role identity policies intersected with the session policy, revocation applied."""
    inline = (session_policy(claims.policy),) if claims.policy else ()
    return SessionPermissions(
        identity=tuple(role.policies.values()),
        session=inline,
        revoke_before=role.revoke_sessions_before,
    )


def request_context(
    claims: SessionClaims,
    action: str,
    resource: str,
    *,
    now: datetime,
    source_ip: str | None,
    secure: bool,
    extra: dict[str, object] | None = None,
) -> RequestContext:
    """The condition keys every request made with this session carries."""
    keys: dict[str, object] = dict(
        session_keys(
            session_arn=claims.arn,
            role_arn=claims.role_arn,
            role_id=claims.role_id,
            token_issue_time=claims.issue_time,
            principal_tags=dict(claims.tags),
            source_identity=claims.source_identity,
            federated_provider=claims.provider,
            mfa_present=claims.mfa,
        )
    )
    keys["aws:SourceIp"] = source_ip
    keys["aws:SecureTransport"] = secure
    keys["aws:RequestedRegion"] = None
    if extra:
        keys.update(extra)
    return RequestContext(action, resource, Principal.aws(claims.arn), keys, now)
