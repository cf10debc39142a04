"""Protocol-level emulators of an OpenID provider, Google, Facebook and Login with Amazon.

One place for the demo and the tests: `start_all()` serves each on its own port and
returns handles whose state tests can read and mint tokens from; `provider_overrides()`
says which `endpoints` (and secrets) point a configuration's providers at them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.devtools.emulators import amazon, facebook, openid
from gateway.devtools.emulators.common import DEMO_USERS, DemoUser, Served, SigningKey

__all__ = ["DEMO_USERS", "DemoUser", "Emulators", "SigningKey", "demo_config", "point_config",
           "provider_overrides", "start_all"]

OIDC_CLIENT = ("gateway-demo", "demo-secret-not-for-production")
GOOGLE_CLIENT = ("demo-client-id.apps.googleusercontent.com", "demo-google-client-secret")
FACEBOOK_APP = ("100000000000001", "demo-facebook-app-secret")
AMAZON_CLIENT = ("amzn1.application-oa2-client.demo", "demo-amazon-client-secret")
# A second registration at each provider: "another app" in the attack tests.
OTHER_OIDC_CLIENT = ("other-client", "other-secret")
OTHER_GOOGLE_CLIENT = ("other-client.apps.googleusercontent.com", "other-secret")
OTHER_FACEBOOK_APP = ("100000000000999", "other-facebook-secret")
OTHER_AMAZON_CLIENT = ("amzn1.application-oa2-client.other", "other-amazon-secret")
GOOGLE_ISSUER = "https://accounts.google.com"


@dataclass
class Emulators:
    """The four running emulators, their state, and how to stop them."""

    oidc: openid.OpenIdState
    google: openid.OpenIdState
    facebook: facebook.FacebookState
    amazon: amazon.AmazonState
    servers: tuple[Served, ...]

    @property
    def urls(self) -> dict[str, str]:
        return {
            "oidc": self.oidc.base_url, "google": self.google.base_url,
            "facebook": self.facebook.base_url, "amazon": self.amazon.base_url,
        }

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_all(host: str = "127.0.0.1", *, oidc_issuer: str | None = None) -> Emulators:
    """Serve every emulator on a free port of `host`.

    The generic provider's issuer is its own URL (so discovery works) unless
    `oidc_issuer` names another, as the demo configuration does.
    """
    servers: list[Served] = []

    def serve(make: Any, state: Any) -> None:
        server = Served(make(state), host)
        state.base_url = server.url
        servers.append(server)

    oidc_state = openid.OpenIdState(
        issuer=oidc_issuer or "", base_url="", clients=dict([OIDC_CLIENT, OTHER_OIDC_CLIENT])
    )
    serve(openid.make_app, oidc_state)
    oidc_state.issuer = oidc_issuer or oidc_state.base_url
    google_state = openid.OpenIdState(
        issuer=GOOGLE_ISSUER, base_url="", clients=dict([GOOGLE_CLIENT, OTHER_GOOGLE_CLIENT]),
        google=True,
    )
    serve(openid.make_app, google_state)
    facebook_state = facebook.FacebookState(
        base_url="", apps=dict([FACEBOOK_APP, OTHER_FACEBOOK_APP])
    )
    serve(facebook.make_app, facebook_state)
    amazon_state = amazon.AmazonState(
        base_url="", clients=dict([AMAZON_CLIENT, OTHER_AMAZON_CLIENT])
    )
    serve(amazon.make_app, amazon_state)
    return Emulators(oidc_state, google_state, facebook_state, amazon_state, tuple(servers))


def provider_overrides(
    emulators: Emulators, *, discover_oidc: bool = False
) -> dict[str, dict[str, Any]]:
    """Per provider kind: the `endpoints` and `client_secret` that point at the emulators.

    With `discover_oidc` the generic provider gets only its issuer (discovery finds the
    rest); otherwise its endpoints are spelled out (the demo's issuer is just a name).
    """
    o, g, f, a = (emulators.oidc.base_url, emulators.google.base_url,
                  emulators.facebook.base_url, emulators.amazon.base_url)
    oidc: dict[str, Any] = {"issuer": emulators.oidc.issuer, "client_secret": OIDC_CLIENT[1]}
    if not discover_oidc:
        oidc["endpoints"] = {
            "authorization_endpoint": f"{o}/authorize", "token_endpoint": f"{o}/token",
            "jwks_uri": f"{o}/jwks", "userinfo_endpoint": f"{o}/userinfo",
        }
    return {
        "oidc": oidc,
        "google": {
            "client_secret": GOOGLE_CLIENT[1],
            "endpoints": {
                "authorization_endpoint": f"{g}/authorize", "token_endpoint": f"{g}/token",
                "jwks_uri": f"{g}/jwks", "userinfo_endpoint": f"{g}/userinfo",
            },
        },
        "facebook": {
            "client_secret": FACEBOOK_APP[1],
            "endpoints": {
                "authorization_endpoint": f"{f}/dialog/oauth",
                "token_endpoint": f"{f}/oauth/access_token",
                "introspection_endpoint": f"{f}/debug_token",
                "userinfo_endpoint": f"{f}/me",
                "jwks_uri": f"{f}/.well-known/oauth/openid/jwks/",
            },
        },
        "amazon": {
            "client_secret": AMAZON_CLIENT[1],
            "endpoints": {
                "authorization_endpoint": f"{a}/ap/oa",
                "token_endpoint": f"{a}/auth/o2/token",
                "introspection_endpoint": f"{a}/auth/o2/tokeninfo",
                "userinfo_endpoint": f"{a}/user/profile",
            },
        },
    }


def point_config(document: dict[str, Any], emulators: Emulators) -> dict[str, Any]:
    """A configuration document whose OpenID and social providers use the emulators."""
    overrides = provider_overrides(emulators)
    for provider in document.get("identity_providers", []):
        extra = overrides.get(provider.get("kind"))
        if extra is not None:
            provider.update({k: v for k, v in extra.items() if k != "issuer"})
    return document


def demo_config(text: str, host: str = "127.0.0.1") -> tuple[str, Emulators]:
    """Start the emulators for `gateway demo` and point the demo configuration at them.

    The demo's generic provider keeps its issuer name (trust policies mention it); its
    endpoints point at the emulator, which issues tokens under that name.
    """
    import yaml

    document = yaml.safe_load(text)
    issuer = next((p.get("issuer") for p in document.get("identity_providers", [])
                   if p.get("kind") == "oidc"), None)
    emulators = start_all(host, oidc_issuer=issuer)
    return yaml.safe_dump(point_config(document, emulators), sort_keys=False), emulators
