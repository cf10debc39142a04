"""Does a role's trust policy let sign-ins through a provider assume it?

Mapping a provider's people to a role is useless when the role's trust policy does not
trust that provider: the person is offered nothing and the admin wonders why. The
mapping-rules page asks the policy engine itself, with a synthetic sign-in carrying
what every real sign-in through the provider carries (its audience), and offers the
statement that would make it trust the provider.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from gateway.iam.context import saml_keys, web_identity_keys
from gateway.iam.evaluate import Decision
from gateway.identity import FederatedIdentity
from gateway.roles.resolve import assume_action, gate
from gateway.sources.oidc.tokens import condition_provider
from gateway.store.snapshot import IdentityProvider, Role

Verdict = Literal["trusted", "conditional", "untrusted"]
SYNTHETIC_SUBJECT = "trust-check"


@dataclass(frozen=True, slots=True)
class TrustCheck:
    verdict: Verdict
    decision: Decision

    @property
    def message(self) -> str:
        if self.verdict == "trusted":
            return "The role's trust policy trusts this provider."
        if self.verdict == "conditional":
            failed = "; ".join(str(f) for f in self.decision.failed) or self.decision.rule
            return (
                "The role's trust policy names this provider but only under conditions a "
                f"plain sign-in does not meet: {failed}"
            )
        return (
            "The role's trust policy does not trust this provider: people this rule maps "
            "will not be offered the role."
        )


def audience(provider: IdentityProvider, acs_url: str) -> str:
    """What a real sign-in through the provider has as its audience key."""
    if provider.kind == "saml":
        return acs_url
    return provider.client_ids[0] if provider.client_ids else ""


def synthetic_identity(provider: IdentityProvider, acs_url: str) -> FederatedIdentity:
    """A sign-in through `provider` with nothing but what every sign-in there carries."""
    aud = audience(provider, acs_url)
    if provider.kind == "saml":
        keys = saml_keys(
            aud=aud, iss=provider.name, sub=SYNTHETIC_SUBJECT, sub_type="persistent",
            namequalifier="", doc=f"{provider.account_id}/{provider.name}",
        )
        issuer = provider.name
    else:
        claims = {"aud": aud, "azp": aud, "sub": SYNTHETIC_SUBJECT, "app_id": aud,
                  "id": SYNTHETIC_SUBJECT, "user_id": SYNTHETIC_SUBJECT}
        keys = web_identity_keys(condition_provider(provider), claims)
        issuer = provider.issuer or provider.federated_principal
    return FederatedIdentity(
        provider=provider.name, kind=provider.kind, issuer=issuer, subject=SYNTHETIC_SUBJECT,
        subject_type="persistent" if provider.kind == "saml" else "oidc",
        audience=(aud,), condition_keys=keys, session_name=SYNTHETIC_SUBJECT,
    )


def check(
    role: Role, provider: IdentityProvider, acs_url: str, now: datetime | None = None
) -> TrustCheck:
    identity = synthetic_identity(provider, acs_url)
    decision = gate(identity, provider, role, "trust check", now or datetime.now(UTC)).decision
    if decision.allowed:
        return TrustCheck("trusted", decision)
    if decision.reason == "no_allow" and decision.failed:
        return TrustCheck("conditional", decision)
    return TrustCheck("untrusted", decision)


def statement_for(provider: IdentityProvider, acs_url: str, taken: set[str]) -> dict[str, Any]:
    """The trust statement AWS documents for this kind of provider, audience pinned."""
    base = "Allow" + re.sub(r"[^A-Za-z0-9]", "", provider.name.title()) + "SignIn"
    sid, n = base, 2
    while sid in taken:
        sid, n = f"{base}{n}", n + 1
    action = assume_action(provider)
    condition: dict[str, dict[str, Any]]
    if provider.kind == "saml":
        condition = {"StringEquals": {"saml:aud": acs_url}}
    else:
        key = "app_id" if provider.kind in ("facebook", "amazon") else "aud"
        auds = list(provider.client_ids)
        condition = {"StringEquals": {f"{condition_provider(provider)}:{key}":
                                      auds[0] if len(auds) == 1 else auds}}
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Federated": provider.federated_principal},
        "Action": [action, "sts:TagSession"],
        "Condition": condition,
    }


def with_statement(
    trust_policy: dict[str, Any], provider: IdentityProvider, acs_url: str
) -> dict[str, Any]:
    """A copy of the trust policy with the provider's statement appended."""
    statements = trust_policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    statements = list(statements)
    taken = {s.get("Sid") for s in statements if isinstance(s, dict) and s.get("Sid")}
    statements.append(statement_for(provider, acs_url, {str(t) for t in taken}))
    return {**trust_policy, "Statement": statements}
