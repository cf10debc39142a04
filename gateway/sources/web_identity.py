"""Web identity tokens for AssumeRoleWithWebIdentity and the RFC 8693 token exchange.

OpenID Connect ID tokens (generic providers, Google, Facebook Limited Login) carry no
`ProviderId` and are routed by their `iss`; Facebook and Login with Amazon access
tokens are opaque and name their provider with `ProviderId` (`graph.facebook.com`,
`www.amazon.com`), as in AWS. Errors are AWS's: InvalidIdentityToken, IDPRejectedClaim,
IDPCommunicationError and ExpiredTokenException.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app, has_app_context

from gateway.identity import FederatedIdentity
from gateway.sources import disabled
from gateway.sources.oidc import amazon, facebook
from gateway.sources.oidc.id_token import looks_like_jwt, peek
from gateway.sources.oidc.tokens import identity_from_jwt
from gateway.store.snapshot import IdentityProvider, Snapshot
from gateway.sts.errors import InvalidIdentityToken, InvalidParameterValue

DEFAULT_SKEW = 120
# How old (by `iat`) a presented ID token may be. Providers issue ID tokens for an hour;
# a day leaves room for clients that cache them, and refuses tokens replayed much later.
MAX_TOKEN_AGE = 24 * 3600
PROVIDER_IDS = {facebook.PROVIDER_ID: "facebook", amazon.PROVIDER_ID: "amazon"}


def _skew() -> int:
    if has_app_context():
        from gateway.runtime import runtime

        return runtime().settings.clock_skew
    return DEFAULT_SKEW


def providers_of_kind(snapshot: Snapshot, kind: str) -> list[IdentityProvider]:
    return sorted(
        (p for p in snapshot.providers_by_name.values() if p.kind == kind), key=lambda p: p.name
    )


def count_subject(scope: str, identity: FederatedIdentity) -> None:
    """The per-subject rate limit, when the app installed one (gateway.web.ratelimit)."""
    if has_app_context():
        hook = current_app.extensions.get("gateway.subject_limit")
        if hook is not None:
            hook(scope, identity)


def identity_from_token(
    token: str,
    snapshot: Snapshot,
    *,
    provider_id: str | None,
    now: datetime,
    skew: int | None = None,
    limit_scope: str = "sts",
) -> tuple[FederatedIdentity, IdentityProvider]:
    """Validate `token` against the configured providers; raise the STS error AWS would.

    Each validated identity counts against the `<limit_scope>:subject` rate limit.
    """
    identity, provider = _validate(token, snapshot, provider_id=provider_id, now=now,
                                   skew=_skew() if skew is None else skew)
    count_subject(limit_scope, identity)
    return identity, provider


def _validate(
    token: str, snapshot: Snapshot, *, provider_id: str | None, now: datetime, skew: int
) -> tuple[FederatedIdentity, IdentityProvider]:
    token = token.strip()
    if not provider_id:
        return identity_from_jwt(peek(token), snapshot, now=now, skew=skew,
                                 max_age=MAX_TOKEN_AGE)
    kind = PROVIDER_IDS.get(provider_id)
    if kind is None:
        raise InvalidParameterValue(
            f"ProviderId {provider_id[:64]!r} is not supported: use graph.facebook.com or "
            "www.amazon.com for their access tokens, and omit it for OpenID Connect ID tokens."
        )
    configured = providers_of_kind(snapshot, kind)
    if not configured:
        raise InvalidIdentityToken(f"No identity provider is configured for {provider_id}")
    candidates = [p for p in configured if p.enabled]
    if not candidates:
        raise InvalidIdentityToken(disabled.tokens_refused(configured[0]), detail=disabled.CODE)
    if kind == "facebook" and looks_like_jwt(token):
        # A Limited Login token presented with Facebook's ProviderId.
        identity, provider = identity_from_jwt(peek(token), snapshot, now=now, skew=skew,
                                               max_age=MAX_TOKEN_AGE)
        if provider.kind != "facebook":
            raise InvalidIdentityToken("The token was not issued by Facebook.")
        return identity, provider
    if len(candidates) > 1:
        # Each app validates with its own app token; the token tells which app it is for.
        last: InvalidIdentityToken | None = None
        for provider in candidates:
            try:
                return _opaque(kind, provider, token, now), provider
            except InvalidIdentityToken as exc:
                last = exc
        assert last is not None
        raise last
    return _opaque(kind, candidates[0], token, now), candidates[0]


def _opaque(kind: str, provider: IdentityProvider, token: str, now: datetime) -> FederatedIdentity:
    if kind == "facebook":
        return facebook.identity_from_access_token(provider, token, now=now)
    return amazon.identity_from_access_token(provider, token, now=now)
