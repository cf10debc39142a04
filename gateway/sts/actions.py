"""The STS actions, framework-free: a typed request in, a result out, or an StsError.

Signed actions receive the authenticated `Caller`; the edge (`gateway.web.sts`) does
the HTTP parsing, SigV4 verification and rendering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from gateway.iam.context import tag_keys
from gateway.iam.evaluate import evaluate_session, evaluate_trust
from gateway.state.revocations import Revocations
from gateway.store.snapshot import Snapshot
from gateway.sts import authz_message
from gateway.sts.authenticate import Caller
from gateway.sts.credentials import SessionClaims
from gateway.sts.errors import AccessDenied, InvalidParameterValue, StsError
from gateway.sts.issue import Origin, issue
from gateway.sts.keyring import Keyring
from gateway.sts.params import (
    AssumeRoleRequest,
    DecodeAuthorizationMessageRequest,
    GetAccessKeyInfoRequest,
    GetCallerIdentityRequest,
    GetFederationTokenRequest,
    GetSessionTokenRequest,
    StsRequest,
    chain_session_tags,
    resolve_duration,
)
from gateway.sts.protocol import (
    AssumedRoleUser,
    AssumeRoleResult,
    DecodeAuthorizationMessageResult,
    GetAccessKeyInfoResult,
    GetCallerIdentityResult,
    StsResult,
)
from gateway.sts.session import live_role, permissions, request_context, session_policy


@dataclass(frozen=True, slots=True)
class Env:
    """What one request runs against: this process's configuration, keys and stores."""

    engine: Engine
    snapshot: Snapshot
    keyring: Keyring
    revocations: Revocations
    now: datetime
    origin: Origin
    secure: bool


def handle_signed(request: StsRequest, caller: Caller, env: Env) -> StsResult:
    """Run an action that needs SigV4-signed temporary credentials."""
    role = live_role(caller.access_key_id, caller.claims, env.snapshot, env.revocations)
    claims = caller.claims
    match request:
        case GetCallerIdentityRequest():
            # Never denied by policy, as in AWS; revoked or deleted sessions are refused above.
            return GetCallerIdentityResult(claims.user_id, claims.account, claims.arn)
        case AssumeRoleRequest():
            return assume_role(request, caller, env)
        case GetAccessKeyInfoRequest():
            if request.access_key_id != caller.access_key_id:
                raise AccessDenied(
                    "This gateway reports the account of the calling credentials only; sign "
                    "the request with the access key you are asking about.",
                )
            return GetAccessKeyInfoResult(claims.account)
        case DecodeAuthorizationMessageRequest():
            ctx = request_context(
                claims, "sts:DecodeAuthorizationMessage", "*", now=env.now,
                source_ip=env.origin.source_ip, secure=env.secure,
            )
            decision = evaluate_session(permissions(claims, role), ctx)
            if not decision.allowed:
                raise AccessDenied(
                    f"User: {claims.arn} is not authorized to perform: "
                    "sts:DecodeAuthorizationMessage",
                )
            decoded = authz_message.decode(env.keyring, request.encoded_message)
            return DecodeAuthorizationMessageResult(json.dumps(decoded, sort_keys=True))
        case GetSessionTokenRequest() | GetFederationTokenRequest():
            raise AccessDenied(f"Cannot call {request.ACTION} with session credentials")
    raise InvalidParameterValue(f"{request.ACTION} is not signed with SigV4 here")


def assume_role(request: AssumeRoleRequest, caller: Caller, env: Env) -> AssumeRoleResult:
    """Role chaining and cross-account access: a session assumes another role."""
    claims = caller.claims
    denied = AccessDenied(
        f"User: {claims.arn} is not authorized to perform: sts:AssumeRole on resource: "
        f"{request.role_arn}"
    )
    target = env.snapshot.roles_by_arn.get(request.role_arn)
    if target is None:
        denied.detail = "no such role"
        raise denied
    if request.policy_arns:
        raise InvalidParameterValue(
            "Managed session policies (PolicyArns) are not available on this gateway; pass "
            "an inline Policy instead.",
        )
    duration = resolve_duration(
        request.duration_seconds, max_session_duration=target.max_session_duration,
        role_chaining=True,
    )
    if request.policy:
        session_policy(request.policy)  # MalformedPolicyDocument before any decision
    tags, transitive = chain_session_tags(
        claims.tags, claims.transitive_tag_keys, request.tags, request.transitive_tag_keys
    )
    if claims.source_identity and request.source_identity not in (None, claims.source_identity):
        raise InvalidParameterValue(
            "The source identity of a role session cannot be changed once set."
        )
    source_identity = claims.source_identity or request.source_identity

    extra: dict[str, object] = {
        "sts:ExternalId": request.external_id,
        "sts:RoleSessionName": request.role_session_name,
        "sts:SourceIdentity": request.source_identity,
        "sts:TransitiveTagKeys": request.transitive_tag_keys or None,
    }
    extra.update(tag_keys("RequestTag", dict(request.tags)))
    ctx = request_context(
        claims, "sts:AssumeRole", target.arn, now=env.now,
        source_ip=env.origin.source_ip, secure=env.secure, extra=extra,
    )
    caller_role = env.snapshot.roles_by_arn[claims.role_arn]
    decision = evaluate_trust(
        target.trust_policy, ctx,
        tag_session=bool(request.tags),
        set_source_identity=bool(request.source_identity),
        caller=permissions(claims, caller_role),
    )
    if not decision.allowed:
        denied.detail = decision.explain()
        raise denied

    issued = int(env.now.timestamp())
    new = SessionClaims(
        account=target.account_id,
        role_arn=target.arn,
        role_id=target.role_id,
        session_name=request.role_session_name,
        issued_at=issued,
        expires_at=issued + duration,
        source_identity=source_identity,
        policy=request.policy,
        tags=tags,
        transitive_tag_keys=transitive,
        chain_depth=claims.chain_depth + 1,
        provider=claims.provider,
        subject=claims.subject,
        mfa=claims.mfa,
    )
    credentials, packed = issue(
        env.engine, env.keyring, new, action="AssumeRole", origin=env.origin,
        detail={"caller": claims.arn, "caller_session": claims.session_id,
                "decision": decision.rule},
    )
    return AssumeRoleResult(
        credentials, AssumedRoleUser(new.arn, new.user_id), packed, source_identity
    )


def refusal_subject(caller: Caller | None) -> tuple[str | None, str | None]:
    """The principal ARN and access key id of a refused caller, when known."""
    if caller is None:
        return None, None
    return caller.claims.arn, caller.access_key_id


__all__ = ["Env", "StsError", "assume_role", "handle_signed", "refusal_subject"]
