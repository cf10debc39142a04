"""Browser sign-in with OpenID Connect, Google, Facebook and Login with Amazon.

`/oidc/<provider>/login` starts the authorization code flow; the provider answers at
`/oidc/<provider>/callback` (one redirect URI per provider). On success the session
is started afresh by `gateway.web.signin` (new id, nothing from before kept, the
identity stored compactly) and the person continues at `/console`.
"""

from __future__ import annotations

import dataclasses
import secrets
from datetime import UTC, datetime

from flask import Blueprint, Response, g, redirect, request, session
from werkzeug.wrappers import Response as BaseResponse

from gateway.runtime import Runtime, runtime
from gateway.sources import disabled
from gateway.sources.oidc import flow
from gateway.sources.oidc.flow import SignInError
from gateway.store import audit
from gateway.store.snapshot import IdentityProvider
from gateway.web import ratelimit, signin
from gateway.web.errors import error_response
from gateway.web.redirects import safe_next

bp = Blueprint("oidc", __name__, url_prefix="/oidc")

BINDING_KEY = "oidc_binding"  # pre-login secret tying pending sign-ins to this browser
AFTER_SIGN_IN = "/console"
OIDC_KINDS = frozenset({"oidc", "google", "facebook", "amazon"})


def _provider(rt: Runtime, name: str) -> IdentityProvider | None:
    provider = rt.snapshot.providers_by_name.get(name)
    return provider if provider is not None and provider.kind in OIDC_KINDS else None


def callback_url(rt: Runtime, provider: IdentityProvider) -> str:
    """From configuration, never from the request's Host header (attack W-11)."""
    return f"{rt.settings.base_url}/oidc/{provider.name}/callback"


def _unknown(name: str) -> Response:
    return error_response(404, "UnknownProvider",
                          f"There is no OpenID or social identity provider named {name[:64]!r}.")


@bp.get("/<name>/login")
def login(name: str) -> BaseResponse:
    """Send the browser to the provider with a fresh state, nonce and PKCE challenge."""
    rt = runtime()
    provider = _provider(rt, name)
    if provider is None:
        return _unknown(name)
    if not provider.enabled:
        return _failed(rt, provider, _disabled(provider))
    binding = session.get(BINDING_KEY)
    if not isinstance(binding, str):
        binding = secrets.token_urlsafe(32)
        session[BINDING_KEY] = binding
    try:
        url, state, pending = flow.begin(
            provider, redirect_uri=callback_url(rt, provider), binding_secret=binding
        )
    except SignInError as exc:
        return _failed(rt, provider, exc)
    pending = dataclasses.replace(pending, next=safe_next(request.args.get("next")))
    flow.save(rt.redis, rt.keys, state, pending)
    return redirect(url, 303)


@bp.get("/<name>/callback")
def callback(name: str) -> BaseResponse:
    """Check the answer, exchange the code, validate, then start a fresh session."""
    rt = runtime()
    provider = _provider(rt, name)
    if provider is None:
        return _unknown(name)
    params = {key: request.args.get(key, "") for key in request.args}
    pending = flow.take(rt.redis, rt.keys, params.get("state", ""))
    if not provider.enabled:
        # The pending state is used up above: a sign-in begun before the provider was
        # disabled cannot be finished by re-enabling it later.
        return _failed(rt, provider, _disabled(provider))
    binding = session.get(BINDING_KEY)
    try:
        checked = flow.check_response(
            provider, params, pending, binding if isinstance(binding, str) else None
        )
        identity = flow.complete(
            provider, params, checked, redirect_uri=callback_url(rt, provider),
            snapshot=rt.snapshot, now=datetime.now(UTC), skew=rt.settings.clock_skew,
        )
    except SignInError as exc:
        return _failed(rt, provider, exc)
    throttled = ratelimit.check_signin(identity)  # address + person, one round trip
    if throttled is not None:
        return throttled
    # A new session id, and nothing from before sign-in carried over (attack W-03).
    signin_id = signin.start(identity, provider, {"kind": provider.kind})
    _audit(rt, provider, "success", subject=identity.subject,
           detail={"issuer": identity.issuer, "upstream_id": identity.upstream_id,
                   "signin_id": signin_id, "attributes": signin.audit_attributes(identity)})
    # `next` was checked when the sign-in began and travelled server-side in Redis.
    return redirect((pending.next if pending else None) or AFTER_SIGN_IN, 303)


def _disabled(provider: IdentityProvider) -> SignInError:
    return SignInError(disabled.CODE, disabled.sign_in_refused(provider), 403)


def _failed(rt: Runtime, provider: IdentityProvider, error: SignInError) -> Response:
    _audit(rt, provider, "failure", event=audit.SIGNIN_REFUSED, error_code=error.code,
           detail={"message": error.message, "why": error.detail})
    return error_response(error.status, "SignInFailed", error.message)


def _audit(
    rt: Runtime, provider: IdentityProvider, outcome: audit.Outcome, *,
    event: str = audit.SIGNIN, subject: str | None = None, error_code: str | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    audit.record(rt.engine, audit.AuditEvent(
        event_type=event, outcome=outcome, request_id=g.get("request_id"),
        provider=provider.name, subject=subject, source_ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"), error_code=error_code,
        detail={"kind": provider.kind, **(detail or {})},
    ))
