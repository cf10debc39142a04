"""A minimal console: who you are, the roles you may take (and why), credentials on demand.

The logic lives in `gateway.offers` and `gateway.web.signin`; this page only renders it
and will be restyled by the portal work.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, g, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from gateway import offers
from gateway.runtime import Runtime, runtime
from gateway.sources.saml.attributes import session_name_for
from gateway.sts.actions import Env
from gateway.sts.errors import StsError
from gateway.sts.federated import Issued
from gateway.sts.issue import Origin, refuse
from gateway.web import signin
from gateway.web.errors import error_response

bp = Blueprint("console", __name__)


def _env(rt: Runtime, now: datetime) -> Env:
    loaded = rt.config.current()
    return Env(
        engine=rt.engine, snapshot=loaded.snapshot, keyring=loaded.keyring,
        revocations=rt.revocations, now=now,
        origin=Origin(g.get("request_id", ""), request.remote_addr,
                      request.headers.get("User-Agent")),
        secure=request.is_secure,
    )


@bp.get("/console")
def console() -> BaseResponse:
    rt = runtime()
    signed_in = signin.current(rt)
    if signed_in is None:
        return redirect("/login", 303)
    return _page(rt, signed_in)


def _page(rt: Runtime, signed_in: signin.SignedIn, *, issued: Issued | None = None,
          error: str | None = None, status: int = 200) -> Response:
    now = datetime.now(UTC)
    identity = signed_in.identity
    provider = rt.snapshot.providers_by_name.get(identity.provider)
    body = render_template(
        "console.html",
        identity=identity,
        provider=provider,
        offers=offers.offers_for(identity, rt.snapshot, now),
        csrf=signed_in.csrf,
        issued=issued,
        error=error,
        session_name=session_name_for(identity),
        now=now,
    )
    return Response(body, status=status, mimetype="text/html")


@bp.post("/console/credentials")
def credentials() -> BaseResponse:
    """Mint credentials for one offered role and show them once."""
    rt = runtime()
    signed_in = signin.current(rt)
    if signed_in is None:
        return redirect("/login", 303)
    if not signin.csrf_ok(signed_in, request.form.get("csrf")):
        return error_response(400, "BadRequest", "The form has expired; reload the console and "
                              "try again.")
    role_arn = request.form.get("role_arn", "")
    now = datetime.now(UTC)
    env = _env(rt, now)
    identity = signed_in.identity
    if identity.provider not in env.snapshot.providers_by_name:
        return error_response(403, "AccessDenied", "Your identity provider is no longer "
                              "configured; sign in again.")
    try:
        issued = offers.mint(identity, role_arn, env, session_name=session_name_for(identity))
    except StsError as exc:
        refuse(rt.engine, exc, action="Console", origin=env.origin, role_arn=role_arn[:2048],
               provider=identity.provider, subject=identity.subject)
        return _page(rt, signed_in, error=exc.message, status=exc.status)
    signin.track_credentials(rt, signed_in.signin_id, issued.credentials.access_key_id,
                             issued.claims.expires_at)
    return _page(rt, signed_in, issued=issued)


@bp.post("/signout")
def signout() -> BaseResponse:
    """Local sign-out (identity sources without single logout)."""
    rt = runtime()
    signed_in = signin.current(rt)
    if signed_in is not None:
        if not signin.csrf_ok(signed_in, request.form.get("csrf")):
            return error_response(400, "BadRequest", "The sign-out form has expired; reload "
                                  "the console and try again.")
        signin.end(rt, signed_in.signin_id)
    return Response(render_template("signed_out.html",
                                    message="You are signed out of the gateway."),
                    mimetype="text/html")
