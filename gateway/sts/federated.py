"""Credentials for federated identities: AssumeRoleWithWebIdentity, AssumeRoleWithSAML,
and the same issuance for the portal and the RFC 8693 token exchange.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from gateway.identity import FederatedIdentity
from gateway.roles.resolve import assume_action, eligible_roles, gate
from gateway.sources import saml_assertion, web_identity
from gateway.store.snapshot import IdentityProvider, Role
from gateway.sts.actions import Env
from gateway.sts.credentials import Credentials, SessionClaims
from gateway.sts.errors import AccessDenied, InvalidParameterValue
from gateway.sts.issue import federated_claims, issue
from gateway.sts.params import (
    AssumeRoleWithSAMLRequest,
    AssumeRoleWithWebIdentityRequest,
    resolve_duration,
)
from gateway.sts.protocol import (
    AssumedRoleUser,
    AssumeRoleWithSAMLResult,
    AssumeRoleWithWebIdentityResult,
)
from gateway.sts.session import session_policy


@dataclass(frozen=True, slots=True)
class Issued:
    """Credentials minted for a federated identity, and what they are for."""

    credentials: Credentials
    claims: SessionClaims
    role: Role
    packed_policy_size: int | None


def honest_maximum(identity: FederatedIdentity, role: Role, now: datetime) -> tuple[int, str]:
    """The longest session this identity may get for `role`, and which bound applies."""
    bounds = [(role.max_session_duration, "the role's maximum session duration")]
    if identity.session_duration:
        bounds.append((identity.session_duration, "the SessionDuration your IdP asserted"))
    if identity.session_not_on_or_after:
        left = int((identity.session_not_on_or_after - now).total_seconds())
        bounds.append((left, "the end of your identity provider session"))
    return min(bounds)


def assume_for_identity(
    identity: FederatedIdentity,
    provider: IdentityProvider,
    role_arn: str,
    env: Env,
    *,
    session_name: str,
    duration: int | None,
    policy: str | None = None,
    policy_arns: tuple[str, ...] = (),
    detail: Mapping[str, object] | None = None,
) -> Issued:
    """Trust policy, duration and session policy checked, then credentials minted and audited.

    `detail` joins the issuance's audit record: how the role was mapped (`via`), the
    portal sign-in it belongs to (`signin_id`), so the admin trail can follow it.
    """
    action = assume_action(provider)
    denied = AccessDenied(f"Not authorized to perform {action}")
    if not provider.enabled:
        # The entry points refuse first in their own words; this holds for any other path
        # (a portal session that began before the provider was disabled).
        denied.detail = f"the identity provider {provider.name} is disabled"
        raise denied
    role = env.snapshot.roles_by_arn.get(role_arn)
    if role is None:
        denied.detail = f"no such role {role_arn}"
        raise denied
    if policy_arns:
        raise InvalidParameterValue(
            "Managed session policies (PolicyArns) are not available on this gateway; pass "
            "an inline Policy instead.",
        )
    if policy:
        session_policy(policy)
    resolved = resolve_duration(
        duration or identity.session_duration, max_session_duration=role.max_session_duration
    )
    limit, bound = honest_maximum(identity, role, env.now)
    if resolved > limit:
        if limit < 900:
            raise AccessDenied(f"Not authorized to perform {action}: {bound} is too close")
        resolved = limit if duration is None else _too_long(resolved, limit, bound)
    candidate = gate(identity, provider, role, "request", env.now)
    if not candidate.allowed:
        denied.detail = candidate.decision.explain()
        raise denied
    claims = federated_claims(
        identity, role, session_name=session_name, duration=resolved, now=env.now, policy=policy
    )
    credentials, packed = issue(
        env.engine, env.keyring, claims, action=action.removeprefix("sts:"), origin=env.origin,
        detail={"provider": provider.name, "upstream_id": identity.upstream_id,
                **(detail or {})},
    )
    return Issued(credentials, claims, role, packed)


def _too_long(requested: int, limit: int, bound: str) -> int:
    from gateway.sts.errors import ValidationError

    raise ValidationError(
        f"The requested DurationSeconds ({requested}) exceeds {bound} ({limit} seconds)."
    )


def handle(
    request: AssumeRoleWithWebIdentityRequest | AssumeRoleWithSAMLRequest, env: Env
) -> AssumeRoleWithWebIdentityResult | AssumeRoleWithSAMLResult:
    """The two unsigned actions: validate the upstream proof, then assume the role."""
    if isinstance(request, AssumeRoleWithWebIdentityRequest):
        identity, provider = web_identity.identity_from_token(
            request.web_identity_token, env.snapshot, provider_id=request.provider_id,
            now=env.now,
        )
        issued = assume_for_identity(
            identity, provider, request.role_arn, env, session_name=request.role_session_name,
            duration=request.duration_seconds, policy=request.policy,
            policy_arns=request.policy_arns,
        )
        return AssumeRoleWithWebIdentityResult(
            credentials=issued.credentials,
            subject_from_web_identity_token=identity.subject,
            assumed_role_user=AssumedRoleUser(issued.claims.arn, issued.claims.user_id),
            provider=identity.issuer,
            audience=identity.audience[0] if identity.audience else "",
            packed_policy_size=issued.packed_policy_size,
            source_identity=issued.claims.source_identity,
        )
    identity, provider = saml_assertion.identity_from_response(
        request.saml_assertion, env.snapshot, principal_arn=request.principal_arn, now=env.now
    )
    # As in AWS, the role must be one the IdP asserted (or, here, a mapping rule gave);
    # a trust policy trusting the whole provider is not enough on its own.
    mapped = {c.role.arn: c.via for c in eligible_roles(identity, env.snapshot, env.now).candidates}
    if request.role_arn not in mapped:
        raise AccessDenied(
            "Not authorized to perform sts:AssumeRoleWithSAML",
            detail="role neither in the SAML Role attribute nor given by a mapping rule",
        )
    issued = assume_for_identity(
        identity, provider, request.role_arn, env,
        session_name=identity.session_name or identity.subject,
        duration=request.duration_seconds, policy=request.policy,
        policy_arns=request.policy_arns, detail={"via": mapped[request.role_arn]},
    )
    keys = identity.condition_keys
    return AssumeRoleWithSAMLResult(
        credentials=issued.credentials,
        assumed_role_user=AssumedRoleUser(issued.claims.arn, issued.claims.user_id),
        subject=identity.subject,
        subject_type=identity.subject_type,
        issuer=identity.issuer,
        audience=identity.audience[0] if identity.audience else "",
        name_qualifier=(keys.get("saml:namequalifier") or ("",))[0],
        packed_policy_size=issued.packed_policy_size,
        source_identity=issued.claims.source_identity,
    )
