"""What SAML keeps in Redis: outstanding requests bound to a browser, and seen assertions.

Request records are consumed exactly once (DEL answers 1 for one caller only); the
replay cache is an atomic SET NX with a TTL reaching past the assertion's expiry,
keyed by a hash of issuer and assertion ID (never raw attacker text).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from gateway.sources.saml.errors import SamlRefusal
from gateway.state.keys import Keys

REQUEST_TTL = 600
_REQUEST_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def new_request_id() -> str:
    """An xs:ID (must not start with a digit) with 160 bits of randomness."""
    return "id-" + secrets.token_hex(20)


def binding_hash(binding: str) -> str:
    return hashlib.sha256(binding.encode()).hexdigest()


@dataclass(frozen=True)
class Outstanding:
    """An AuthnRequest (or LogoutRequest) this gateway sent, waiting for its answer."""

    provider: str
    binding: str  # sha256 of the browser's pre-authentication cookie
    next: str | None = None
    extra: dict[str, Any] | None = None


def remember(store: redis.Redis, key: str, record: Outstanding, ttl: int = REQUEST_TTL) -> None:
    body = {"provider": record.provider, "binding": record.binding, "next": record.next,
            "extra": record.extra}
    store.set(key, json.dumps(body, separators=(",", ":")), ex=ttl)


def look_up(store: redis.Redis, key: str) -> Outstanding | None:
    raw = store.get(key)
    if not raw:
        return None
    data = json.loads(raw)
    return Outstanding(data["provider"], data["binding"], data.get("next"), data.get("extra"))


def consume(store: redis.Redis, key: str) -> bool:
    """True for exactly one caller: the request is answered once."""
    return int(store.delete(key)) == 1


def request_key(keys: Keys, request_id: str) -> str:
    if not _REQUEST_ID.fullmatch(request_id):
        raise SamlRefusal("in_response_to_mismatch",
                          "The response answers a sign-in request this gateway never made.")
    return keys.saml_request(request_id)


def logout_key(keys: Keys, request_id: str) -> str:
    if not _REQUEST_ID.fullmatch(request_id):
        raise SamlRefusal("in_response_to_mismatch",
                          "The logout response answers a request this gateway never made.")
    return keys.saml_logout(request_id)


def _seen_digest(issuer: str, assertion_id: str) -> str:
    return hashlib.sha256(f"{issuer}\0{assertion_id}".encode()).hexdigest()


def was_seen(store: redis.Redis, keys: Keys, issuer: str, assertion_id: str) -> bool:
    """Whether the assertion was accepted already, without recording anything (simulator)."""
    return bool(store.exists(keys.saml_seen(_seen_digest(issuer, assertion_id))))


def mark_seen(store: redis.Redis, keys: Keys, issuer: str, assertion_id: str,
              not_on_or_after: datetime, skew: int) -> bool:
    """Record the assertion; False if it was seen before (a replay)."""
    digest = _seen_digest(issuer, assertion_id)
    return bool(store.set(keys.saml_seen(digest), b"1", nx=True,
                          ex=_seen_ttl(not_on_or_after, skew)))


def consume_and_mark_seen(store: redis.Redis, keys: Keys, request: str, issuer: str,
                          assertion_id: str, not_on_or_after: datetime,
                          skew: int) -> tuple[bool, bool]:
    """`consume(request)` and `mark_seen(...)` in one round trip: (consumed, first seen).

    Both run whatever the other answers; either False refuses the sign-in. Marking an
    assertion that answers an already-consumed request costs nothing: it is refused
    anyway, and so is any later use of it.
    """
    pipe = store.pipeline(transaction=False)
    pipe.delete(request)
    pipe.set(keys.saml_seen(_seen_digest(issuer, assertion_id)), b"1", nx=True,
             ex=_seen_ttl(not_on_or_after, skew))
    deleted, marked = pipe.execute()
    return int(deleted) == 1, bool(marked)


def _seen_ttl(not_on_or_after: datetime, skew: int) -> int:
    return max(1, int(not_on_or_after.timestamp() - time.time()) + skew + 1)
