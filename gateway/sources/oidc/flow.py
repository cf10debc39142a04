"""The browser authorization code flow (authlib as the OAuth 2.0 client).

PKCE S256 always (authlib leaves it off unless asked), a `state` that is bound to
the browser session and to the provider and usable once, a `nonce` for ID tokens,
the RFC 9207 `iss` response parameter checked (authlib has no such check), and a
per-provider redirect URI so a response can only be consumed by the provider whose
sign-in started it (mix-up defence).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis

from gateway.identity import FederatedIdentity
from gateway.sources import outbound
from gateway.sources.oidc import amazon, facebook, google
from gateway.sources.oidc.discovery import Metadata, metadata
from gateway.sources.oidc.id_token import peek
from gateway.sources.oidc.tokens import identity_from_jwt, issuers
from gateway.state.keys import Keys
from gateway.store.snapshot import IdentityProvider, Snapshot
from gateway.sts.errors import IDPCommunicationError, IDPRejectedClaim, StsError

if TYPE_CHECKING:
    from authlib.integrations.requests_client import OAuth2Session

PENDING_TTL = 600  # seconds a person has to finish signing in at the provider
ID_TOKEN_MAX_AGE = 600  # an ID token fresh from the token endpoint is minutes old at most
DEFAULT_SCOPES: Mapping[str, tuple[str, ...]] = {
    "oidc": ("openid", "email", "profile"),
    "google": ("openid", "email", "profile"),
    "facebook": ("email", "public_profile"),
    "amazon": ("profile",),
}
ID_TOKEN_KINDS = frozenset({"oidc", "google"})
# Providers that take client credentials in the body rather than HTTP Basic.
_POST_AUTH_KINDS = frozenset({"facebook", "amazon"})


class SignInError(Exception):
    """A browser sign-in that must stop: a reason code for logs, words for the person."""

    def __init__(self, code: str, message: str, status: int = 400, *, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.detail = detail

    @classmethod
    def from_sts(cls, error: StsError) -> SignInError:
        if isinstance(error, IDPCommunicationError):
            return cls(error.code, "The identity provider could not be reached. Please try "
                       "again in a moment.", 503, detail=error.detail or error.message)
        return cls(error.code, error.message, 403 if error.status == 403 else 400,
                   detail=error.detail or "")


@dataclass(frozen=True, slots=True)
class Pending:
    """An outstanding sign-in, kept in Redis under its state until the callback."""

    provider: str
    binding: str  # sha256 of the browser session's binding secret
    nonce: str
    verifier: str  # the PKCE code verifier
    created: int
    next: str | None = None  # a same-origin path to land on after sign-in (checked)


def binding_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _state_key(keys: Keys, state: str) -> str:
    # Attacker-supplied state never becomes part of a key verbatim.
    return keys.oidc_state(hashlib.sha256(state.encode()).hexdigest())


def save(store: redis.Redis, keys: Keys, state: str, pending: Pending) -> None:
    store.set(_state_key(keys, state), json.dumps(asdict(pending)), ex=PENDING_TTL)


def take(store: redis.Redis, keys: Keys, state: str) -> Pending | None:
    """The pending sign-in for `state`, removed atomically: a state works once."""
    if not state or len(state) > 256:
        return None
    raw = store.getdel(_state_key(keys, state))
    if raw is None:
        return None
    try:
        return Pending(**json.loads(raw))
    except (TypeError, ValueError):
        return None


def _client(provider: IdentityProvider, redirect_uri: str, meta: Metadata | None) -> OAuth2Session:
    # authlib is imported on first sign-in, not at start-up (worker boot time).
    from authlib.integrations.requests_client import OAuth2Session

    from gateway.sources.oidc import pool

    if provider.kind in _POST_AUTH_KINDS:
        auth_method = "client_secret_post"
    else:
        auth_method = meta.token_auth_method() if meta is not None else "client_secret_basic"
    scopes = provider.scopes or DEFAULT_SCOPES.get(provider.kind, ("openid",))
    session = OAuth2Session(
        client_id=provider.client_ids[0] if provider.client_ids else "",
        client_secret=provider.client_secret,
        scope=" ".join(scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=auth_method,
    )
    return pool.pooled(session)  # the process's connections, no proxy from the environment


def begin(
    provider: IdentityProvider, *, redirect_uri: str, binding_secret: str
) -> tuple[str, str, Pending]:
    """The provider's authorization URL, the state, and what to remember until the callback."""
    try:
        meta = metadata(provider, need=("authorization_endpoint",))
        endpoint = meta.endpoint("authorization_endpoint")
    except StsError as exc:
        raise SignInError.from_sts(exc) from None
    from authlib.common.security import generate_token

    state = generate_token(43)
    pending = Pending(
        provider=provider.name,
        binding=binding_digest(binding_secret),
        nonce=generate_token(32),
        verifier=generate_token(64),
        created=int(time.time()),
    )
    extra: dict[str, str] = {}
    if provider.kind in ID_TOKEN_KINDS:
        extra["nonce"] = pending.nonce
    if provider.kind == "google":
        extra.update(google.authorization_params(provider))
    client = _client(provider, redirect_uri, meta)
    url, _ = client.create_authorization_url(
        endpoint, state=state, code_verifier=pending.verifier, **extra
    )
    return str(url), state, pending


def check_response(
    provider: IdentityProvider, params: Mapping[str, str], pending: Pending | None,
    binding_secret: str | None,
) -> Pending:
    """State, binding and provider checks on the callback, before any outbound call."""
    if pending is None:
        raise SignInError("state_mismatch", "This sign-in link is unknown, expired or was "
                          "already used. Please start again.")
    if pending.provider != provider.name:
        raise SignInError("provider_mismatch", "The answer came back for another identity "
                          "provider than the one you started with. Please start again.",
                          detail=f"started at {pending.provider}, answered at {provider.name}")
    if binding_secret is None or not hmac.compare_digest(
        pending.binding, binding_digest(binding_secret)
    ):
        raise SignInError("session_mismatch", "This sign-in was started in another browser "
                          "session. Please start again.")
    error = params.get("error")
    if error:
        raise SignInError("provider_error", "The identity provider did not sign you in "
                          f"({error[:64]}).", 403, detail=params.get("error_description", "")[:300])
    return pending


def check_iss(provider: IdentityProvider, iss: str | None) -> None:
    """RFC 9207: the `iss` response parameter, required when the provider advertises it."""
    if provider.kind not in ID_TOKEN_KINDS:
        return
    try:
        meta = metadata(provider, need=("authorization_endpoint",))
    except StsError as exc:
        raise SignInError.from_sts(exc) from None
    if iss is None:
        if meta.iss_parameter_supported:
            raise SignInError("iss_missing", "The identity provider's answer did not say who "
                              "issued it. Please start again.")
        return
    if iss not in issuers(provider):
        raise SignInError("iss_mismatch", "The answer came from another identity provider "
                          "than the one you started with.", detail=f"iss={iss[:200]!r}")


def complete(
    provider: IdentityProvider,
    params: Mapping[str, str],
    pending: Pending,
    *,
    redirect_uri: str,
    snapshot: Snapshot,
    now: datetime,
    skew: int,
) -> FederatedIdentity:
    """Exchange the code (with the PKCE verifier) and validate what comes back."""
    check_iss(provider, params.get("iss"))
    code = params.get("code", "")
    if not code or len(code) > 2048:
        raise SignInError("code_missing", "The identity provider's answer had no "
                          "authorization code.")
    try:
        token = _exchange(provider, code, pending, redirect_uri)
        if provider.kind in ID_TOKEN_KINDS:
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise IDPRejectedClaim(f"{provider.name}: the token response had no ID token")
            identity, _ = identity_from_jwt(
                peek(id_token), snapshot, now=now, skew=skew, max_age=ID_TOKEN_MAX_AGE,
                nonce=pending.nonce, expected=provider,
            )
            return identity
        access = token.get("access_token")
        if not isinstance(access, str):
            raise IDPRejectedClaim(f"{provider.name}: the token response had no access token")
        if provider.kind == "facebook":
            return facebook.identity_from_access_token(provider, access, now=now)
        return amazon.identity_from_access_token(provider, access, now=now)
    except StsError as exc:
        raise SignInError.from_sts(exc) from None


def _exchange(
    provider: IdentityProvider, code: str, pending: Pending, redirect_uri: str
) -> Mapping[str, Any]:
    import requests
    from authlib.integrations.base_client.errors import OAuthError

    meta = metadata(provider, need=("token_endpoint",))
    client = _client(provider, redirect_uri, meta)
    timeout = outbound.TIMEOUT
    try:
        token: Mapping[str, Any] = outbound.within(lambda: client.fetch_token(
            meta.endpoint("token_endpoint"), grant_type="authorization_code", code=code,
            code_verifier=pending.verifier, timeout=timeout,
        ), timeout)
    except OAuthError as exc:
        # invalid_grant: a reused, expired or stolen code, or a wrong PKCE verifier.
        raise IDPRejectedClaim(
            f"{provider.name}: the identity provider refused the authorization code",
            detail=f"{exc.error}: {exc.description}"[:300],
        ) from None
    except (requests.RequestException, ValueError, TimeoutError) as exc:
        raise IDPCommunicationError(
            f"{provider.name}: the token endpoint could not be reached",
            detail=type(exc).__name__,
        ) from None
    finally:
        client.close()
    return token
