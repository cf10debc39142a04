"""An OpenID provider (and Google, which is one): discovery, authorization page, token
endpoint with PKCE and single-use codes, JWKS, userinfo. Real RSA keys, real HTTP.

`tweaks` lets tests make it misbehave the way attacks need (omit the nonce, answer
with another `iss`, add claims, sign with another key).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from gateway.devtools.emulators.common import DEMO_USERS, DemoUser, SigningKey, login_page, now


@dataclass
class OpenIdState:
    """The emulator's memory, shared with tests that want to look or meddle."""

    issuer: str
    base_url: str
    clients: dict[str, str]  # client id → secret
    users: tuple[DemoUser, ...] = DEMO_USERS
    google: bool = False
    key: SigningKey = field(default_factory=SigningKey)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    used_codes: set[str] = field(default_factory=set)
    access_tokens: dict[str, DemoUser] = field(default_factory=dict)
    tweaks: dict[str, Any] = field(default_factory=dict)
    token_lifetime: int = 3600

    def user(self, login: str) -> DemoUser | None:
        return next((u for u in self.users if u.login == login), None)

    def claims_for(self, user: DemoUser, client_id: str, nonce: str | None) -> dict[str, Any]:
        issued = now()
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": user.sub, "aud": client_id, "iat": issued,
            "exp": issued + self.token_lifetime, "auth_time": issued,
            "jti": secrets.token_hex(12), "email": user.email,
            "email_verified": user.email_verified, "name": user.name,
        }
        if self.google:
            claims["azp"] = client_id
            if user.hosted_domain:
                claims["hd"] = user.hosted_domain
        else:
            claims["groups"] = list(user.groups)
            claims["preferred_username"] = user.login
        if nonce is not None and not self.tweaks.get("omit_nonce"):
            claims["nonce"] = nonce
        claims.update(self.tweaks.get("claims", {}))
        return claims

    def id_token(self, user: DemoUser, client_id: str, nonce: str | None = None,
                 **overrides: Any) -> str:
        """A signed ID token, as the token endpoint would issue it (tests mint with this)."""
        claims = self.claims_for(user, client_id, nonce)
        claims.update(overrides)
        signer: SigningKey = self.tweaks.get("sign_with", self.key)
        return signer.sign(claims)


def _pkce_ok(verifier: str | None, challenge: str | None) -> bool:
    if challenge is None:
        return verifier is None
    if verifier is None:
        return False
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge


def _client_auth(state: OpenIdState) -> str | None:
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        client_id, secret = auth.username or "", auth.password or ""
    else:
        client_id = request.form.get("client_id", "")
        secret = request.form.get("client_secret", "")
    expected = state.clients.get(client_id)
    if expected is None or not secrets.compare_digest(expected, secret):
        return None
    return client_id


def make_app(state: OpenIdState) -> Flask:
    """The provider's HTTP face; paths are relative to `state.base_url`."""
    app = Flask(__name__)

    def error(code: str, status: int = 400, description: str = "") -> Response:
        resp = jsonify(error=code, error_description=description)
        resp.status_code = status
        return resp

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Response:
        base = state.base_url
        return jsonify(
            issuer=state.issuer,
            authorization_endpoint=f"{base}/authorize",
            token_endpoint=f"{base}/token",
            userinfo_endpoint=f"{base}/userinfo",
            jwks_uri=f"{base}/jwks",
            response_types_supported=["code"],
            subject_types_supported=["public"],
            # An honest provider lists only what it signs with; the gateway pins its own
            # list anyway (tests set this to include "none").
            id_token_signing_alg_values_supported=state.tweaks.get("algs", ["RS256"]),
            code_challenge_methods_supported=["S256"],
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
            authorization_response_iss_parameter_supported=not state.google,
            scopes_supported=["openid", "email", "profile", "groups"],
        )

    @app.get("/jwks")
    def jwks() -> Response:
        resp = jsonify(state.key.jwks())
        resp.headers["Cache-Control"] = "public, max-age=300"
        return resp

    @app.get("/authorize")
    def authorize() -> Response | str:
        args = request.args
        if args.get("client_id") not in state.clients or args.get("response_type") != "code":
            return error("unauthorized_client")
        if args.get("code_challenge") and args.get("code_challenge_method") != "S256":
            return error("invalid_request", description="only S256 PKCE")
        keep = ("client_id", "redirect_uri", "state", "nonce", "code_challenge", "scope")
        fields = {k: args[k] for k in keep if k in args}
        title = "Sign in with Google" if state.google else "Demo OpenID provider"
        return login_page(title, f"{state.base_url}/authorize", fields, state.users)

    @app.post("/authorize")
    def approve() -> BaseResponse:
        form = request.form
        redirect_uri = form.get("redirect_uri", "")
        params: dict[str, str] = {}
        if form.get("state") is not None:
            params["state"] = form["state"]
        if not state.google and not state.tweaks.get("omit_iss"):
            params["iss"] = state.tweaks.get("iss_param", state.issuer)
        user = state.user(form.get("login", ""))
        if user is None:
            params["error"] = "access_denied"
            return redirect(f"{redirect_uri}?{urlencode(params)}")
        code = secrets.token_urlsafe(24)
        state.codes[code] = {
            "client_id": form.get("client_id"), "redirect_uri": redirect_uri, "user": user,
            "nonce": form.get("nonce"), "challenge": form.get("code_challenge"),
        }
        params["code"] = code
        return redirect(f"{redirect_uri}?{urlencode(params)}")

    @app.post("/token")
    def token() -> Response:
        client_id = _client_auth(state)
        if client_id is None:
            return error("invalid_client", 401)
        form = request.form
        code = form.get("code", "")
        grant = state.codes.pop(code, None)
        if grant is None:
            # A code is good once (RFC 6749 §4.1.2); a second use is refused.
            return error("invalid_grant", description="code unknown or already used")
        state.used_codes.add(code)
        if grant["client_id"] != client_id or grant["redirect_uri"] != form.get("redirect_uri"):
            return error("invalid_grant", description="client or redirect_uri mismatch")
        if not _pkce_ok(form.get("code_verifier"), grant["challenge"]):
            return error("invalid_grant", description="PKCE verification failed")
        user: DemoUser = grant["user"]
        access = secrets.token_urlsafe(24)
        state.access_tokens[access] = user
        return jsonify(
            access_token=access, **{"token_type": "Bearer"}, expires_in=state.token_lifetime,
            id_token=state.id_token(user, client_id, grant["nonce"]),
            scope="openid email profile",
        )

    @app.get("/userinfo")
    def userinfo() -> Response:
        bearer = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        user = state.access_tokens.get(bearer)
        if user is None:
            return error("invalid_token", 401)
        return jsonify(sub=user.sub, email=user.email, email_verified=user.email_verified,
                       name=user.name)

    return app
