"""The sign-in page people see first (`/`, and `/login` with a `next` path).

Every enabled identity provider with its name and a badge (the provider's initial,
coloured by kind, from our own stylesheet); the one this browser used last comes first
and is marked. A person already signed in goes straight to the console.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, redirect, render_template, session
from werkzeug.wrappers import Response as BaseResponse

from gateway.runtime import runtime
from gateway.store.snapshot import IdentityProvider
from gateway.web import people, signin

bp = Blueprint("portal", __name__)

KIND_LABELS = {
    "saml": "SAML 2.0",
    "oidc": "OpenID Connect",
    "google": "Google",
    "facebook": "Facebook",
    "amazon": "Login with Amazon",
}


@dataclass(frozen=True)
class Choice:
    name: str
    label: str
    kind: str
    kind_label: str
    initial: str
    url: str
    last: bool


def _choice(provider: IdentityProvider, last: str | None) -> Choice:
    label = provider.display_name or provider.name
    url = (f"/saml/login/{provider.name}" if provider.kind == "saml"
           else f"/oidc/{provider.name}/login")
    initial = next((c for c in label if c.isalnum()), "?").upper()
    return Choice(provider.name, label, provider.kind, KIND_LABELS.get(provider.kind,
                  provider.kind), initial, url, provider.name == last)


def sign_in_page(next_path: str | None) -> Response:
    """The provider picker; `next_path` must already be checked (`redirects.safe_next`)."""
    snapshot = runtime().snapshot
    last = session.get(signin.LAST_PROVIDER_KEY)
    last = last if isinstance(last, str) else None
    providers = sorted(
        (p for p in snapshot.providers_by_name.values()
         if p.kind in KIND_LABELS and p.enabled),
        key=lambda p: (p.name != last, (p.display_name or p.name).lower()),
    )
    body = render_template("index.html", providers=[_choice(p, last) for p in providers],
                           next=next_path)
    return Response(body, mimetype="text/html")


@bp.get("/")
def index() -> BaseResponse:
    """Signed in: the console. Otherwise: the identity providers to sign in with."""
    if people.current() is not None:
        return redirect(people.HOME, 303)
    return sign_in_page(None)
