"""Flask-Login for people who sign in: the session's FederatedIdentity as `current_user`.

Sign-in itself stays in `gateway.web.signin.start` (shared by SAML and OpenID/social
sign-in): it rotates the session id and stores the identity compactly. Flask-Login only
reads that back on each request through a request loader, so nothing else is written
to the session (no `_user_id`, no remember-me cookie) and an IdP-initiated logout that
ended the sign-in is honoured on the next request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import quote

import flask_login
from flask import Flask, Request, redirect, request
from flask_login import LoginManager, UserMixin
from werkzeug.wrappers import Response as BaseResponse

from gateway.identity import FederatedIdentity
from gateway.runtime import runtime
from gateway.web import signin
from gateway.web.redirects import safe_next

login_manager = LoginManager()
login_manager.session_protection = None  # the session id is rotated at sign-in instead
HOME = "/console"
F = TypeVar("F", bound=Callable[..., Any])
_NAME_CLAIMS = ("displayName", "display_name", "name", "preferred_username", "email")


class User(UserMixin):  # type: ignore[misc]
    """The signed-in person: their identity and this browser's sign-in."""

    def __init__(self, signed_in: signin.SignedIn) -> None:
        self.signed_in = signed_in

    @property
    def identity(self) -> FederatedIdentity:
        return self.signed_in.identity

    @property
    def signin_id(self) -> str:
        return self.signed_in.signin_id

    def get_id(self) -> str:
        return self.signed_in.signin_id

    @property
    def display_name(self) -> str:
        """What the IdP called the person (shown as text, never as markup)."""
        for claim in _NAME_CLAIMS:
            value = self.identity.first(claim)
            if value:
                return value[:200]
        return self.identity.subject


def login_required(view: F) -> F:
    """Flask-Login's `login_required`, typed."""
    return cast(F, flask_login.login_required(view))


def current() -> User | None:
    """The signed-in person for this request, or None."""
    signed_in = signin.current(runtime())
    return User(signed_in) if signed_in is not None else None


def _load(_request: Request) -> User | None:
    return current()


def _unauthorized() -> BaseResponse:
    """To the sign-in page, coming back here afterwards (a same-origin path only)."""
    here = request.full_path.rstrip("?") if request.method == "GET" else None
    target = safe_next(here)
    if target is None or target == HOME:
        return redirect("/login", 303)
    return redirect(f"/login?next={quote(target, safe='')}", 303)


login_manager.request_loader(_load)
login_manager.unauthorized_handler(_unauthorized)


def init(app: Flask) -> None:
    # Templates get `user` from the views: the context processor would read the session
    # for every page, including the 503 page answered while Redis is down.
    login_manager.init_app(app, add_context_processor=False)
    # No remember-me cookies here, so drop Flask-Login's after-request hook: it reads the
    # session on every response, even the 503 page answered while Redis is down.
    hook = login_manager._update_remember_cookie
    app.after_request_funcs[None] = [f for f in app.after_request_funcs.get(None, [])
                                     if f != hook]
