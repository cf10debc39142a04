"""JWT identity tokens (generic OpenID Connect, Google, Facebook Limited Login) →
FederatedIdentity: provider by `iss`, key by `kid`, then every claim rule."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from gateway.identity import FederatedIdentity
from gateway.sources import disabled
from gateway.sources.oidc import claims as claim_rules
from gateway.sources.oidc import discovery, google
from gateway.sources.oidc.id_token import Unverified, check_claims, verify_signature
from gateway.sources.oidc.jwks import KEYS
from gateway.store.snapshot import IdentityProvider, Snapshot
from gateway.sts.errors import InvalidIdentityToken

JWT_KINDS = frozenset({"oidc", "google", "facebook"})


def provider_for_issuer(iss: object, snapshot: Snapshot) -> IdentityProvider:
    """The configured provider whose issuer the token names, exactly."""
    provider = snapshot.providers_by_issuer.get(iss) if isinstance(iss, str) else None
    if provider is None and iss in google.ISSUER_ALIASES:
        provider = next(
            (p for p in snapshot.providers_by_name.values() if p.kind == "google"), None
        )
    if provider is None or provider.kind not in JWT_KINDS:
        raise InvalidIdentityToken(
            f"No OpenIDConnect provider found in your account for {str(iss)[:256]}"
        )
    if not provider.enabled:
        # Before any key fetch or signature check: a disabled provider costs nothing.
        raise InvalidIdentityToken(disabled.tokens_refused(provider), detail=disabled.CODE)
    return provider


def issuers(provider: IdentityProvider) -> frozenset[str]:
    """The `iss` values a provider's tokens may carry."""
    configured = provider.issuer or ""
    if provider.kind == "google":
        return frozenset({configured, *google.ISSUER_ALIASES})
    return frozenset({configured})


def identity_issuer(provider: IdentityProvider) -> str:
    """The issuer identities are keyed on: Facebook's is the same for both of its flows."""
    if provider.kind == "facebook":
        return provider.federated_principal
    return provider.issuer or ""


def condition_provider(provider: IdentityProvider) -> str:
    """How AWS prefixes this provider's condition keys (`accounts.google.com`, host/path)."""
    if provider.kind in ("google", "facebook"):
        return provider.federated_principal
    parts = urlsplit(provider.issuer or "")
    return f"{parts.netloc}{parts.path.rstrip('/')}"


def identity_from_jwt(
    token: Unverified,
    snapshot: Snapshot,
    *,
    now: datetime,
    skew: int,
    max_age: int,
    nonce: str | None = None,
    expected: IdentityProvider | None = None,
) -> tuple[FederatedIdentity, IdentityProvider]:
    """Validate a JWT ID token completely; `expected` pins the provider (browser flow)."""
    provider = provider_for_issuer(token.claims.get("iss"), snapshot)
    if expected is not None and provider.name != expected.name:
        raise InvalidIdentityToken("The token was issued by another identity provider.",
                                   detail=f"iss names {provider.name}, expected {expected.name}")
    # Claims first (no network, no RSA): cheap refusals stay cheap.
    check_claims(
        token.claims, issuers=issuers(provider), client_ids=provider.client_ids, now=now,
        skew=skew, max_age=max_age, nonce=nonce,
    )
    meta = discovery.metadata(provider, need=("jwks_uri",))
    key = KEYS.key_for(meta.endpoint("jwks_uri"), token.kid, token.alg, what=provider.name)
    verify_signature(token, key)
    email_ok = claim_rules.verified(token.claims)
    if provider.kind == "google":
        google.check(provider, token.claims)
    elif provider.kind == "facebook":
        email_ok = True  # Facebook shares only confirmed addresses
    identity = claim_rules.from_id_token(
        provider, token.claims, token.token,
        issuer=identity_issuer(provider),
        condition_provider=condition_provider(provider),
        email_is_verified=email_ok,
    )
    return identity, provider
