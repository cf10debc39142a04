"""Break-glass admin sign-in links: one-time, short-lived, stored hashed in Redis.

`gateway admin link` (run on the server, so by someone who already controls it) makes a
token and prints `<base>/admin/link/<token>`. Redis holds only the token's SHA-256 with
a TTL, so a Redis dump does not contain usable links. The first POST that presents the
token deletes it in the same MULTI/EXEC that reads it: two browsers racing for one
link cannot both win.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Final, cast

import redis

from gateway.state.keys import Keys

DEFAULT_MINUTES: Final = 10
MAX_MINUTES: Final = 60
# token_urlsafe(32): 43 characters of [A-Za-z0-9_-]; anything else is not worth a Redis call.
_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class Link:
    """What was stored for a link; `link_id` names it in audit records (not the token)."""

    link_id: str
    created_at: int
    expires_at: int
    reason: str


def link_id(token: str) -> str:
    """A short public name for the token: enough to correlate audit records, useless to sign in."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def create(
    store: redis.Redis, keys: Keys, *, minutes: int = DEFAULT_MINUTES, reason: str = ""
) -> tuple[str, Link]:
    """A new token and what it stands for; valid once, for `minutes` minutes."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise ValueError(f"a link is valid for 1 to {MAX_MINUTES} minutes")
    token = secrets.token_urlsafe(32)
    now = int(time.time())
    link = Link(link_id(token), now, now + minutes * 60, reason[:200])
    record = {"created_at": link.created_at, "expires_at": link.expires_at, "reason": link.reason}
    store.set(keys.admin_link(token), json.dumps(record), ex=minutes * 60)
    return token, link


def valid_shape(token: str) -> bool:
    return _TOKEN.fullmatch(token) is not None


def peek(store: redis.Redis, keys: Keys, token: str) -> bool:
    """Whether the token is still usable, without using it (for the confirmation page)."""
    return valid_shape(token) and bool(store.exists(keys.admin_link(token)))


def consume(store: redis.Redis, keys: Keys, token: str) -> Link | None:
    """Use the token: its record if it was valid and unused, else None. Never twice."""
    if not valid_shape(token):
        return None
    key = keys.admin_link(token)
    pipe = store.pipeline(transaction=True)
    pipe.get(key)
    pipe.delete(key)
    raw, deleted = cast(tuple[bytes | None, int], tuple(pipe.execute()))
    if raw is None or deleted != 1:
        return None
    try:
        data = json.loads(raw)
        link = Link(link_id(token), int(data["created_at"]), int(data["expires_at"]),
                    str(data.get("reason", "")))
    except (ValueError, KeyError, TypeError):
        return None
    # The TTL already enforces expiry; this guards against a key restored from a dump.
    return link if link.expires_at > time.time() else None
