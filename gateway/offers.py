"""What a signed-in person is offered: each candidate role with why, how long, and minting.

The console page renders this; the portal and any later UI reuse it unchanged. Minting
goes through `gateway.sts.federated.assume_for_identity`, so the trust policy is checked
again at that moment and the issuance is audited like any STS call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from gateway.identity import FederatedIdentity
from gateway.roles import eligible_roles
from gateway.roles.resolve import assume_action
from gateway.sources import disabled
from gateway.store.snapshot import Role, Snapshot
from gateway.sts.actions import Env
from gateway.sts.errors import AccessDenied
from gateway.sts.federated import Issued, assume_for_identity, honest_maximum


@dataclass(frozen=True)
class Offer:
    role: Role
    account_alias: str | None
    via: str
    allowed: bool
    reason: str  # the trust policy's decision in words
    max_duration: int  # seconds the session may last at most right now
    bound: str  # which limit sets max_duration


@dataclass(frozen=True)
class Offers:
    offers: tuple[Offer, ...]
    unknown_roles: tuple[str, ...]
    why_none: str

    @property
    def allowed(self) -> tuple[Offer, ...]:
        return tuple(o for o in self.offers if o.allowed)

    @property
    def refused(self) -> tuple[Offer, ...]:
        return tuple(o for o in self.offers if not o.allowed)


def offers_for(identity: FederatedIdentity, snapshot: Snapshot, now: datetime) -> Offers:
    """Every candidate role, allowed or not, sorted by account and name."""
    provider = snapshot.providers_by_name.get(identity.provider)
    if provider is None:
        return Offers((), (), "Your identity provider is no longer configured.")
    if not provider.enabled:
        return Offers((), (), disabled.sign_in_refused(provider))
    eligibility = eligible_roles(identity, snapshot, now)
    out: list[Offer] = []
    for candidate in eligibility.candidates:
        role = candidate.role
        seconds, bound = honest_maximum(identity, role, now)
        account = snapshot.accounts_by_id.get(role.account_id)
        out.append(Offer(
            role=role,
            account_alias=account.alias if account else None,
            via=candidate.via,
            allowed=candidate.allowed,
            reason="allowed" if candidate.allowed else candidate.decision.rule,
            max_duration=max(0, seconds),
            bound=bound,
        ))
    out.sort(key=lambda o: (o.role.account_id, o.role.name))
    return Offers(tuple(out), eligibility.unknown_roles, eligibility.why_none())


def mint(identity: FederatedIdentity, role_arn: str, env: Env, *, session_name: str,
         duration: int | None = None, detail: Mapping[str, object] | None = None) -> Issued:
    """Credentials for one offered role (trust policy and durations checked again).

    Only roles the identity was mapped to (Role attribute or mapping rule) may be minted:
    a trust policy that trusts the whole provider does not make every role an offer.
    """
    provider = env.snapshot.providers_by_name[identity.provider]
    offered = {c.role.arn: c.via
               for c in eligible_roles(identity, env.snapshot, env.now).candidates}
    if role_arn not in offered:
        raise AccessDenied(
            f"Not authorized to perform {assume_action(provider)}",
            detail=f"{role_arn} is not mapped to this identity",
        )
    # The rule that fired goes into the issuance record (the admin trail shows it).
    return assume_for_identity(identity, provider, role_arn, env, session_name=session_name,
                               duration=duration,
                               detail={"via": offered[role_arn], **(detail or {})})
