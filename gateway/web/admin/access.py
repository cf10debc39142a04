"""Who may use /admin, the break-glass link pages, and rendering helpers for admin pages."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from flask import (
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from gateway.admin import links
from gateway.admin.authz import Admin, admin_for
from gateway.admin.edit import Document, edit_config
from gateway.problems import Problem
from gateway.runtime import runtime
from gateway.store import audit
from gateway.store.config_db import ImportReport
from gateway.web import signin
from gateway.web.admin import bp

T = TypeVar("T")
GRANT_KEY = "admin_grant"  # break-glass grant in the browser session
MAX_GRANT_SECONDS = 8 * 3600
LINK_CREATED = "admin.link.created"
LINK_USED = "admin.link.used"
LINK_REFUSED = "admin.link.refused"
OPEN_ENDPOINTS = frozenset({"admin.link", "admin.use_link"})

# (endpoint, label) of the sections, in navigation order.
NAV: Sequence[tuple[str, str]] = (
    ("admin.index", "Overview"),
    ("admin.accounts", "Accounts"),
    ("admin.providers", "Identity providers"),
    ("admin.roles", "Roles"),
    ("admin.simulator", "Simulator"),
    ("admin.audit", "Audit"),
    ("admin.config", "Config"),
)


def current_admin() -> tuple[Admin | None, signin.SignedIn | None]:
    """The admin of this request (if any) and the signed-in person (if any)."""
    rt = runtime()
    grant = session.get(GRANT_KEY)
    if isinstance(grant, dict) and isinstance(grant.get("link"), str):
        until = grant.get("until")
        if isinstance(until, int) and until > time.time():
            return Admin(f"break-glass:{grant['link']}", "a break-glass link"), None
    signed_in = signin.current(rt)
    if signed_in is None:
        return None, None
    return admin_for(signed_in.identity, rt.snapshot), signed_in


def sign_in_url() -> str:
    """The people's sign-in page: the IdP picker when the SAML blueprint serves it."""
    if any(rule.rule == "/login" for rule in current_app.url_map.iter_rules()):
        return "/login"
    return url_for("portal.index")


def guard() -> BaseResponse | None:
    """Run before every admin route: admins pass, everyone else is told why not."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    admin, signed_in = current_admin()
    if admin is not None:
        g.admin = admin
        return None
    if signed_in is None:
        return denied(401, "Sign in to use the admin console",
                      "You are not signed in. Sign in with your identity provider, then "
                      "open the admin console again.")
    who = signed_in.identity
    return denied(403, "Not an administrator",
                  f"You are signed in as {who.subject} through {who.provider}, but no admin "
                  "rule of that identity provider matches you.")


def denied(status: int, title: str, message: str) -> Response:
    html = render_template("admin/denied.html", status=status, title=title, message=message,
                           sign_in_url=sign_in_url(), request_id=g.get("request_id", ""))
    response = Response(html, status=status, mimetype="text/html")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Cookie realm="gateway-admin"'
    return response


def page(template: str, *, status: int = 200, title: str, section: str = "",
         problems: Iterable[Problem] = (), **context: Any) -> Response:
    """An admin page: the layout, its navigation and the problems of a refused input."""
    html = render_template(
        template, admin=g.admin, nav=NAV, title=title, section=section,
        problems=list(problems), **context,
    )
    return Response(html, status=status, mimetype="text/html")


def write(change: Callable[[Document], T]) -> tuple[ImportReport, T]:
    """Apply a change through the shared validation as the current admin; reload if changed.

    Raises `gateway.problems.Invalid` (nothing written) when the result is not valid.
    """
    rt = runtime()
    report, result = edit_config(rt.engine, change, actor=g.admin.actor)
    if report.changed:
        rt.config.bump()
    return report, result


def flash_report(report: ImportReport, done: str) -> None:
    if not report.changed:
        flash("Nothing changed: the configuration already said that.", "info")
        return
    flash(done, "success")
    for change in report.changes:
        flash(str(change), "detail")
    for note in report.notes:
        flash(note, "detail")


def audit_event(event_type: str, outcome: audit.Outcome, **fields: Any) -> None:
    rt = runtime()
    audit.record(rt.engine, audit.AuditEvent(
        event_type=event_type, outcome=outcome, request_id=g.get("request_id"),
        source_ip=request.remote_addr, user_agent=request.headers.get("User-Agent"), **fields,
    ))


# ---------------------------------------------------------------- break-glass link


@bp.get("/link/<token>")
def link(token: str) -> Response:
    """Confirm before using the link: chat previews and scanners fetch links with GET."""
    rt = runtime()
    if not links.peek(rt.redis, rt.keys, token):
        return _link_refused(token)
    html = render_template("admin/link.html", token=token)
    return Response(html, mimetype="text/html")


@bp.post("/link/<token>")
def use_link(token: str) -> BaseResponse:
    rt = runtime()
    used = links.consume(rt.redis, rt.keys, token)
    if used is None:
        return _link_refused(token)
    # A new session id, nothing carried over: whoever planted a session id gets nothing.
    session.regenerate()  # type: ignore[attr-defined]
    session.clear()
    lifetime = min(rt.settings.session_lifetime, MAX_GRANT_SECONDS)
    session[GRANT_KEY] = {"link": used.link_id, "until": int(time.time()) + lifetime}
    audit_event(LINK_USED, "success", subject=f"break-glass:{used.link_id}",
                detail={"link": used.link_id, "reason": used.reason})
    return redirect(url_for("admin.index"), 303)


def _link_refused(token: str) -> Response:
    audit_event(LINK_REFUSED, "failure", error_code="LinkInvalid",
                detail={"link": links.link_id(token) if links.valid_shape(token) else None})
    return denied(404, "This sign-in link cannot be used",
                  "The link is unknown, was used already, or has expired. Run "
                  "`gateway admin link` on the server for a new one.")


@bp.post("/signout")
def signout() -> BaseResponse:
    """End a break-glass grant (a person signed in through an IdP signs out at /signout)."""
    session.pop(GRANT_KEY, None)
    session.regenerate()  # type: ignore[attr-defined]
    return redirect(sign_in_url(), 303)
