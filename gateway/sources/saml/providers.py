"""Configured SAML identity providers, each with its current metadata and policy.

Metadata pasted into the configuration is parsed once per change. Metadata from a
URL is fetched on first use, refreshed in the background when its cacheDuration
(default one hour, kept between 5 minutes and a day) runs out, never used past its
validUntil, and when a refresh fails the last good copy keeps serving: in this
process, and through Redis for other workers and restarts.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis

from gateway.sources import outbound
from gateway.sources.saml import metadata as md
from gateway.sources.saml.errors import SamlRefusal
from gateway.state.keys import Keys
from gateway.store.snapshot import IdentityProvider, Snapshot

log = logging.getLogger(__name__)

DEFAULT_REFRESH = timedelta(hours=1)
MIN_REFRESH = timedelta(minutes=5)
MAX_REFRESH = timedelta(days=1)
LAST_GOOD_TTL = 7 * 24 * 3600

Fetch = Callable[[str], bytes]


@dataclass(frozen=True)
class IdpPolicy:
    """What an administrator allowed for one IdP (its `options`)."""

    allow_idp_initiated: bool = False
    relay_state_allowlist: tuple[str, ...] = ()
    revoke_on_logout: bool = False
    allow_sha1: bool = False
    require_signed_response: bool = False
    require_signed_assertion: bool = False
    metadata_signing_certificates: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, options: Mapping[str, bool | tuple[str, ...]]) -> IdpPolicy:
        def flag(name: str) -> bool:
            return options.get(name) is True

        def strings(name: str) -> tuple[str, ...]:
            value = options.get(name)
            return value if isinstance(value, tuple) else ()

        return cls(
            allow_idp_initiated=flag("allow_idp_initiated"),
            relay_state_allowlist=strings("relay_state_allowlist"),
            revoke_on_logout=flag("revoke_on_logout"),
            allow_sha1=flag("allow_sha1"),
            require_signed_response=flag("require_signed_response"),
            require_signed_assertion=flag("require_signed_assertion"),
            metadata_signing_certificates=strings("metadata_signing_certificates"),
        )


@dataclass(frozen=True)
class Idp:
    """One configured SAML provider, ready to validate against."""

    provider: IdentityProvider
    metadata: md.IdpMetadata
    policy: IdpPolicy

    @property
    def entity_id(self) -> str:
        return self.metadata.entity_id


@dataclass
class _Entry:
    source: str
    idp: Idp
    refresh_at: datetime
    refreshing: bool = False


def http_fetch(url: str) -> bytes:
    """GET `url` (http or https only) within GATEWAY_IDP_TIMEOUT and a size cap.

    Raises OSError (TimeoutError when the deadline passed) or ValueError.
    """
    if not url.startswith(("https://", "http://")):
        raise ValueError("metadata URLs must be http(s)")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, headers={"Accept": "application/samlmetadata+xml"}
    )
    timeout = outbound.TIMEOUT
    deadline = time.monotonic() + timeout

    def fetch() -> bytes:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return outbound.read_capped(response.read1, md.MAX_METADATA, deadline)
        except http.client.HTTPException as exc:  # a garbled answer: as good as none
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from None

    body = outbound.within(fetch, timeout)
    if len(body) > md.MAX_METADATA:
        raise ValueError("metadata larger than the size limit")
    return body


class Registry:
    """Per-process cache of provider → Idp; thread-safe."""

    def __init__(self, store: redis.Redis | None, keys: Keys | None,
                 fetch: Fetch = http_fetch) -> None:
        self._store = store
        self._keys = keys
        self._fetch = fetch
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def get(self, provider: IdentityProvider, now: datetime) -> Idp:
        """The provider with usable metadata, or a SamlRefusal (503) saying why not."""
        if provider.kind != "saml":
            raise SamlRefusal("not_saml", f"{provider.name} is not a SAML identity provider.")
        policy = IdpPolicy.from_options(provider.options)
        source = _source_key(provider, policy)
        with self._lock:
            entry = self._entries.get(provider.name)
        if entry is not None and entry.source == source and _usable(entry.idp, now):
            if provider.metadata_url and now >= entry.refresh_at:
                self._refresh_in_background(provider, policy, entry, now)
            return entry.idp if entry.idp.provider is provider else _rebind(entry, provider)
        idp, refresh_at = self._load(provider, policy, now)
        with self._lock:
            self._entries[provider.name] = _Entry(source, idp, refresh_at)
        return idp

    def cached(self) -> list[Idp]:
        """The providers whose metadata this process holds (no fetching)."""
        with self._lock:
            return [entry.idp for entry in self._entries.values()]

    def by_entity_id(self, snapshot: Snapshot, entity_id: str, now: datetime) -> Idp | None:
        """The configured SAML provider whose metadata names `entity_id`."""
        for provider in snapshot.providers_by_saml_arn.values():
            try:
                idp = self.get(provider, now)
            except SamlRefusal:
                continue  # one broken provider must not stop the others
            if idp.entity_id == entity_id:
                return idp
        return None

    def _load(self, provider: IdentityProvider, policy: IdpPolicy,
              now: datetime) -> tuple[Idp, datetime]:
        if provider.metadata_xml:
            parsed = md.parse(provider.metadata_xml.encode(),
                              trusted_signers=policy.metadata_signing_certificates, now=now)
            return Idp(provider, parsed, policy), datetime.max.replace(tzinfo=now.tzinfo)
        if not provider.metadata_url:
            raise md.MetadataError(
                f"No metadata is configured for the identity provider {provider.name}."
            )
        try:
            body = self._fetch(provider.metadata_url)
            parsed = md.parse(body, trusted_signers=policy.metadata_signing_certificates, now=now)
        except (OSError, ValueError, SamlRefusal) as exc:
            last_good = self._last_good(provider.metadata_url)
            if last_good is None:
                error = md.MetadataError(
                    f"The metadata of {provider.name} could not be fetched and no earlier "
                    "copy is available.", str(exc)[:300],
                )
                if isinstance(exc, OSError):  # no answer in time: AssumeRoleWithSAML says so
                    error.sts = "communication"
                raise error from None
            log.warning("metadata of %s unavailable (%s); using the last good copy",
                        provider.name, exc)
            parsed = md.parse(last_good, trusted_signers=policy.metadata_signing_certificates,
                              now=now)
            return Idp(provider, parsed, policy), now + MIN_REFRESH
        self._remember(provider.metadata_url, body)
        return Idp(provider, parsed, policy), now + _refresh_interval(parsed)

    def _refresh_in_background(self, provider: IdentityProvider, policy: IdpPolicy,
                               entry: _Entry, now: datetime) -> None:
        with self._lock:
            if entry.refreshing:
                return
            entry.refreshing = True

        def run() -> None:
            try:
                idp, refresh_at = self._load(provider, policy, now)
            except SamlRefusal as exc:
                log.warning("metadata refresh of %s failed: %s (%s)", provider.name,
                            exc.message, exc.detail)
                with self._lock:
                    entry.refreshing = False
                    entry.refresh_at = now + MIN_REFRESH
                return
            with self._lock:
                self._entries[provider.name] = _Entry(entry.source, idp, refresh_at)

        threading.Thread(target=run, name=f"saml-metadata-{provider.name}", daemon=True).start()

    def _remember(self, url: str, body: bytes) -> None:
        if self._store is None or self._keys is None:
            return
        try:
            self._store.set(self._keys.saml_metadata(url), body, ex=LAST_GOOD_TTL)
        except redis.RedisError as exc:
            log.warning("could not keep a copy of metadata from %s: %s", url, exc)

    def _last_good(self, url: str) -> bytes | None:
        if self._store is None or self._keys is None:
            return None
        try:
            raw = self._store.get(self._keys.saml_metadata(url))
        except redis.RedisError:
            return None
        return raw if isinstance(raw, bytes) else None


def _source_key(provider: IdentityProvider, policy: IdpPolicy) -> str:
    digest = hashlib.sha256()
    digest.update((provider.metadata_xml or "").encode())
    digest.update(b"\0" + (provider.metadata_url or "").encode())
    for cert in policy.metadata_signing_certificates:
        digest.update(b"\0" + cert.encode())
    return digest.hexdigest()


def _usable(idp: Idp, now: datetime) -> bool:
    valid_until = idp.metadata.valid_until
    return valid_until is None or now < valid_until


def _rebind(entry: _Entry, provider: IdentityProvider) -> Idp:
    """Same metadata, newer provider record (options or rules changed, not the metadata)."""
    idp = Idp(provider, entry.idp.metadata, IdpPolicy.from_options(provider.options))
    entry.idp = idp
    return idp


def _refresh_interval(parsed: md.IdpMetadata) -> timedelta:
    wanted = parsed.cache_duration or DEFAULT_REFRESH
    return max(MIN_REFRESH, min(MAX_REFRESH, wanted))
