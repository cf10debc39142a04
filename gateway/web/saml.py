"""Browser single sign-on with SAML 2.0.

    GET  /login                    the identity provider picker (remembers the last choice)
    GET  /saml/login/<provider>    SP-initiated: a signed Redirect-binding AuthnRequest
    POST /saml/acs                 the IdP's Response (HTTP-POST); IdP-initiated only where
                                   allowed, RelayState only from the provider's allow-list
    GET|POST /saml/slo             LogoutRequest from the IdP, or its LogoutResponse to ours
    POST /saml/logout              SP-initiated logout (the console's sign-out)
    GET  /saml/metadata            the gateway's signed SP metadata

A request id is bound to the browser that started the sign-in through a short-lived
pre-authentication cookie (SameSite=None over HTTPS, so the IdP's cross-site POST
carries it); the main session cookie stays SameSite=Lax. Every refusal is an HTML page
with the reason, the right status and an audit event; never a 500.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, redirect, render_template, request, session
from lxml import etree
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from gateway.admin import sessions
from gateway.runtime import Runtime, runtime
from gateway.sources import disabled
from gateway.sources.saml import (
    bindings,
    messages,
    ns,
    protocol,
    response,
    sp_metadata,
    state,
    times,
    xmldsig,
    xmlsafe,
)
from gateway.sources.saml.errors import SamlRefusal, malformed
from gateway.sources.saml.providers import Idp
from gateway.sources.saml.service import Service, SignIn, accept_post, service
from gateway.store import audit
from gateway.store.snapshot import IdentityProvider
from gateway.web import ratelimit, redirects, signin
from gateway.web.errors import error_response

log = logging.getLogger(__name__)
bp = Blueprint("saml", __name__)
bp.record_once(lambda _state: protocol.warm_up())

BINDING_COOKIE = "gw_saml_binding"
AFTER_SIGN_IN = "/console"
MAX_POST = 256 * 1024
SIGNIN_REFUSED = audit.SIGNIN_REFUSED
SIGNOUT = "signout"
_ACS_SCOPE = "saml-acs"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
_OIDC_KINDS = frozenset({"oidc", "google", "facebook", "amazon"})


# ---------------------------------------------------------------- discovery and login


@bp.get("/login")
def login_page() -> BaseResponse:
    """Every configured identity provider; the last one used comes first."""
    from gateway.web import portal

    return portal.sign_in_page(_safe_next(request.args.get("next")))


@bp.get("/saml/login/<name>")
def login(name: str) -> BaseResponse:
    """Send the browser to the IdP with a signed AuthnRequest bound to this browser."""
    rt = runtime()
    svc = service()
    now = datetime.now(UTC)
    provider = rt.snapshot.providers_by_name.get(name)
    if provider is None or provider.kind != "saml":
        return error_response(404, "UnknownProvider",
                              f"There is no SAML identity provider named {name[:64]!r}.")
    try:
        if not provider.enabled:
            raise SamlRefusal(disabled.CODE, disabled.sign_in_refused(provider))
        idp = svc.idp(provider, now)
        endpoint = idp.metadata.endpoint("sso", ns.BINDING_REDIRECT)
        if endpoint is None:
            raise SamlRefusal("no_sso_endpoint", f"{_label(provider)} publishes no "
                              "HTTP-Redirect sign-on endpoint in its metadata.", status=503)
    except SamlRefusal as exc:
        return _refused(rt, exc, provider)
    binding = request.cookies.get(BINDING_COOKIE)
    if not binding or not 20 <= len(binding) <= 64:
        binding = secrets.token_urlsafe(32)
    request_id = state.new_request_id()
    state.remember(rt.redis, rt.keys.saml_request(request_id), state.Outstanding(
        provider.name, state.binding_hash(binding), _safe_next(request.args.get("next"))))
    xml = messages.authn_request(svc.sp, request_id=request_id, destination=endpoint.location,
                                 now=now)
    url = bindings.redirect_url(endpoint.location, "SAMLRequest", xml, relay_state=None,
                                private_pem=svc.keys().current.private_pem)
    session[signin.LAST_PROVIDER_KEY] = provider.name
    reply = redirect(url, 303)
    secure = rt.settings.secure_cookies
    reply.set_cookie(
        BINDING_COOKIE, binding, max_age=state.REQUEST_TTL, path="/saml/", httponly=True,
        secure=secure,
        # The IdP's answer is a cross-site POST: only SameSite=None cookies ride along, and
        # browsers accept those over HTTPS only. Over plain HTTP (a demo on 127.0.0.1, which
        # is same-site with an IdP on another port) Lax works.
        samesite="None" if secure else "Lax",
    )
    return reply


# ---------------------------------------------------------------- assertion consumer


@bp.post("/saml/acs")
def acs() -> BaseResponse:
    """Validate the IdP's Response; on success start a fresh session and go to the console."""
    rt = runtime()
    svc = service()
    client = request.remote_addr
    now = datetime.now(UTC)
    try:
        svc.check_budget(_ACS_SCOPE, client)
        saml_response, relay_state = _posted("SAMLResponse")
        result = accept_post(svc, rt.snapshot, saml_response,
                             binding=request.cookies.get(BINDING_COOKIE), now=now)
    except SamlRefusal as exc:
        if exc.code != "throttled":
            svc.spend_budget(_ACS_SCOPE, client)
        return _refused(rt, exc, None)
    throttled = ratelimit.check_signin(result.identity)  # address + person, one round trip
    if throttled is not None:
        return throttled
    return _signed_in(rt, svc, result, relay_state)


def _posted(name: str) -> tuple[str, str | None]:
    """A form field of a POST-binding message, with the body capped before it is read."""
    if (request.content_length or 0) > MAX_POST:
        raise SamlRefusal("too_large", "The SAML message is too large.", status=413)
    request.max_content_length = MAX_POST
    try:
        value = request.form.get(name)
    except RequestEntityTooLarge:
        raise SamlRefusal("too_large", "The SAML message is too large.", status=413) from None
    if not value:
        raise malformed(f"The request carries no {name}.")
    return value, request.form.get("RelayState")


def _signed_in(rt: Runtime, svc: Service, result: SignIn,
               relay_state: str | None) -> BaseResponse:
    validated = result.validated
    idp = validated.idp
    provider = idp.provider
    identity = result.identity
    signin_id = signin.start(identity, provider, {
        "saml": {"fmt": validated.name_id_format, "si": validated.session_index},
    })
    if validated.session_index:
        rt.redis.set(
            rt.keys.signin_index(_session_subject(validated.issuer, validated.name_id,
                                                  validated.session_index)),
            signin_id, ex=rt.settings.session_lifetime,
        )
    target = AFTER_SIGN_IN
    if result.request is not None and result.request.next:
        target = result.request.next
    elif result.request is None and relay_state:
        target = _relay_target(relay_state, idp) or AFTER_SIGN_IN
    _audit(rt, audit.SIGNIN, "success", provider, subject=identity.subject, detail={
        "issuer": validated.issuer, "assertion_id": validated.assertion_id,
        "solicited": result.request is not None, "signin_id": signin_id,
        "attributes": signin.audit_attributes(identity),
    })
    reply = redirect(target, 303)
    reply.delete_cookie(BINDING_COOKIE, path="/saml/")
    return reply


def _relay_target(relay_state: str, idp: Idp) -> str | None:
    """An IdP-initiated RelayState is followed only when it is on the provider's allow-list."""
    if len(relay_state) > 1024 or _CONTROL.search(relay_state):
        return None
    target = urlsplit(relay_state)
    for allowed in idp.policy.relay_state_allowlist:
        entry = urlsplit(allowed)
        # Same scheme and host:port exactly; the path equal to, or under, the entry's.
        if (target.scheme, target.netloc) != (entry.scheme, entry.netloc) or not target.netloc:
            continue
        base = entry.path or "/"
        if target.path == base or target.path.startswith(base.rstrip("/") + "/"):
            return relay_state
    return None


def _safe_next(value: str | None) -> str | None:
    """A same-origin path, or None (the shared check, gateway.web.redirects; W-07)."""
    return redirects.safe_next(value)


# ---------------------------------------------------------------- single logout


@bp.post("/saml/logout")
def logout() -> BaseResponse:
    """SP-initiated logout: end the local session first, then tell the IdP."""
    rt = runtime()
    svc = service()
    signed_in = signin.current(rt)
    if signed_in is None:
        return redirect("/login", 303)
    # The form's token was checked by Flask-WTF (gateway.web.csrf) before this view ran.
    identity = signed_in.identity
    provider = rt.snapshot.providers_by_name.get(identity.provider)
    details: dict[str, Any] = dict(signed_in.details.get("saml") or {})
    _finish_signin(rt, provider, signed_in.signin_id, "sp", identity.issuer, identity.subject)
    signin.end(rt, None)
    now = datetime.now(UTC)
    endpoint = None
    if provider is not None and provider.kind == "saml":
        try:
            endpoint = svc.idp(provider, now).metadata.endpoint("slo", ns.BINDING_REDIRECT)
        except SamlRefusal:
            endpoint = None
    if provider is None or endpoint is None:
        return _signed_out_page("You are signed out of the gateway.")
    request_id = state.new_request_id()
    state.remember(rt.redis, state.logout_key(rt.keys, request_id),
                   state.Outstanding(provider.name, "", None))
    xml = messages.logout_request(
        svc.sp, request_id=request_id, destination=endpoint.location, name_id=identity.subject,
        name_id_format=details.get("fmt"), session_index=details.get("si"), now=now,
    )
    _audit(rt, SIGNOUT, "success", provider, subject=identity.subject,
           detail={"initiated_by": "sp", "signin_id": signed_in.signin_id})
    return redirect(bindings.redirect_url(
        endpoint.location, "SAMLRequest", xml, relay_state=None,
        private_pem=svc.keys().current.private_pem), 303)


@bp.route("/saml/slo", methods=["GET", "POST"])
def slo() -> BaseResponse:
    """LogoutRequest from the IdP (IdP-initiated) or LogoutResponse (answer to ours)."""
    rt = runtime()
    svc = service()
    now = datetime.now(UTC)
    provider: IdentityProvider | None = None
    try:
        kind, root, idp, relay_state = _read_logout_message(rt, svc, now)
        provider = idp.provider
        if kind == "SAMLResponse":
            return _logout_answered(rt, root, idp)
        return _logout_requested(rt, svc, root, idp, relay_state, now)
    except SamlRefusal as exc:
        return _refused(rt, exc, provider, event=SIGNOUT)


def _read_logout_message(
    rt: Runtime, svc: Service, now: datetime
) -> tuple[str, etree._Element, Idp, str | None]:
    """Decode, find the issuing IdP, check its signature (required) and the addressing."""
    if request.method == "GET":
        kind = "SAMLRequest" if "SAMLRequest" in request.args else "SAMLResponse"
        raw = request.args.get(kind)
        if not raw:
            raise malformed("The request carries no SAML message.")
        xml = xmlsafe.inflate(xmlsafe.b64decode(raw, limit=bindings.MAX_QUERY_PARAM))
        relay_state = request.args.get("RelayState")
    else:
        kind = "SAMLRequest" if "SAMLRequest" in request.form else "SAMLResponse"
        raw, relay_state = _posted(kind)
        xml = xmlsafe.b64decode(raw)
    root = xmlsafe.parse(xml)
    expected_tag = ns.LOGOUT_REQUEST if kind == "SAMLRequest" else ns.LOGOUT_RESPONSE
    if root.tag != expected_tag:
        raise malformed("The SAML message is not a logout message.")
    from gateway.sources.saml import schema

    schema.validate(root)
    issuer = (root.findtext(ns.ISSUER) or "").strip()
    idp = svc.registry.by_entity_id(rt.snapshot, issuer, now) if issuer else None
    if idp is None:
        raise SamlRefusal("unknown_issuer", "The logout message comes from an identity "
                          "provider this gateway does not know.")
    if request.method == "GET":
        bindings.read_redirect(
            request.query_string.decode("latin-1"),
            certificates=idp.metadata.signing_certificates,
            allow_sha1=idp.policy.allow_sha1, require_signature=True,
        )
    else:
        signature = root.find(ns.SIGNATURE)
        if signature is None:
            raise SamlRefusal("signature_missing", "The logout message is not signed; it must "
                              "be signed by the identity provider.")
        xmldsig.check_profile(signature, root, allow_sha1=idp.policy.allow_sha1)
        if not xmldsig.verify(root, signature, idp.metadata.signing_keys):
            raise SamlRefusal("signature_invalid", "The logout message signature is invalid.")
    destination = root.get("Destination")
    if destination is not None and destination != svc.sp.slo_url:
        raise SamlRefusal("destination_mismatch",
                          "The logout message is addressed to another endpoint.")
    issued = times.parse_instant(root.get("IssueInstant"))
    skew = svc.sp.clock_skew
    if issued is None or abs((now - issued).total_seconds()) > response.MAX_RESPONSE_AGE \
            .total_seconds() + skew:
        raise SamlRefusal("expired", "The logout message is too old or from the future.")
    return kind, root, idp, relay_state


def _logout_answered(rt: Runtime, root: etree._Element, idp: Idp) -> Response:
    in_response_to = root.get("InResponseTo") or ""
    key = state.logout_key(rt.keys, in_response_to) if in_response_to else None
    record = state.look_up(rt.redis, key) if key else None
    if key is None or record is None or record.provider != idp.provider.name \
            or not state.consume(rt.redis, key):
        raise SamlRefusal("in_response_to_mismatch", "This logout response answers no logout "
                          "this gateway started (or it was already used).")
    code = root.find(f"{ns.q(ns.SAMLP, 'Status')}/{ns.q(ns.SAMLP, 'StatusCode')}")
    success = code is not None and code.get("Value") == ns.STATUS_SUCCESS
    _audit(rt, SIGNOUT, "success" if success else "failure", idp.provider,
           detail={"initiated_by": "sp", "idp_status": code.get("Value") if code is not None
                   else None})
    if success:
        return _signed_out_page(f"You are signed out of the gateway and of {_label(idp.provider)}.")
    return _signed_out_page(f"You are signed out of the gateway. {_label(idp.provider)} "
                            "reported that it could not end its own session.")


def _logout_requested(rt: Runtime, svc: Service, root: etree._Element, idp: Idp,
                      relay_state: str | None, now: datetime) -> BaseResponse:
    request_id = root.get("ID") or ""
    not_after = times.parse_instant(root.get("NotOnOrAfter"))
    if not_after is not None and now.timestamp() >= not_after.timestamp() + svc.sp.clock_skew:
        raise SamlRefusal("expired", "The logout request has expired.")
    name_id = (root.findtext(f"{ns.q(ns.SAML, 'NameID')}") or "").strip()
    indexes = [(e.text or "").strip() for e in root.findall(ns.q(ns.SAMLP, "SessionIndex"))]
    if not name_id:
        raise malformed("The logout request names no subject.")
    ended: list[str] = []
    for index in indexes:
        key = rt.keys.signin_index(_session_subject(idp.entity_id, name_id, index))
        value = rt.redis.get(key)
        if value:
            ended.append(value.decode() if isinstance(value, bytes) else str(value))
            rt.redis.delete(key)
    current = signin.current(rt)
    # No SessionIndex given means every session of the subject: this browser's included.
    if not indexes and current is not None and current.identity.issuer == idp.entity_id \
            and current.identity.subject == name_id and current.signin_id not in ended:
        ended.append(current.signin_id)
    for signin_id in ended:
        rt.redis.set(rt.keys.signin_ended(signin_id), b"1", ex=rt.settings.session_lifetime)
        _finish_signin(rt, idp.provider, signin_id, "idp", idp.entity_id, name_id)
    if current is not None and current.signin_id in ended:
        signin.end(rt, None)
    _audit(rt, SIGNOUT, "success", idp.provider, subject=name_id, detail={
        "initiated_by": "idp", "sessions_ended": len(ended), "request_id": request_id[:128],
    })
    endpoint = idp.metadata.endpoint("slo", ns.BINDING_REDIRECT)
    if endpoint is None:
        return _signed_out_page("You are signed out of the gateway.")
    xml = messages.logout_response(
        svc.sp, response_id=state.new_request_id(),
        destination=endpoint.response_location or endpoint.location,
        in_response_to=request_id, success=True, now=now,
    )
    return redirect(bindings.redirect_url(
        endpoint.response_location or endpoint.location, "SAMLResponse", xml,
        relay_state=relay_state if relay_state and len(relay_state) <= 80 else None,
        private_pem=svc.keys().current.private_pem), 303)


def _finish_signin(rt: Runtime, provider: IdentityProvider | None, signin_id: str,
                   initiated_by: str, issuer: str, subject: str) -> None:
    """Revoke what this sign-in minted when the provider's policy says logout revokes.

    Each revoked credential gets its own `credentials.revoked` event, in the shape of an
    admin's per-session revoke, so the sign-in's trail shows how each one ended.
    """
    if provider is not None and provider.options.get("revoke_on_logout") is True and signin_id:
        revoked = signin.revoke_credentials(rt, signin_id)
        sessions.record_revoked(
            rt.engine, revoked, actor="saml-logout", request_id=g.get("request_id"),
            source_ip=request.remote_addr, provider=issuer, subject=subject,
            detail={"signin_id": signin_id, "initiated_by": initiated_by},
        )
        if revoked:
            log.info("revoked %d credential(s) of sign-in %s at logout", len(revoked), signin_id)
    elif signin_id:
        rt.redis.delete(rt.keys.signin_credentials(signin_id))


def _session_subject(issuer: str, name_id: str, session_index: str) -> str:
    return f"{issuer}\0{name_id}\0{session_index}"


def _signed_out_page(message: str) -> Response:
    return Response(render_template("signed_out.html", message=message), mimetype="text/html")


# ---------------------------------------------------------------- metadata


@bp.get("/saml/metadata")
def metadata() -> Response:
    svc = service()
    body = sp_metadata.build(svc.sp, svc.keys(), datetime.now(UTC))
    return Response(body, mimetype="application/samlmetadata+xml",
                    headers={"Content-Disposition": 'inline; filename="gateway-sp.xml"'})


# ---------------------------------------------------------------- refusals


def _label(provider: IdentityProvider) -> str:
    return provider.display_name or provider.name


def _refused(rt: Runtime, exc: SamlRefusal, provider: IdentityProvider | None,
             event: str = SIGNIN_REFUSED) -> Response:
    """The HTML error page, after the audit record (the detail stays in the audit only)."""
    if provider is None and exc.provider is not None:
        provider = rt.snapshot.providers_by_name.get(exc.provider)
    _audit(rt, event, "failure", provider, error_code=exc.code,
           detail={"message": exc.message, "why": exc.detail})
    return error_response(exc.status, _title(exc.code), exc.message)


def _title(code: str) -> str:
    return "SignInRefused" if code not in ("throttled", "too_large", "malformed") else {
        "throttled": "TooManyRequests", "too_large": "PayloadTooLarge",
        "malformed": "BadRequest"}[code]


def _audit(rt: Runtime, event_type: str, outcome: audit.Outcome,
           provider: IdentityProvider | None, *, subject: str | None = None,
           error_code: str | None = None, detail: dict[str, Any] | None = None) -> None:
    audit.record(rt.engine, audit.AuditEvent(
        event_type=event_type, outcome=outcome, request_id=g.get("request_id"),
        provider=provider.name if provider else None,
        principal_arn=provider.arn if provider else None, subject=subject,
        source_ip=request.remote_addr, user_agent=request.headers.get("User-Agent"),
        error_code=error_code, detail={"protocol": "saml", **(detail or {})},
    ))
