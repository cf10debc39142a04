"""One sign-in or credential followed through the audit trail, in time order.

From any event, the chain it belongs to: the upstream assertion or token → the sign-in
→ the credentials issued in it (each with the rule that mapped its role; refreshes
marked) → sessions chained from them (AssumeRole) → revocations of any of them, the
sign-out, and the role-wide "revoke active sessions" changes that cut them off.

The links are values the events record:

- sign-in ↔ portal issuance, portal refusal, sign-out: `detail.signin_id`;
- upstream assertion / token id: the sign-in's `detail.assertion_id` (SAML) or
  `detail.upstream_id` (OpenID), every federated issuance's `detail.upstream_id`
  (AssumeRoleWithSAML / WebIdentity and the token exchange have no sign-in: the token
  is the root);
- issuance → chained issuance: the child's `detail.caller_session` is the parent's
  `session_id`; revocations carry the session id too;
- issuance ↔ revocation: `access_key_id`.

Every event of one chain carries the same subject (chained sessions keep it), so one
indexed query by subject over a window around the event gathers the candidates, and
the links are followed in memory (union-find over the values above).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from gateway.admin.sessions import CREDENTIALS_REVOKED
from gateway.store import audit, names
from gateway.store.changelog import Change, changes

# A browser session lasts at most a day and credentials minted at its end 12 hours more:
# nothing of one chain lies further from any of its events than that.
WINDOW = timedelta(seconds=86400 + names.MAX_SESSION_DURATION)
MAX_EVENTS = 2000
SIGNOUT = "signout"


@dataclass(frozen=True, slots=True)
class Step:
    """One event of the trail, with what it means in the chain."""

    event: audit.AuditEvent
    kind: str  # signin, issued, refresh, chained, refused, revoked, signout, other

    @property
    def detail(self) -> dict[str, Any]:
        return self.event.detail or {}

    @property
    def at(self) -> datetime | None:
        return self.event.at


@dataclass(frozen=True, slots=True)
class Cutoff:
    """A "revoke active sessions" change to a role that ended credentials of this trail."""

    change: Change
    role_arn: str
    before: datetime  # sessions issued before this are refused
    access_key_ids: tuple[str, ...]  # this trail's credentials it cut off

    @property
    def at(self) -> datetime:
        return self.change.at


@dataclass(frozen=True, slots=True)
class Trail:
    anchor: audit.AuditEvent
    entries: tuple[Step | Cutoff, ...]  # in time order
    signin: audit.AuditEvent | None
    upstream_id: str | None
    truncated: bool  # the window held more events than were read

    @property
    def chained(self) -> bool:
        """Whether the anchor links to anything (False: an event on its own)."""
        return len(self.entries) > 1


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def upstream_of(event: audit.AuditEvent) -> str | None:
    """The upstream assertion or token id an event names."""
    detail = event.detail or {}
    return _text(detail.get("upstream_id")) or _text(detail.get("assertion_id"))


def _links(event: audit.AuditEvent) -> list[tuple[str, str]]:
    detail = event.detail or {}
    found: list[tuple[str, str]] = []
    for kind, value in (
        ("signin", _text(detail.get("signin_id"))),
        ("upstream", upstream_of(event)),
        ("key", event.access_key_id),
        ("session", event.session_id),
        ("session", _text(detail.get("caller_session"))),
    ):
        if value:
            found.append((kind, value))
    return found


def kind_of(event: audit.AuditEvent) -> str:
    detail = event.detail or {}
    if event.event_type == audit.SIGNIN:
        return "signin"
    if event.event_type == audit.CREDENTIALS_ISSUED:
        if detail.get("caller_session"):
            return "chained"
        return "refresh" if detail.get("refresh") else "issued"
    if event.event_type == audit.CREDENTIALS_REFUSED:
        return "refused"
    if event.event_type == CREDENTIALS_REVOKED:
        return "revoked"
    if event.event_type == SIGNOUT:
        return "signout"
    return "other"


class _Groups:
    """Union-find over event ids and link values."""

    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, item: object) -> object:
        self.parent.setdefault(item, item)
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def join(self, a: object, b: object) -> None:
        self.parent[self.find(a)] = self.find(b)


def build(engine: Engine, event_id: int) -> Trail | None:
    """The trail of the event with this id; None when there is no such event."""
    anchor = audit.by_id(engine, event_id)
    if anchor is None:
        return None
    if not anchor.subject or anchor.at is None or not _links(anchor):
        return Trail(anchor, (Step(anchor, kind_of(anchor)),), None, None, False)
    origin: datetime = anchor.at
    window = audit.oldest_first(engine, audit.AuditFilter(
        subject=anchor.subject, since=origin - WINDOW, until=origin + WINDOW,
    ), limit=MAX_EVENTS)
    if all(e.id != anchor.id for e in window):
        window.append(anchor)
    groups = _Groups()
    for event in window:
        for link in _links(event):
            groups.join(("event", event.id), link)
    mine = groups.find(("event", anchor.id))
    events = sorted((e for e in window if groups.find(("event", e.id)) == mine),
                    key=lambda e: (e.at or origin, e.id or 0))
    signin = next((e for e in events if e.event_type == audit.SIGNIN), None)
    upstream = upstream_of(signin) if signin is not None else next(
        (u for u in map(upstream_of, events) if u), None)
    entries: list[Step | Cutoff] = [Step(e, kind_of(e)) for e in events]
    entries.extend(_cutoffs(engine, events))
    entries.sort(key=lambda s: s.at or origin)  # stable: events keep their id order
    return Trail(anchor, tuple(entries), signin, upstream, len(window) >= MAX_EVENTS)


def _cutoffs(engine: Engine, events: list[audit.AuditEvent]) -> list[Cutoff]:
    """Role "revoke active sessions" changes made while this trail's credentials lived."""
    issued: dict[str, list[audit.AuditEvent]] = {}
    for event in events:
        if event.event_type == audit.CREDENTIALS_ISSUED and event.role_arn and event.at:
            issued.setdefault(event.role_arn, []).append(event)
    found: list[Cutoff] = []
    for role_arn, role_events in issued.items():
        for change in changes(engine, entity_type="role", entity_key=role_arn, limit=100):
            before = _instant((change.before or {}).get("revoke_sessions_before"))
            after = _instant((change.after or {}).get("revoke_sessions_before"))
            if after is None or after == before:
                continue
            cut = tuple(
                e.access_key_id for e in role_events
                if e.access_key_id and e.at is not None and e.at < after
                and e.at <= change.at < _expiry(e)
            )
            if cut:
                found.append(Cutoff(change, role_arn, after, cut))
    return found


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _expiry(event: audit.AuditEvent) -> datetime:
    expires_at = (event.detail or {}).get("expires_at")
    assert event.at is not None
    if isinstance(expires_at, int) and not isinstance(expires_at, bool):
        return datetime.fromtimestamp(expires_at, event.at.tzinfo)
    return event.at + timedelta(seconds=names.MAX_SESSION_DURATION)


def linkable(event: audit.AuditEvent) -> bool:
    """Whether an audit row can lead anywhere: it names a person and something to follow."""
    return bool(event.id is not None and event.subject and _links(event))
