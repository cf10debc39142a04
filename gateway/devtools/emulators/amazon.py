"""Login with Amazon: the consent page, the token endpoint, token-info and profile."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from gateway.devtools.emulators.common import DEMO_USERS, DemoUser, login_page, now


@dataclass
class AmazonToken:
    user: DemoUser
    client_id: str
    issued_at: int
    expires_at: int


@dataclass
class AmazonState:
    base_url: str
    clients: dict[str, str]  # client id → secret
    users: tuple[DemoUser, ...] = DEMO_USERS
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, AmazonToken] = field(default_factory=dict)

    def user(self, login: str) -> DemoUser | None:
        return next((u for u in self.users if u.login == login), None)

    def issue_token(self, user: DemoUser, client_id: str, lifetime: int = 3600) -> str:
        """An access token for `client_id` (tests mint with this)."""
        token = "Atza|" + secrets.token_urlsafe(48)
        self.tokens[token] = AmazonToken(user, client_id, now(), now() + lifetime)
        return token


def make_app(state: AmazonState) -> Flask:
    app = Flask(__name__)

    def error(code: str, description: str, status: int = 400) -> Response:
        resp = jsonify(error=code, error_description=description)
        resp.status_code = status
        return resp

    def live(value: str) -> AmazonToken | None:
        token = state.tokens.get(value)
        return token if token is not None and token.expires_at > now() else None

    @app.get("/ap/oa")
    def consent() -> Response | str:
        args = request.args
        if args.get("client_id") not in state.clients:
            return error("invalid_client", "unknown client")
        keep = ("client_id", "redirect_uri", "state", "code_challenge")
        fields = {k: args[k] for k in keep if k in args}
        return login_page("Login with Amazon", f"{state.base_url}/ap/oa", fields, state.users)

    @app.post("/ap/oa")
    def approve() -> BaseResponse:
        form = request.form
        redirect_uri = form.get("redirect_uri", "")
        user = state.user(form.get("login", ""))
        params = {"state": form.get("state", "")}
        if user is None:
            params["error"] = "access_denied"
            return redirect(f"{redirect_uri}?{urlencode(params)}")
        code = secrets.token_urlsafe(20)
        state.codes[code] = {"client_id": form.get("client_id"), "redirect_uri": redirect_uri,
                             "user": user, "challenge": form.get("code_challenge")}
        params["code"] = code
        return redirect(f"{redirect_uri}?{urlencode(params)}")

    @app.post("/auth/o2/token")
    def token() -> Response:
        form = request.form
        auth = request.authorization
        client_id = auth.username if auth else form.get("client_id", "")
        secret = auth.password if auth else form.get("client_secret", "")
        expected = state.clients.get(client_id or "")
        if expected is None or not secrets.compare_digest(expected, secret or ""):
            return error("invalid_client", "Client authentication failed", 401)
        grant = state.codes.pop(form.get("code", ""), None)
        if grant is None or grant["client_id"] != client_id:
            return error("invalid_grant", "The authorization code is invalid or expired")
        if grant["redirect_uri"] != form.get("redirect_uri"):
            return error("invalid_grant", "redirect_uri mismatch")
        if grant["challenge"]:
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                return error("invalid_grant", "code_verifier mismatch")
        access = state.issue_token(grant["user"], client_id or "")
        return jsonify(access_token=access, **{"token_type": "bearer"}, expires_in=3600,
                       refresh_token="Atzr|" + secrets.token_urlsafe(32))

    @app.get("/auth/o2/tokeninfo")
    def tokeninfo() -> Response:
        value = request.args.get("access_token", "")
        token = state.tokens.get(value)
        if token is None:
            return error("invalid_token", "The request has an invalid parameter : access_token")
        if token.expires_at <= now():
            return error("invalid_token", "The access token provided is expired, revoked, "
                         "malformed, or invalid for other reasons.")
        return jsonify(iss="https://www.amazon.com", user_id=token.user.amazon_id,
                       aud=token.client_id, app_id="amzn1.application.demo",
                       exp=token.expires_at - now(), iat=token.issued_at)

    @app.get("/user/profile")
    def profile() -> Response:
        bearer = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        token = live(bearer)
        if token is None:
            return error("invalid_token", "The access token is invalid", 401)
        return jsonify(user_id=token.user.amazon_id, name=token.user.name,
                       email=token.user.email, postal_code="98109")

    return app
