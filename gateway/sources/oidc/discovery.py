"""Provider metadata: OpenID discovery documents (cached), the social providers' fixed
endpoints, and the per-provider `endpoints` overrides that let emulators stand in."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.sources.oidc import http
from gateway.store.snapshot import IdentityProvider
from gateway.sts.errors import IDPCommunicationError

# Where the providers without discovery serve each step (their documented endpoints).
# Facebook's Graph `debug_token` and Amazon's `tokeninfo` are token introspection;
# Graph `/me` and Amazon's profile are user info.
FIXED: Mapping[str, Mapping[str, str]] = {
    "facebook": {
        "authorization_endpoint": "https://www.facebook.com/v19.0/dialog/oauth",
        "token_endpoint": "https://graph.facebook.com/v19.0/oauth/access_token",
        "userinfo_endpoint": "https://graph.facebook.com/v19.0/me",
        "introspection_endpoint": "https://graph.facebook.com/v19.0/debug_token",
        # Limited Login ID tokens (iss https://www.facebook.com).
        "jwks_uri": "https://limited.facebook.com/.well-known/oauth/openid/jwks/",
    },
    "amazon": {
        "authorization_endpoint": "https://www.amazon.com/ap/oa",
        "token_endpoint": "https://api.amazon.com/auth/o2/token",
        "userinfo_endpoint": "https://api.amazon.com/user/profile",
        "introspection_endpoint": "https://api.amazon.com/auth/o2/tokeninfo",
    },
}
DISCOVERY_TTL = (3600.0, 300.0, 86400.0)  # default, lowest, highest seconds
MAX_ENTRIES = 256
RETRY = 30.0  # seconds before asking a provider that failed to answer again
MAX_STALE = 7 * 24 * 3600.0  # how old the last good document may be while the provider is down
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Metadata:
    """What the gateway needs to know about a provider's endpoints and abilities."""

    issuer: str
    values: Mapping[str, Any]

    def endpoint(self, name: str) -> str:
        value = self.values.get(name)
        if not isinstance(value, str) or not value:
            raise IDPCommunicationError(
                f"{self.issuer}: the provider does not publish a {name}",
            )
        return value

    @property
    def iss_parameter_supported(self) -> bool:
        """RFC 9207: the provider promises an `iss` parameter in authorization responses."""
        return self.values.get("authorization_response_iss_parameter_supported") is True

    def token_auth_method(self) -> str:
        methods = self.values.get("token_endpoint_auth_methods_supported")
        if (
            isinstance(methods, list)
            and "client_secret_basic" not in methods
            and "client_secret_post" in methods
        ):
            return "client_secret_post"
        return "client_secret_basic"


@dataclass(frozen=True, slots=True)
class _Entry:
    fresh_until: float
    fetched: float
    document: Mapping[str, Any]


class _Cache:
    """Discovery documents by issuer, each kept for its Cache-Control max-age.

    When a document is due for a refetch and the provider does not answer, the last
    good one keeps serving (up to MAX_STALE) and the provider is asked again after
    RETRY seconds.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def get(self, issuer: str) -> Mapping[str, Any]:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(issuer)
        if entry is not None and entry.fresh_until > now:
            return entry.document
        try:
            document, ttl = self._fetch(issuer)
        except IDPCommunicationError as exc:
            if entry is None or now - entry.fetched > MAX_STALE:
                raise
            log.warning("%s: keeping the last good discovery document: %s", issuer,
                        exc.message)
            with self._lock:
                self._entries[issuer] = _Entry(now + RETRY, entry.fetched, entry.document)
            return entry.document
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[issuer] = _Entry(now + ttl, now, document)
        return document

    @staticmethod
    def _fetch(issuer: str) -> tuple[Mapping[str, Any], float]:
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        reply = http.get_json(url, what=issuer)
        if not reply.ok:
            raise IDPCommunicationError(
                f"{issuer}: discovery answered HTTP {reply.status}", detail=url
            )
        document = reply.body
        # OpenID Connect Discovery §4.3: the document must name the issuer it describes.
        if document.get("issuer") != issuer:
            raise IDPCommunicationError(
                f"{issuer}: the discovery document names another issuer",
                detail=f"issuer in document: {document.get('issuer')!r}",
            )
        return document, http.max_age(reply.headers, *DISCOVERY_TTL)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CACHE = _Cache()

_NEEDED = ("authorization_endpoint", "token_endpoint", "jwks_uri")


def metadata(provider: IdentityProvider, *, need: tuple[str, ...] = _NEEDED) -> Metadata:
    """The provider's endpoints: overrides first, then fixed ones, then discovery.

    Discovery is fetched only when an endpoint in `need` is not configured otherwise,
    so a provider whose endpoints are all overridden never needs it.
    """
    issuer = provider.issuer or ""
    values: dict[str, Any] = dict(FIXED.get(provider.kind, {}))
    values.update(provider.endpoints)
    if provider.kind in ("oidc", "google") and any(name not in values for name in need):
        discovered = dict(CACHE.get(issuer))
        discovered.update(values)
        values = discovered
    return Metadata(issuer, values)
