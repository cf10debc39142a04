"""Google's rules on top of OpenID Connect: its two issuer spellings and the optional
hosted-domain (`hd`) restriction. `email_verified` is honoured for every provider."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.store.snapshot import IdentityProvider
from gateway.sts.errors import IDPRejectedClaim

# Google documents both spellings of its issuer in ID tokens.
ISSUER_ALIASES = frozenset({"https://accounts.google.com", "accounts.google.com"})
HOSTED_DOMAINS_OPTION = "hosted_domains"


def hosted_domains(provider: IdentityProvider) -> tuple[str, ...]:
    value = provider.options.get(HOSTED_DOMAINS_OPTION)
    return value if isinstance(value, tuple) else ()


def check(provider: IdentityProvider, claims: Mapping[str, Any]) -> None:
    """Refuse accounts outside the configured Workspace domains, when any are configured."""
    allowed = hosted_domains(provider)
    if allowed and claims.get("hd") not in allowed:
        raise IDPRejectedClaim(
            "accounts.google.com: the account is not in a hosted domain this gateway accepts",
            detail=f"hd={claims.get('hd')!r}",
        )


def authorization_params(provider: IdentityProvider) -> dict[str, str]:
    """`hd` asks Google's account chooser to offer only that domain (a hint, not a check)."""
    allowed = hosted_domains(provider)
    return {"hd": allowed[0]} if len(allowed) == 1 else {}
