"""FederatedIdentity: the one normalized type every identity source produces.

Nothing after a source knows which protocol the person came through; role mapping,
trust-policy evaluation, minting and audit all read this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

SourceKind = Literal["saml", "oidc", "google", "facebook", "amazon"]


@dataclass(frozen=True, slots=True)
class FederatedIdentity:
    """Who signed in, as asserted by a validated upstream assertion or token."""

    provider: str  # the identity provider's configured name
    kind: SourceKind
    issuer: str  # SAML Issuer / OIDC `iss` / the social provider's fixed name
    subject: str  # NameID value / `sub` / Facebook or Amazon user id
    subject_type: str  # persistent, transient, a NameID Format URI, or "oidc"
    audience: tuple[str, ...]  # SAML Recipient (saml:aud) / token `aud`
    # Multi-valued attributes or claims by name, as asserted (strings only).
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    auth_time: datetime | None = None
    # The upstream session's end (SAML SessionNotOnOrAfter / token exp), if any:
    # credentials never outlive it.
    session_not_on_or_after: datetime | None = None
    upstream_id: str = ""  # assertion ID / token `jti` or hash, for audit correlation
    # Values trust policies see as condition keys (saml:aud, accounts.google.com:sub,
    # …), computed by the source because only it knows the protocol's rules.
    condition_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Session attributes the source asserted in AWS's conventions (SAML
    # RoleSessionName, SessionDuration, PrincipalTag:*, SourceIdentity).
    session_name: str | None = None
    session_duration: int | None = None
    session_tags: Mapping[str, str] = field(default_factory=dict)
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    # Role ARN pairs asserted by a SAML IdP's AWS Role attribute (role, provider).
    asserted_roles: tuple[tuple[str, str], ...] = ()

    def first(self, name: str) -> str | None:
        """The first value of an attribute, or None."""
        values = self.attributes.get(name)
        return values[0] if values else None
