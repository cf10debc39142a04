"""Words every entry point uses for an identity provider an administrator disabled.

A disabled provider stays configured (its rules, the trust policies naming it) but
signs nobody in: its sign-in page entry, SAML ACS or OIDC callback, AssumeRoleWithSAML,
AssumeRoleWithWebIdentity and /api/v1/token all refuse it, each in its own protocol.
"""

from __future__ import annotations

from gateway.store.snapshot import IdentityProvider

CODE = "provider_disabled"


def sign_in_refused(provider: IdentityProvider) -> str:
    label = provider.display_name or provider.name
    return (f"Sign-in through {label} is turned off on this gateway. Ask an administrator "
            "if you need it.")


def tokens_refused(provider: IdentityProvider) -> str:
    return (f"The identity provider {provider.name} is disabled on this gateway; its tokens "
            "are not accepted.")
