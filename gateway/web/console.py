"""The portal for people who signed in: roles by account, credentials, a console per session.

    GET  /console                      accounts and the roles the person may take (`?q=` filters)
    POST /console/credentials          mint (or refresh) credentials for an offered role
    POST /console/open                 mint, then open the console page for that session
    GET  /console/session              the console page: role @ account, policies, activity
    POST /console/session/credentials  the open session's credentials, shown again
    POST /console/switch               role chaining to another role (AssumeRole, 1 hour cap)
    POST /signout                      local sign-out (SAML identities use /saml/logout: SLO)

What a person may take, and for how long, comes from `gateway.offers`; every issuance goes
through `offers.mint` (mapping and trust policy evaluated again) or
`gateway.sts.actions.assume_role`, so the portal grants nothing the STS would not. Forms
are protected by Flask-WTF (`gateway.web.csrf`). Credentials are shown in the response
only; the console page's session keeps just its access key id and session token in the
server-side browser session (the secret is derived again from the keyring when needed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, session
from werkzeug.wrappers import Response as BaseResponse

from gateway import offers
from gateway.iam.document import Policy
from gateway.iam.evaluate import evaluate_trust
from gateway.runtime import Runtime, runtime
from gateway.sources.saml.attributes import session_name_for
from gateway.store import audit
from gateway.store.snapshot import Role
from gateway.sts.actions import Env, assume_role
from gateway.sts.authenticate import Caller
from gateway.sts.credentials import (
    Credentials,
    SessionClaims,
    derive_secret_access_key,
    open_session_token,
)
from gateway.sts.errors import StsError
from gateway.sts.issue import Origin, refuse
from gateway.sts.params import AssumeRoleRequest
from gateway.sts.session import live_role, permissions, request_context
from gateway.sts.sigv4 import VerifiedRequest
from gateway.web import people, signin
from gateway.web.people import login_required

bp = Blueprint("console", __name__)

CONSOLE_KEY = "console"  # {"ak": access key id, "tk": session token} of the open console
CHAINING_CAP = 3600
DURATION_CHOICES = (900, 1800, 3600, 7200, 14400, 28800, 43200)
MIN_DURATION = 900


def _env(rt: Runtime, now: datetime) -> Env:
    loaded = rt.config.current()
    return Env(
        engine=rt.engine, snapshot=loaded.snapshot, keyring=loaded.keyring,
        revocations=rt.revocations, now=now,
        origin=Origin(g.get("request_id", ""), request.remote_addr,
                      request.headers.get("User-Agent")),
        secure=request.is_secure,
    )


def _user() -> people.User:
    user = people.current()
    if user is None:  # login_required ran first; the sign-in may have ended since
        raise RuntimeError("no signed-in user")
    return user


def human(seconds: int) -> str:
    """`1 h 30 min`, `45 min`, `0 min`."""
    seconds = max(0, seconds)
    hours, minutes = divmod(seconds // 60, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


# ---------------------------------------------------------------- roles by account


@dataclass(frozen=True)
class Account:
    account_id: str
    alias: str | None
    offers: tuple[offers.Offer, ...]


def _durations(maximum: int) -> list[int]:
    picks = [d for d in DURATION_CHOICES if d < maximum]
    return [*picks, maximum] if maximum >= MIN_DURATION else []


def _matches(offer: offers.Offer, query: str) -> bool:
    role = offer.role
    text = " ".join((role.name, role.arn, role.account_id, offer.account_alias or "",
                     role.description or ""))
    return query in text.lower()


def _by_account(allowed: tuple[offers.Offer, ...]) -> list[Account]:
    grouped: dict[str, list[offers.Offer]] = {}
    for offer in allowed:
        grouped.setdefault(offer.role.account_id, []).append(offer)
    return [Account(acct, group[0].account_alias, tuple(group))
            for acct, group in sorted(grouped.items(), key=lambda kv: (kv[1][0].account_alias
                                                                         or kv[0]))]


@bp.get("/console")
@login_required
def console() -> BaseResponse:
    return _page(_user())


def _page(user: people.User, *, error: str | None = None, status: int = 200) -> Response:
    rt = runtime()
    now = datetime.now(UTC)
    identity = user.identity
    provider = rt.snapshot.providers_by_name.get(identity.provider)
    found = offers.offers_for(identity, rt.snapshot, now)
    query = (request.args.get("q") or "").strip()[:100]
    allowed = found.allowed
    shown = tuple(o for o in allowed if _matches(o, query.lower())) if query else allowed
    body = render_template(
        "console.html",
        user=user,
        identity=identity,
        provider=provider,
        offers=found,
        accounts=_by_account(shown),
        total=len(allowed),
        query=query,
        durations={o.role.arn: _durations(o.max_duration) for o in allowed},
        human=human,
        error=error,
        session_name=session_name_for(identity),
        now=now,
    )
    return Response(body, status=status, mimetype="text/html")


# ---------------------------------------------------------------- credentials


def _duration(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        return -1
    return value


@dataclass(frozen=True)
class Shown:
    """Credentials as the page shows them, in every format."""

    credentials: Credentials
    role_arn: str
    role_name: str
    account: str
    account_alias: str | None
    session_name: str
    session_arn: str
    chain_depth: int
    formats: list[tuple[str, str, str]]  # (id, label, text)


def _formats(creds: Credentials, profile: str, sts_url: str) -> list[tuple[str, str, str]]:
    ak, sk, tk = creds.access_key_id, creds.secret_access_key, creds.session_token
    expiration = creds.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        ("bash", "bash / zsh", "\n".join((
            f"export AWS_ACCESS_KEY_ID='{ak}'", f"export AWS_SECRET_ACCESS_KEY='{sk}'",
            f"export AWS_SESSION_TOKEN='{tk}'", f"export AWS_ENDPOINT_URL_STS='{sts_url}'"))),
        ("fish", "fish", "\n".join((
            f"set -gx AWS_ACCESS_KEY_ID '{ak}'", f"set -gx AWS_SECRET_ACCESS_KEY '{sk}'",
            f"set -gx AWS_SESSION_TOKEN '{tk}'", f"set -gx AWS_ENDPOINT_URL_STS '{sts_url}'"))),
        ("powershell", "PowerShell", "\n".join((
            f"$Env:AWS_ACCESS_KEY_ID = '{ak}'", f"$Env:AWS_SECRET_ACCESS_KEY = '{sk}'",
            f"$Env:AWS_SESSION_TOKEN = '{tk}'", f"$Env:AWS_ENDPOINT_URL_STS = '{sts_url}'"))),
        ("profile", "~/.aws/credentials profile", "\n".join((
            f"[{profile}]", f"aws_access_key_id = {ak}", f"aws_secret_access_key = {sk}",
            f"aws_session_token = {tk}"))),
        ("process", "credential_process JSON", json.dumps({
            "Version": 1, "AccessKeyId": ak, "SecretAccessKey": sk, "SessionToken": tk,
            "Expiration": expiration}, separators=(",", ":"))),
    ]


def _shown(rt: Runtime, creds: Credentials, claims: SessionClaims) -> Shown:
    account = rt.snapshot.accounts_by_id.get(claims.account)
    alias = account.alias if account else None
    profile = f"{alias or claims.account}-{claims.role_name}"
    return Shown(creds, claims.role_arn, claims.role_name, claims.account, alias,
                 claims.session_name, claims.arn, claims.chain_depth,
                 _formats(creds, profile, f"{rt.settings.base_url}/sts"))


def _credentials_page(rt: Runtime, user: people.User, shown: Shown, *,
                      refresh_duration: int | None, refreshed: bool) -> Response:
    body = render_template(
        "portal/credentials.html", user=user, shown=shown, human=human,
        expires_at=int(shown.credentials.expiration.timestamp()),
        remaining=int((shown.credentials.expiration - datetime.now(UTC)).total_seconds()),
        refresh_duration=refresh_duration, refreshed=refreshed,
        refreshable=shown.chain_depth == 0,
    )
    return Response(body, mimetype="text/html")


def _mint(rt: Runtime, user: people.User, role_arn: str, duration: int | None, *,
          refresh: bool = False) -> tuple[Credentials, SessionClaims] | Response:
    """Credentials for an offered role, or the console page with the refusal.

    The issuance (or refusal) record names this browser's sign-in, and says when it was a
    **Refresh**: the admin audit trail follows a sign-in through them.
    """
    now = datetime.now(UTC)
    env = _env(rt, now)
    identity = user.identity
    if identity.provider not in env.snapshot.providers_by_name:
        return _page(user, error="Your identity provider is no longer configured; sign in "
                     "again.", status=403)
    if duration is not None and duration < MIN_DURATION:
        return _page(user, error="Pick a session length from the list (15 minutes or more).",
                     status=400)
    signed_in: dict[str, object] = {"signin_id": user.signin_id}
    if refresh:
        signed_in["refresh"] = True
    try:
        issued = offers.mint(identity, role_arn, env, session_name=session_name_for(identity),
                             duration=duration, detail=signed_in)
    except StsError as exc:
        refuse(rt.engine, exc, action="Console", origin=env.origin, role_arn=role_arn[:2048],
               provider=identity.provider, subject=identity.subject, detail=signed_in)
        return _page(user, error=exc.message, status=exc.status)
    signin.track_credentials(rt, user.signin_id, issued.credentials.access_key_id,
                             issued.claims.expires_at)
    return issued.credentials, issued.claims


@bp.post("/console/credentials")
@login_required
def credentials() -> BaseResponse:
    """Mint credentials for one offered role and show them once (also **Refresh**)."""
    rt = runtime()
    user = _user()
    duration = _duration(request.form.get("duration"))
    refresh = request.form.get("refresh") == "1"
    minted = _mint(rt, user, request.form.get("role_arn", ""), duration, refresh=refresh)
    if isinstance(minted, Response):
        return minted
    creds, claims = minted
    return _credentials_page(rt, user, _shown(rt, creds, claims), refresh_duration=duration,
                             refreshed=refresh)


# ---------------------------------------------------------------- the console page


@bp.post("/console/open")
@login_required
def open_console() -> BaseResponse:
    rt = runtime()
    user = _user()
    minted = _mint(rt, user, request.form.get("role_arn", ""),
                   _duration(request.form.get("duration")))
    if isinstance(minted, Response):
        return minted
    creds, _claims = minted
    session[CONSOLE_KEY] = {"ak": creds.access_key_id, "tk": creds.session_token}
    return redirect("/console/session", 303)


@dataclass(frozen=True)
class Open:
    access_key_id: str
    token: str
    claims: SessionClaims
    role: Role


def _open_session(rt: Runtime, now: datetime) -> Open | str:
    """The console page's session, or why there is none to show."""
    data = session.get(CONSOLE_KEY)
    if not isinstance(data, dict) or not data.get("ak") or not data.get("tk"):
        return "No console session is open. Pick a role and choose Open console."
    loaded = rt.config.current()
    access_key_id, token = str(data["ak"]), str(data["tk"])
    try:
        claims = open_session_token(loaded.keyring, access_key_id, token)
        if claims.expired(now):
            return "This console session has expired. Open a new one from your roles."
        role = live_role(access_key_id, claims, loaded.snapshot, rt.revocations)
    except StsError as exc:
        return f"This console session can no longer be used: {exc.message}"
    return Open(access_key_id, token, claims, role)


def policy_summary(policy: Policy) -> list[dict[str, Any]]:
    """Each statement as Allow/Deny, actions and resources, in words a person can scan."""
    out = []
    for st in policy.statements:
        resources = "every resource" if st.resources is None and not st.not_resource else \
            ", ".join(st.resources or ())
        out.append({
            "effect": st.effect,
            "label": st.sid or "",
            "actions": ("everything except " if st.not_action else "") + ", ".join(st.actions),
            "resources": ("everything except " if st.not_resource else "") + resources,
            "conditions": len(st.conditions),
        })
    return out


def _switch_targets(rt: Runtime, opened: Open, env: Env) -> list[tuple[Role, str | None]]:
    """Roles this session may assume (trust policy and its own permissions agree)."""
    claims = opened.claims
    caller = permissions(claims, opened.role)
    targets: list[tuple[Role, str | None]] = []
    for role in env.snapshot.roles_by_arn.values():
        if role.arn == claims.role_arn:
            continue
        ctx = request_context(
            claims, "sts:AssumeRole", role.arn, now=env.now, source_ip=env.origin.source_ip,
            secure=env.secure, extra={"sts:RoleSessionName": claims.session_name},
        )
        if evaluate_trust(role.trust_policy, ctx, tag_session=False, set_source_identity=False,
                          caller=caller).allowed:
            account = env.snapshot.accounts_by_id.get(role.account_id)
            targets.append((role, account.alias if account else None))
    targets.sort(key=lambda t: (t[0].account_id == claims.account, t[0].account_id,
                                t[0].name))
    return targets


def _activity(rt: Runtime, opened: Open) -> list[audit.AuditEvent]:
    by_key = audit.recent(rt.engine, audit.AuditFilter(access_key_id=opened.access_key_id),
                          limit=20)
    by_session = audit.recent(rt.engine,
                              audit.AuditFilter(session_id=opened.claims.session_id), limit=20)
    seen: dict[int | None, audit.AuditEvent] = {e.id: e for e in (*by_key, *by_session)}
    return sorted(seen.values(), key=lambda e: (e.at or datetime.min, e.id or 0),
                  reverse=True)[:20]


@bp.get("/console/session")
@login_required
def session_page() -> BaseResponse:
    rt = runtime()
    user = _user()
    now = datetime.now(UTC)
    opened = _open_session(rt, now)
    if isinstance(opened, str):
        session.pop(CONSOLE_KEY, None)
        body = render_template("portal/session.html", user=user, ended=opened)
        return Response(body, status=410 if "expired" in opened else 200,
                        mimetype="text/html")
    env = _env(rt, now)
    claims = opened.claims
    account = env.snapshot.accounts_by_id.get(claims.account)
    policies = [(name, policy_summary(p)) for name, p in opened.role.policies.items()]
    body = render_template(
        "portal/session.html", user=user, ended=None, claims=claims, role=opened.role,
        account_alias=account.alias if account else None, policies=policies,
        session_policy=bool(claims.policy), activity=_activity(rt, opened),
        targets=_switch_targets(rt, opened, env), cap=CHAINING_CAP, human=human,
        remaining=claims.expires_at - int(now.timestamp()), error=request.args.get("e"),
    )
    return Response(body, mimetype="text/html")


@bp.post("/console/session/credentials")
@login_required
def session_credentials() -> BaseResponse:
    """The open console session's credentials (the secret derived again from the keyring)."""
    rt = runtime()
    user = _user()
    opened = _open_session(rt, datetime.now(UTC))
    if isinstance(opened, str):
        return redirect("/console/session", 303)
    secret = derive_secret_access_key(rt.config.current().keyring, opened.access_key_id)
    creds = Credentials(opened.access_key_id, secret, opened.token, opened.claims.expiration)
    return _credentials_page(rt, user, _shown(rt, creds, opened.claims), refresh_duration=None,
                             refreshed=False)


@bp.post("/console/switch")
@login_required
def switch() -> BaseResponse:
    """Role chaining from the open console session, as `sts:AssumeRole` would do it."""
    rt = runtime()
    user = _user()
    now = datetime.now(UTC)
    opened = _open_session(rt, now)
    if isinstance(opened, str):
        return redirect("/console/session", 303)
    env = _env(rt, now)
    role_arn = request.form.get("role_arn", "")[:2048]
    claims = opened.claims
    # The browser session stands in for the SigV4 signature: it holds the session's token,
    # opened and checked (expiry, revocation, role) just above.
    caller = Caller(VerifiedRequest(
        access_key_id=opened.access_key_id, region="us-east-1", service="sts",
        signed_headers=(), presigned=False, request_time=now, security_token=opened.token,
        expires=None), claims)
    try:
        result = assume_role(AssumeRoleRequest(role_arn=role_arn,
                                               role_session_name=claims.session_name), caller, env)
    except StsError as exc:
        refuse(rt.engine, exc, action="AssumeRole", origin=env.origin,
               principal_arn=claims.arn, role_arn=role_arn, access_key_id=opened.access_key_id,
               detail={"via": "console"})
        body = render_template("portal/refused.html", user=user, message=exc.message)
        return Response(body, status=exc.status, mimetype="text/html")
    creds = result.credentials
    signin.track_credentials(rt, user.signin_id, creds.access_key_id,
                             int(creds.expiration.timestamp()))
    session[CONSOLE_KEY] = {"ak": creds.access_key_id, "tk": creds.session_token}
    return redirect("/console/session", 303)


# ---------------------------------------------------------------- sign-out


@bp.post("/signout")
def signout() -> BaseResponse:
    """Local sign-out (sources without single logout); SAML identities use /saml/logout."""
    rt = runtime()
    signed_in = signin.current(rt)
    if signed_in is not None:
        signin.end(rt, signed_in.signin_id)
    return Response(render_template("signed_out.html",
                                    message="You are signed out of the gateway."),
                    mimetype="text/html")
