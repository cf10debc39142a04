"""Candidate roles (the SAML Role attribute plus mapping rules), each gated by its trust policy.

A role is offered only when its trust policy allows this identity to assume it with
the action of its protocol; every candidate keeps its reason, so the portal and the
admin "why does this person get this role" page can say in plain words what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.iam.context import Principal, RequestContext, tag_keys
from gateway.iam.evaluate import Decision, evaluate_trust
from gateway.identity import FederatedIdentity
from gateway.roles.rules import describe, matching_rules
from gateway.store.snapshot import IdentityProvider, Role, Snapshot


@dataclass(frozen=True, slots=True)
class Candidate:
    """A role the identity was mapped to, how, and whether its trust policy agreed."""

    role: Role
    via: str  # "SAML Role attribute" or "rule 2: groups contains \"eng\""
    decision: Decision

    @property
    def allowed(self) -> bool:
        return self.decision.allowed


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Every candidate for one identity; `roles` are the ones it may take."""

    candidates: tuple[Candidate, ...]
    unknown_roles: tuple[str, ...]  # mapped or asserted ARNs that are not configured

    @property
    def roles(self) -> tuple[Role, ...]:
        return tuple(c.role for c in self.candidates if c.allowed)

    def why_none(self) -> str:
        """Plain words for a person who may take no role."""
        if not self.candidates:
            return (
                "No mapping rule matched your attributes, and your identity provider "
                "asserted no role. Ask an administrator to map you to a role."
            )
        refused = "; ".join(f"{c.role.name}: {c.decision.rule}" for c in self.candidates)
        return f"Roles were mapped to you, but their trust policies refused: {refused}."


def assume_action(provider: IdentityProvider) -> str:
    """The STS action whose trust-policy permission this provider's sign-ins need."""
    if provider.kind == "saml":
        return "sts:AssumeRoleWithSAML"
    return "sts:AssumeRoleWithWebIdentity"


def trust_context(
    identity: FederatedIdentity,
    provider: IdentityProvider,
    role: Role,
    *,
    session_name: str | None = None,
    now: datetime | None = None,
) -> RequestContext:
    """The request a trust policy sees when this identity assumes `role`."""
    keys: dict[str, object] = dict(identity.condition_keys)
    keys["aws:FederatedProvider"] = provider.federated_principal
    keys["sts:RoleSessionName"] = session_name or identity.session_name
    if identity.source_identity:
        keys["sts:SourceIdentity"] = identity.source_identity
    if identity.transitive_tag_keys:
        keys["sts:TransitiveTagKeys"] = identity.transitive_tag_keys
    keys.update(tag_keys("RequestTag", identity.session_tags))
    return RequestContext(
        assume_action(provider),
        role.arn,
        Principal.federated(provider.federated_principal),
        keys,
        now or datetime.now(UTC),
    )


def gate(
    identity: FederatedIdentity, provider: IdentityProvider, role: Role, via: str,
    now: datetime | None = None,
) -> Candidate:
    """Evaluate the role's trust policy for this identity."""
    decision = evaluate_trust(
        role.trust_policy,
        trust_context(identity, provider, role, now=now),
        tag_session=bool(identity.session_tags),
        set_source_identity=bool(identity.source_identity),
    )
    return Candidate(role, via, decision)


def eligible_roles(
    identity: FederatedIdentity, snapshot: Snapshot, now: datetime | None = None
) -> Eligibility:
    """Every role this identity may take right now, with the reasons for the others."""
    provider = snapshot.providers_by_name[identity.provider]
    seen: dict[str, str] = {}
    for role_arn, provider_arn in identity.asserted_roles:
        if provider_arn == provider.arn:
            seen.setdefault(role_arn, "SAML Role attribute")
    for index, rule in matching_rules(snapshot.rules_by_provider.get(provider.name, ()), identity):
        conditions = " and ".join(describe(c) for c in rule.conditions) or "the default role"
        seen.setdefault(rule.role_arn, f"rule {index}: {conditions}")
    candidates: list[Candidate] = []
    unknown: list[str] = []
    for arn, via in seen.items():
        role = snapshot.roles_by_arn.get(arn)
        if role is None:
            unknown.append(arn)
            continue
        candidates.append(gate(identity, provider, role, via, now))
    return Eligibility(tuple(candidates), tuple(unknown))
