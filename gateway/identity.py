"""FederatedIdentity: the one normalized type every identity source produces.

Nothing after a source knows which protocol the person came through; role mapping,
trust-policy evaluation, minting and audit all read this.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

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

    def to_session(self, attributes: Collection[str] | None = None) -> dict[str, Any]:
        """A compact JSON form for the browser session (see `from_session`).

        Only the attributes named in `attributes` are kept (all when None): a session
        needs the claims its provider's mapping rules read, not every claim asserted.
        """
        kept = {
            name: list(values)
            for name, values in self.attributes.items()
            if attributes is None or name in attributes
        }
        data: dict[str, Any] = {
            "p": self.provider, "k": self.kind, "i": self.issuer, "s": self.subject,
            "st": self.subject_type, "a": list(self.audience), "at": kept,
            "t": _epoch(self.auth_time), "x": _epoch(self.session_not_on_or_after),
            "u": self.upstream_id, "c": {k: list(v) for k, v in self.condition_keys.items()},
            "n": self.session_name, "d": self.session_duration, "tg": dict(self.session_tags),
            "tt": list(self.transitive_tag_keys), "si": self.source_identity,
            "r": [list(pair) for pair in self.asserted_roles],
        }
        return {k: v for k, v in data.items() if v not in (None, "", [], {})}

    @classmethod
    def from_session(cls, data: Mapping[str, Any]) -> FederatedIdentity:
        """The identity `to_session` wrote; raises KeyError/TypeError/ValueError if garbled."""
        return cls(
            provider=str(data["p"]),
            kind=data["k"],
            issuer=str(data["i"]),
            subject=str(data["s"]),
            subject_type=str(data["st"]),
            audience=tuple(str(a) for a in data.get("a", ())),
            attributes={str(k): tuple(map(str, v)) for k, v in data.get("at", {}).items()},
            auth_time=_moment(data.get("t")),
            session_not_on_or_after=_moment(data.get("x")),
            upstream_id=str(data.get("u", "")),
            condition_keys={str(k): tuple(map(str, v)) for k, v in data.get("c", {}).items()},
            session_name=data.get("n"),
            session_duration=data.get("d"),
            session_tags={str(k): str(v) for k, v in data.get("tg", {}).items()},
            transitive_tag_keys=tuple(map(str, data.get("tt", ()))),
            source_identity=data.get("si"),
            asserted_roles=tuple((str(r), str(p)) for r, p in data.get("r", ())),
        )


def _epoch(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def _moment(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value), UTC)
