"""CSRF protection (Flask-WTF) for every browser form, with the machine endpoints exempt.

Every state-changing request needs the session's CSRF token (form field `csrf_token`,
or the `X-CSRFToken` header) unless its path is listed below. Exemptions are by path,
so an endpoint added later is protected by default.

* Machine endpoints: the caller proves itself with a signature or a token in the
  request, never with our cookie, so a forged cross-site request gains nothing.
* Forms that carry their own token instead of `csrf_token()` (none left: the portal's
  console, sign-out and SAML logout forms use Flask-WTF's).

`WTF_CSRF_SSL_STRICT` is off because the gateway sends `Referrer-Policy: no-referrer`,
so browsers send no Referer (and `Origin: null`) with form posts for it to compare; the
token and SameSite=Lax cookies carry the protection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

from flask import Flask, current_app, request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
F = TypeVar("F", bound=Callable[..., Any])
_EXEMPT_VIEWS: set[Callable[..., Any]] = set()

MACHINE_PATHS: Final = (
    "/sts",  # STS Query API (SigV4 or the web identity token / SAML assertion in the body)
    "/api/",  # /api/v1/token (RFC 8693) and /api/v1/authorize (SigV4)
    "/saml/acs",  # the IdP's cross-site POST of a signed Response
    "/saml/slo",  # the IdP's LogoutRequest / LogoutResponse
)
OWN_TOKEN_PATHS: Final[tuple[str, ...]] = ()
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def exempt(path: str, method: str) -> bool:
    """Whether a request to `path` needs no Flask-WTF token."""
    if method in _SAFE_METHODS:
        return True
    if path == "/" and method == "POST":  # the STS endpoint's root alias (boto3 default path)
        return True
    return any(_under(path, prefix) for prefix in (*MACHINE_PATHS, *OWN_TOKEN_PATHS))


def exempt_view(view: F) -> F:
    """Let one view take posts without a token: only for views no browser form posts to
    (JSON endpoints authenticated otherwise, test helpers). Decorate before `app.route`."""
    _EXEMPT_VIEWS.add(view)
    return view


def _under(path: str, prefix: str) -> bool:
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


def init(app: Flask) -> None:
    app.config.update(
        WTF_CSRF_CHECK_DEFAULT=False,  # `check` below decides, by path
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the (absolute-lifetime) session
        WTF_CSRF_SSL_STRICT=False,
    )
    csrf.init_app(app)

    @app.before_request
    def check() -> None:
        if exempt(request.path, request.method):
            return
        view = current_app.view_functions.get(request.endpoint or "")
        if view is not None and view in _EXEMPT_VIEWS:
            return
        csrf.protect()  # raises CSRFError (400) without a valid token
