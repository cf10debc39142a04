"""The signed-in browser session, whichever source the person came through.

At sign-in the session gets a new id and nothing from before is kept (attack W-03);
the FederatedIdentity is stored compactly under `"identity"` (the claims the
provider's mapping rules read, plus a few for display) so the whole session stays
well under 2 KB in Redis. An IdP can end a sign-in from elsewhere (SAML logout): the
sign-in id is then marked ended in Redis and the session is dropped on its next use.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import session

from gateway.identity import FederatedIdentity
from gateway.runtime import Runtime
from gateway.store.snapshot import IdentityProvider

IDENTITY_KEY = "identity"
SIGNIN_KEY = "signin"
LAST_PROVIDER_KEY = "last_provider"
# Claims kept beyond those the provider's mapping rules read, for the page people see.
DISPLAY_CLAIMS = frozenset({"email", "name", "display_name", "displayName",
                            "preferred_username"})
MAX_TRACKED_CREDENTIALS = 50


@dataclass(frozen=True)
class SignedIn:
    identity: FederatedIdentity
    signin_id: str
    details: Mapping[str, Any]  # source-specific (SAML: name id format, session index)


def session_claims(provider: IdentityProvider) -> frozenset[str]:
    """The claims a session keeps: those mapping rules and admin rules read, plus display."""
    used = {c.claim for rule in provider.rules for c in rule.conditions}
    admin = {c.claim for rule in provider.admin_rules for c in rule.conditions}
    return frozenset(used | admin | DISPLAY_CLAIMS)


# Bounds on what one sign-in event stores of the asserted claims (an AD user can carry
# hundreds of groups); enough for the admin simulator to replay the mapping.
_AUDIT_CLAIMS, _AUDIT_VALUES, _AUDIT_CHARS = 64, 64, 512


def audit_attributes(identity: FederatedIdentity) -> dict[str, list[str]]:
    """The asserted claims, bounded, for the sign-in audit event (simulator replays them)."""
    return {
        name[:_AUDIT_CHARS]: [value[:_AUDIT_CHARS] for value in values[:_AUDIT_VALUES]]
        for name, values in sorted(identity.attributes.items())[:_AUDIT_CLAIMS]
    }


def start(identity: FederatedIdentity, provider: IdentityProvider,
          details: Mapping[str, Any] | None = None) -> str:
    """A fresh session for `identity`; returns the new sign-in id."""
    session.regenerate()  # type: ignore[attr-defined]
    session.clear()
    signin_id = secrets.token_urlsafe(16)
    session[IDENTITY_KEY] = identity.to_session(session_claims(provider))
    # Forms are protected by Flask-WTF (gateway.web.csrf); no token of our own here.
    session[SIGNIN_KEY] = {"id": signin_id, **dict(details or {})}
    session[LAST_PROVIDER_KEY] = provider.name
    return signin_id


def current(rt: Runtime) -> SignedIn | None:
    """The signed-in person, or None (never signed in, garbled, or ended by the IdP)."""
    data = session.get(IDENTITY_KEY)
    if not isinstance(data, dict):
        return None
    try:
        identity = FederatedIdentity.from_session(data)
    except (KeyError, TypeError, ValueError):
        return None
    info = session.get(SIGNIN_KEY)
    if not isinstance(info, dict):
        # A source that stored only the identity (see gateway.web.oidc): give the sign-in
        # an id and a form token now.
        info = {"id": secrets.token_urlsafe(16)}
        session[SIGNIN_KEY] = info
    signin_id = str(info.get("id", ""))
    if signin_id and rt.redis.exists(rt.keys.signin_ended(signin_id)):
        end(rt, signin_id)
        return None
    return SignedIn(identity, signin_id, info)


def end(rt: Runtime, signin_id: str | None) -> None:
    """Destroy this browser's session (its Redis record goes with it)."""
    session.destroy()  # type: ignore[attr-defined]
    if signin_id:
        rt.redis.delete(rt.keys.signin_credentials(signin_id))


def track_credentials(rt: Runtime, signin_id: str, access_key_id: str, expires_at: int) -> None:
    """Remember what this sign-in minted, so logout can revoke it when the IdP says so."""
    key = rt.keys.signin_credentials(signin_id)
    pipe = rt.redis.pipeline()
    pipe.rpush(key, f"{access_key_id} {expires_at}")
    pipe.ltrim(key, -MAX_TRACKED_CREDENTIALS, -1)
    pipe.expire(key, rt.settings.session_lifetime)
    pipe.execute()


def revoke_credentials(rt: Runtime, signin_id: str) -> list[tuple[str, int]]:
    """Revoke every credential this sign-in minted; each one's access key id and expiry."""
    key = rt.keys.signin_credentials(signin_id)
    entries = rt.redis.lrange(key, 0, -1)
    revoked: list[tuple[str, int]] = []
    for entry in entries:
        text = entry.decode() if isinstance(entry, bytes) else str(entry)
        access_key_id, _, expires = text.partition(" ")
        rt.revocations.revoke(access_key_id, int(expires))
        revoked.append((access_key_id, int(expires)))
    rt.redis.delete(key)
    return revoked
