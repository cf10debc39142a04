"""Facebook: the login dialog, the code → access token exchange, Graph `debug_token`
(with app tokens), `/me` (checking appsecret_proof), and Limited Login ID tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from gateway.devtools.emulators.common import DEMO_USERS, DemoUser, SigningKey, login_page, now

LIMITED_LOGIN_ISSUER = "https://www.facebook.com"


@dataclass
class FacebookToken:
    user: DemoUser
    app_id: str
    expires_at: int
    valid: bool = True


@dataclass
class FacebookState:
    base_url: str
    apps: dict[str, str]  # app id → app secret
    users: tuple[DemoUser, ...] = DEMO_USERS
    key: SigningKey = field(default_factory=SigningKey)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, FacebookToken] = field(default_factory=dict)

    def user(self, login: str) -> DemoUser | None:
        return next((u for u in self.users if u.login == login), None)

    def issue_token(self, user: DemoUser, app_id: str, lifetime: int = 5184000) -> str:
        """A user access token for `app_id` (tests mint with this)."""
        token = "EAA" + secrets.token_urlsafe(32)
        self.tokens[token] = FacebookToken(user, app_id, now() + lifetime)
        return token

    def revoke(self, token: str) -> None:
        self.tokens[token].valid = False

    def limited_login_token(self, user: DemoUser, app_id: str, nonce: str = "n",
                            **overrides: Any) -> str:
        """A Limited Login ID token (iOS SDK), signed with the Limited Login key."""
        issued = now()
        claims: dict[str, Any] = {
            "iss": LIMITED_LOGIN_ISSUER, "aud": app_id, "sub": user.facebook_id,
            "iat": issued, "exp": issued + 3600, "jti": secrets.token_hex(12),
            "nonce": nonce, "name": user.name, "email": user.email,
        }
        claims.update(overrides)
        return self.key.sign(claims)


def make_app(state: FacebookState) -> Flask:
    app = Flask(__name__)

    def graph_error(message: str, code: int = 190, status: int = 400) -> Response:
        resp = jsonify(error={"message": message, "type": "OAuthException", "code": code})
        resp.status_code = status
        return resp

    def app_from_app_token(value: str) -> str | None:
        app_id, _, secret = value.partition("|")
        expected = state.apps.get(app_id)
        ok = expected is not None and secrets.compare_digest(expected, secret)
        return app_id if ok else None

    @app.get("/dialog/oauth")
    def dialog() -> Response | str:
        args = request.args
        if args.get("client_id") not in state.apps:
            return graph_error("Invalid App ID", 101)
        keep = ("client_id", "redirect_uri", "state", "code_challenge")
        fields = {k: args[k] for k in keep if k in args}
        return login_page("Log in with Facebook", f"{state.base_url}/dialog/oauth", fields,
                          state.users)

    @app.post("/dialog/oauth")
    def approve() -> BaseResponse:
        form = request.form
        redirect_uri = form.get("redirect_uri", "")
        user = state.user(form.get("login", ""))
        params = {"state": form.get("state", "")}
        if user is None:
            params.update(error="access_denied", error_reason="user_denied")
            return redirect(f"{redirect_uri}?{urlencode(params)}")
        code = secrets.token_urlsafe(24)
        state.codes[code] = {"app_id": form.get("client_id"), "redirect_uri": redirect_uri,
                             "user": user, "challenge": form.get("code_challenge")}
        params["code"] = code
        return redirect(f"{redirect_uri}?{urlencode(params)}")

    @app.route("/oauth/access_token", methods=["GET", "POST"])
    def access_token() -> Response:
        values = request.values
        app_id = values.get("client_id", "")
        secret = state.apps.get(app_id)
        if secret is None or not secrets.compare_digest(secret, values.get("client_secret", "")):
            return graph_error("Error validating client secret.", 1)
        grant = state.codes.pop(values.get("code", ""), None)
        if grant is None or grant["app_id"] != app_id:
            return graph_error("This authorization code has been used.", 100)
        if grant["redirect_uri"] != values.get("redirect_uri"):
            return graph_error("Error validating verification code.", 100)
        if grant["challenge"]:
            digest = hashlib.sha256(values.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                return graph_error("Invalid code verifier.", 100)
        token = state.issue_token(grant["user"], app_id)
        return jsonify(access_token=token, **{"token_type": "bearer"}, expires_in=5183999)

    @app.get("/debug_token")
    def debug_token() -> Response:
        if app_from_app_token(request.args.get("access_token", "")) is None:
            return graph_error("Invalid OAuth access token - Cannot parse access token")
        token = state.tokens.get(request.args.get("input_token", ""))
        if token is None:
            return jsonify(data={"is_valid": False, "error": {
                "code": 190, "message": "Invalid OAuth access token."}, "scopes": []})
        data: dict[str, Any] = {
            "app_id": token.app_id, "type": "USER", "application": "Demo app",
            "expires_at": token.expires_at, "is_valid": token.valid and token.expires_at > now(),
            "scopes": ["email", "public_profile"], "user_id": token.user.facebook_id,
        }
        if not token.valid:
            data["error"] = {"code": 190, "subcode": 460,
                             "message": "The session has been invalidated."}
        return jsonify(data=data)

    @app.get("/me")
    def me() -> Response:
        value = request.args.get("access_token", "")
        token = state.tokens.get(value)
        if token is None or not token.valid or token.expires_at <= now():
            return graph_error("Error validating access token.")
        secret = state.apps[token.app_id].encode()
        proof = hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()
        if not secrets.compare_digest(proof, request.args.get("appsecret_proof", "")):
            return graph_error("Invalid appsecret_proof provided in the API argument", 100)
        fields = request.args.get("fields", "id,name").split(",")
        profile = {"id": token.user.facebook_id, "name": token.user.name,
                   "email": token.user.email}
        return jsonify({k: v for k, v in profile.items() if k in fields or k == "id"})

    @app.get("/.well-known/oauth/openid/jwks/")
    def jwks() -> Response:
        return jsonify(state.key.jwks())

    return app
