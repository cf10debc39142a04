"""The simulator: claims in, the roles a person would be offered and why, out.

It runs the same code a real sign-in runs after signature checks: the source's own
claims → FederatedIdentity mapping (`sources.oidc.claims.from_id_token`, or
`sources.saml.attributes.to_identity` on an assertion built from the pasted
attributes), then `roles.eligible_roles` with every trust policy evaluated. Nothing is
verified here (there is no signature to verify), which is why it is only a simulator.
A pasted SAML response is read by `sources.saml.pasted` (validated like the ACS, or
marked as not validated) and its identity goes through the same `simulate_identity`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from gateway.admin.authz import Admin, admin_for
from gateway.identity import FederatedIdentity
from gateway.problems import Invalid, Problem
from gateway.roles import Candidate, Eligibility, eligible_roles
from gateway.sources.oidc import claims as oidc_claims
from gateway.sources.oidc.tokens import condition_provider, identity_issuer
from gateway.sources.saml import attributes as saml_attributes
from gateway.sources.saml.metadata import IdpMetadata
from gateway.sources.saml.providers import Idp, IdpPolicy
from gateway.sources.saml.response import Attribute, Validated
from gateway.store import audit
from gateway.store.snapshot import IdentityProvider, MappingRule, Snapshot

if TYPE_CHECKING:
    from gateway.sources.saml.pasted import Pasted

MAX_CLAIMS = 64 * 1024
SIMULATED_ID = "simulated"
# A sign-in event can carry the claims it was mapped from under this detail key; the
# picker and the rule-impact preview use only events that do.
ATTRIBUTES_DETAIL = "attributes"


@dataclass(frozen=True, slots=True)
class Bound:
    """The longest session a role may be given, and which limit sets it."""

    seconds: int
    because: str


@dataclass(frozen=True, slots=True)
class RoleResult:
    candidate: Candidate
    bound: Bound


@dataclass(frozen=True, slots=True)
class Simulation:
    identity: FederatedIdentity
    eligibility: Eligibility
    results: tuple[RoleResult, ...]
    admin: Admin | None
    pasted: Pasted | None = None  # the SAML response it came from, when one was pasted

    @property
    def why_none(self) -> str | None:
        return None if self.eligibility.roles else self.eligibility.why_none()


def parse_claims(text: str) -> dict[str, Any]:
    """A JSON object of claims; `Invalid` at path `claims` otherwise."""
    if len(text) > MAX_CLAIMS:
        raise Invalid([Problem("claims", f"at most {MAX_CLAIMS} characters")])
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise Invalid([Problem("claims", f"not valid JSON: {exc}")]) from None
    if not isinstance(value, dict):
        raise Invalid([Problem("claims", "expected a JSON object of claim names to values")])
    return value


def identity_from_claims(
    provider: IdentityProvider, claims: Mapping[str, Any], *, acs_url: str, now: datetime
) -> FederatedIdentity:
    """What a sign-in through `provider` asserting `claims` would become."""
    if provider.kind == "saml":
        return _saml_identity(provider, claims, acs_url=acs_url, now=now)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Invalid([Problem("claims.sub", "an OpenID sign-in needs a `sub` claim (a string)")])
    with_aud = dict(claims)
    with_aud.setdefault("aud", provider.client_ids[0] if provider.client_ids else "")
    email_ok = provider.kind == "facebook" or oidc_claims.verified(with_aud)
    return oidc_claims.from_id_token(
        provider, with_aud, SIMULATED_ID, issuer=identity_issuer(provider),
        condition_provider=condition_provider(provider), email_is_verified=email_ok,
    )


def _saml_identity(
    provider: IdentityProvider, claims: Mapping[str, Any], *, acs_url: str, now: datetime
) -> FederatedIdentity:
    """The attributes as an assertion would carry them, mapped by the SAML source's code."""
    problems: list[Problem] = []
    attributes: list[Attribute] = []
    name_id = SIMULATED_ID
    for name, value in claims.items():
        values = _strings(value)
        if values is None:
            problems.append(Problem(f"claims.{name}", "expected a string or a list of strings"))
        elif name.lower() in ("nameid", "name_id"):
            name_id = values[0] if values else SIMULATED_ID
        else:
            attributes.append(Attribute(name, None, None, values))
    if problems:
        raise Invalid(problems)
    metadata = IdpMetadata(
        entity_id=provider.name, signing_certificates=(), sso=(), slo=(),
        want_authn_requests_signed=False, name_id_formats=(), valid_until=None,
        cache_duration=None, certificate_expiries=(),
    )
    validated = Validated(
        idp=Idp(provider, metadata, IdpPolicy.from_options(provider.options)),
        response_id=SIMULATED_ID, assertion_id=SIMULATED_ID, issuer=provider.name,
        name_id=name_id, name_id_format=None, recipient=acs_url, in_response_to=None,
        issue_instant=now, not_on_or_after=now + timedelta(minutes=5), authn_instant=now,
        session_not_on_or_after=None, session_index=None, attributes=tuple(attributes),
    )
    return saml_attributes.to_identity(validated)


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, int | float):
        return (str(value),)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def duration_bound(candidate: Candidate, identity: FederatedIdentity, now: datetime) -> Bound:
    """The honest maximum: the smallest of the role's, the asserted one and the IdP session's."""
    role = candidate.role
    bounds = [Bound(role.max_session_duration, f"the role's maximum session duration "
                                               f"({role.max_session_duration} s)")]
    if identity.session_duration is not None:
        bounds.append(Bound(identity.session_duration,
                            f"the asserted SessionDuration ({identity.session_duration} s)"))
    if identity.session_not_on_or_after is not None:
        left = int((identity.session_not_on_or_after - now).total_seconds())
        bounds.append(Bound(max(left, 0), "the end of the identity provider's session"))
    return min(bounds, key=lambda b: b.seconds)


def simulate(
    snapshot: Snapshot, provider: IdentityProvider, claims: Mapping[str, Any], *,
    acs_url: str, now: datetime | None = None,
) -> Simulation:
    now = now or datetime.now(UTC)
    identity = identity_from_claims(provider, claims, acs_url=acs_url, now=now)
    return simulate_identity(snapshot, identity, now)


def simulate_identity(
    snapshot: Snapshot, identity: FederatedIdentity, now: datetime, *,
    pasted: Pasted | None = None,
) -> Simulation:
    """The roles, rules, verdicts and duration bounds for an identity, however it was made."""
    eligibility = eligible_roles(identity, snapshot, now)
    results = tuple(
        RoleResult(c, duration_bound(c, identity, now)) for c in eligibility.candidates
    )
    return Simulation(identity, eligibility, results, admin_for(identity, snapshot), pasted)


# ---------------------------------------------------------------- recent sign-ins


@dataclass(frozen=True, slots=True)
class RecordedSignIn:
    event: audit.AuditEvent
    claims: Mapping[str, Any] = field(default_factory=dict)


def recent_signins(
    engine: Any, provider: str | None = None, limit: int = 100
) -> tuple[list[RecordedSignIn], int]:
    """The newest successful sign-ins that recorded their claims, and how many were looked at."""
    events = audit.recent(
        engine, audit.AuditFilter(event_type=audit.SIGNIN, outcome="success", provider=provider),
        limit=limit,
    )
    usable = []
    for event in events:
        recorded = (event.detail or {}).get(ATTRIBUTES_DETAIL)
        if isinstance(recorded, dict):
            usable.append(RecordedSignIn(event, recorded))
    return usable, len(events)


@dataclass(frozen=True, slots=True)
class ImpactRow:
    subject: str
    at: datetime | None
    before: tuple[str, ...]
    after: tuple[str, ...]

    @property
    def gained(self) -> tuple[str, ...]:
        return tuple(r for r in self.after if r not in self.before)

    @property
    def lost(self) -> tuple[str, ...]:
        return tuple(r for r in self.before if r not in self.after)


@dataclass(frozen=True, slots=True)
class Impact:
    examined: int  # sign-in events looked at
    usable: int  # of which carried claims
    changed: tuple[ImpactRow, ...]


def rule_impact(
    engine: Any, snapshot: Snapshot, provider: IdentityProvider,
    new_rules: Sequence[MappingRule], *, acs_url: str, now: datetime | None = None,
) -> Impact:
    """Who would gain or lose which roles over the last 100 sign-ins if `new_rules` applied."""
    now = now or datetime.now(UTC)
    signins, examined = recent_signins(engine, provider.name)
    changed_provider = replace(provider, rules=tuple(new_rules))
    after_snapshot = replace(
        snapshot,
        providers_by_name={**snapshot.providers_by_name, provider.name: changed_provider},
        rules_by_provider={**snapshot.rules_by_provider, provider.name: tuple(new_rules)},
    )
    rows: list[ImpactRow] = []
    for recorded in signins:
        try:
            identity = identity_from_claims(provider, recorded.claims, acs_url=acs_url, now=now)
        except Invalid:
            continue
        before = tuple(r.arn for r in eligible_roles(identity, snapshot, now).roles)
        after = tuple(r.arn for r in eligible_roles(identity, after_snapshot, now).roles)
        if before != after:
            rows.append(ImpactRow(identity.subject, recorded.event.at, before, after))
    return Impact(examined, len(signins), tuple(rows))
