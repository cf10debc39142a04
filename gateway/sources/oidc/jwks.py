"""Providers' signing keys (JWKS), cached per URL and refetched at most so often.

A token naming an unknown `kid` triggers one refetch (the provider may have rotated
keys), but no more than once per `MIN_REFETCH` seconds per key set, so a flood of
tokens with random kids cannot turn the gateway into a JWKS-fetching amplifier (the
authlib 1.9 gap). Only the configured or discovered `jwks_uri` is ever fetched: the
token's own `jku`, `x5u`, `jwk` and `x5c` headers are never read.

When a key set is due for a refetch and the provider does not answer, the last good
keys keep verifying (for up to `MAX_STALE`) and the provider is asked again only after
`MIN_REFETCH` seconds, so an outage costs one slow request per interval, not every one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.sources.oidc import http
from gateway.sts.errors import IDPCommunicationError, InvalidIdentityToken

if TYPE_CHECKING:
    # joserfc is imported where keys are used: a worker without OpenID providers
    # never loads it (docs/decisions/0009-performance.md, "Memory").
    from joserfc.jwk import ECKey, RSAKey

    PublicKey = RSAKey | ECKey

log = logging.getLogger(__name__)

MIN_REFETCH = 30.0  # seconds between fetches of one key set (unknown kids, failures)
MAX_STALE = 7 * 24 * 3600.0  # how old the last good key set may be while the provider is down
TTL = (3600.0, 60.0, 86400.0)  # default, lowest, highest seconds (Cache-Control honoured)
MIN_RSA_BITS = 2048
MAX_KEYS = 100
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


@dataclass(slots=True)
class _Entry:
    by_kid: dict[str, PublicKey]
    unnamed: list[PublicKey]
    algs: dict[int, str]  # id(key) → the alg the JWK pins, when it does
    fetched: float
    fresh_until: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    attempted: float = 0.0  # the last fetch, successful or not
    failing: bool = False  # the last fetch failed: keys are the last good ones


def compatible(alg: str, key: PublicKey) -> bool:
    """Whether a key can verify `alg` (RSA for RS*/PS*, the matching curve for ES*)."""
    from joserfc.jwk import ECKey, RSAKey

    if alg[:2] in ("RS", "PS"):
        return isinstance(key, RSAKey)
    return isinstance(key, ECKey) and key.curve_name == _CURVES.get(alg)


def parse_key_set(document: Mapping[str, Any]) -> tuple[dict[str, PublicKey], list[PublicKey],
                                                        dict[int, str]]:
    """Public signing keys of a JWKS document; unusable entries are skipped, not fatal."""
    from joserfc.errors import JoseError
    from joserfc.jwk import ECKey, RSAKey

    raw_keys = document.get("keys")
    if not isinstance(raw_keys, list):
        raise IDPCommunicationError("the provider's key set has no keys list")
    by_kid: dict[str, PublicKey] = {}
    unnamed: list[PublicKey] = []
    algs: dict[int, str] = {}
    for raw in raw_keys[:MAX_KEYS]:
        if not isinstance(raw, dict) or raw.get("use", "sig") != "sig":
            continue
        public = {k: v for k, v in raw.items() if k not in _PRIVATE}
        try:
            key: PublicKey
            if public.get("kty") == "RSA":
                key = RSAKey.import_key(public)
                if key.raw_value.key_size < MIN_RSA_BITS:
                    continue
            elif public.get("kty") == "EC":
                key = ECKey.import_key(public)
            else:
                continue
        except (JoseError, ValueError, TypeError):
            continue
        if isinstance(raw.get("alg"), str):
            algs[id(key)] = raw["alg"]
        kid = raw.get("kid")
        if isinstance(kid, str):
            by_kid.setdefault(kid, key)
        else:
            unnamed.append(key)
    return by_kid, unnamed, algs


class KeySets:
    """Every provider key set this process has seen, by URL."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def key_for(self, uri: str, kid: str | None, alg: str, *, what: str) -> PublicKey:
        """The key that must have signed a token with this header, or InvalidIdentityToken."""
        entry = self._entry(uri, what)
        key = self._pick(entry, kid, alg)
        if key is None and time.monotonic() - entry.attempted >= MIN_REFETCH:
            entry = self._refresh(uri, what, entry)
            key = self._pick(entry, kid, alg)
        if key is None and entry.failing:
            # Perhaps a rotated key the provider publishes, but it cannot be asked now.
            raise IDPCommunicationError(
                f"{what}: the identity provider's key set could not be fetched", detail=uri
            )
        if key is None:
            raise InvalidIdentityToken(
                "The token was not signed by a key the identity provider publishes.",
                detail=f"no usable key for kid={kid!r} alg={alg} in {uri}",
            )
        return key

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @staticmethod
    def _pick(entry: _Entry, kid: str | None, alg: str) -> PublicKey | None:
        if kid is not None:
            candidates = [entry.by_kid[kid]] if kid in entry.by_kid else []
        else:
            candidates = [*entry.by_kid.values(), *entry.unnamed]
        usable = [k for k in candidates if compatible(alg, k) and entry.algs.get(id(k), alg) == alg]
        # Without a kid the choice must be unambiguous: never try keys one after another.
        return usable[0] if len(usable) == 1 else None

    def _entry(self, uri: str, what: str) -> _Entry:
        with self._lock:
            entry = self._entries.get(uri)
        now = time.monotonic()
        if entry is not None and entry.fresh_until > now:
            return entry
        try:
            return self._refresh(uri, what, entry)
        except IDPCommunicationError as exc:
            if entry is None or now - entry.fetched > MAX_STALE:
                raise
            log.warning("%s: keeping the last good key set of %s: %s", what, uri, exc.message)
            entry.fresh_until = now + MIN_REFETCH
            return entry

    def _refresh(self, uri: str, what: str, seen: _Entry | None) -> _Entry:
        asked = time.monotonic()
        lock = seen.lock if seen is not None else threading.Lock()
        with lock:
            with self._lock:
                current = self._entries.get(uri)
            # Another thread fetched (or failed to) while this one waited: use its result.
            if current is not None and (current is not seen or current.attempted >= asked):
                return current
            try:
                reply = http.get_json(uri, what=what)
                if not reply.ok:
                    raise IDPCommunicationError(
                        f"{what}: the key set answered HTTP {reply.status}", detail=uri
                    )
                by_kid, unnamed, algs = parse_key_set(reply.body)
            except IDPCommunicationError:
                if seen is not None:
                    seen.attempted, seen.failing = time.monotonic(), True
                raise
            now = time.monotonic()
            fresh = http.max_age(reply.headers, *TTL)
            entry = _Entry(by_kid, unnamed, algs, now, now + fresh, lock, attempted=now)
            with self._lock:
                self._entries[uri] = entry
            return entry


KEYS = KeySets()
