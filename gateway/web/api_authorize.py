"""`POST /api/v1/authorize`: resource servers ask whether a signed request may proceed.

Answers: 200 with the decision (allow or deny) and the principal; 401/403 problem when
the forwarded request's signature or credentials are refused; 400 problem naming the
field for a malformed question; 429 problem with Retry-After when the resource server's
address or the person behind the access key is over their allowance
(gateway.web.ratelimit, family `authorize`); 503 problem when revocations cannot be
checked. Every deny and every refusal is in the audit trail before the answer leaves
(throttling: the first of each window, docs/decisions/0012-rate-limits.md); allows are
only counted (`gateway_authorize_decisions_total`), as a database write per allowed
request would put the database on the hot path (docs/resource-servers.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, g, request

from gateway import metrics
from gateway.iam import Decision
from gateway.problems import Invalid, Problem
from gateway.runtime import Runtime, runtime
from gateway.state.revocations import RevocationStateUnknown
from gateway.store import audit
from gateway.sts.authenticate import Caller
from gateway.sts.authorize import (
    Authorized,
    AuthorizeRequest,
    decide,
    encoded_message,
    explanation,
    parse_authorize_request,
    principal_of,
    verify,
)
from gateway.sts.caches import PER_SESSION
from gateway.sts.credentials import SessionClaims
from gateway.sts.errors import ServiceUnavailable, StsError
from gateway.sts.sigv4 import parse_request
from gateway.web import ratelimit

bp = Blueprint("api_authorize", __name__)

AUTHORIZE_DENIED = "authorize.denied"
AUTHORIZE_REFUSED = "authorize.refused"
# The whole JSON question; the forwarded body inside it has its own, smaller limit.
MAX_REQUEST_BYTES = 512 * 1024
# No usable signature at all: the client must authenticate. Anything else is a refusal.
_UNAUTHENTICATED = frozenset({"MissingAuthenticationToken", "IncompleteSignature"})


def problem(status: int, code: str, detail: str, **extra: Any) -> Response:
    """An RFC 9457 problem with the AWS-style `code` also in `title`."""
    body = {
        "type": "about:blank",
        "title": code,
        "code": code,
        "status": status,
        "detail": detail,
        "request_id": g.get("request_id", ""),
        **extra,
    }
    resp = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    if status == 401:
        resp.headers["WWW-Authenticate"] = "AWS4-HMAC-SHA256"
    return resp


def _answer(decision: Decision, claims: SessionClaims, encoded: str | None = None) -> Response:
    """The decision as JSON: `decision`, `principal`, `explanation` (and `encoded_message`)."""
    # The principal and the explanation repeat for every request of a session: their JSON
    # is made once (json.dumps of the whole answer was a tenth of the endpoint's time).
    text = (
        f'{{"decision": "{"allow" if decision.allowed else "deny"}", '
        f'"principal": {_principal_json(claims)}, '
        f'"explanation": {_explanation_json(decision.reason)}'
        + ("}" if encoded is None else f', "encoded_message": {json.dumps(encoded)}}}')
    )
    return Response(text, 200, _NO_STORE, mimetype="application/json")


_NO_STORE = {"Cache-Control": "no-store"}


@lru_cache(maxsize=PER_SESSION)
def _principal_json(claims: SessionClaims) -> str:
    return json.dumps(principal_of(claims))


@lru_cache(maxsize=64)
def _explanation_json(reason: str) -> str:
    return json.dumps(explanation(reason))


@bp.post("/api/v1/authorize")
def authorize_endpoint() -> Response:
    """Verify the forwarded request, decide, and audit every deny and refusal."""
    rt = runtime()
    now = datetime.now(UTC)
    length = request.content_length
    if length is not None and length > MAX_REQUEST_BYTES:
        return problem(413, "RequestEntityTooLarge",
                       f"the request is {length} bytes; the limit is {MAX_REQUEST_BYTES}")
    request.max_content_length = MAX_REQUEST_BYTES  # also bounds chunked bodies
    try:
        doc = json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError) as exc:
        return problem(400, "MalformedJSON", f"the request body is not valid JSON: {exc}")
    try:
        question = parse_authorize_request(doc)
    except Invalid as exc:
        return _invalid(exc.problems)

    loaded = rt.config.current()
    caller: Caller | None = None
    try:
        caller = verify(question, keyring=loaded.keyring, now=now)
        # Counted once the signature proves who is asking (decision 0012, point 2).
        ratelimit.count_subject(ratelimit.AUTHORIZE, ratelimit.signed_subject(caller.claims))
        decision = decide(caller, question, snapshot=loaded.snapshot,
                          revocations=rt.revocations, now=now)
    except RevocationStateUnknown as exc:
        error: StsError = ServiceUnavailable(detail=f"revocation list unavailable: {exc}")
        return _refused(rt, error, question, caller)
    except ratelimit.Throttled as exc:
        return throttled(exc, question, caller)
    except StsError as exc:
        return _refused(rt, exc, question, caller)

    if decision.allowed:
        metrics.AUTHORIZE_DECISIONS.labels("allow", decision.reason).inc()
        return _answer(decision, caller.claims)
    authorized = Authorized(caller, decision)
    sealed = encoded_message(loaded.keyring, authorized, question, g.get("request_id", ""))
    _record_denial(rt, authorized, question)
    metrics.AUTHORIZE_DECISIONS.labels("deny", decision.reason).inc()
    return _answer(decision, caller.claims, sealed)


def _invalid(problems: list[Problem]) -> Response:
    errors = [{"field": p.path, "message": p.message} for p in problems]
    return problem(
        400, "ValidationError", "; ".join(str(p) for p in problems),
        field=problems[0].path, errors=errors,
    )


def _client_ip(question: AuthorizeRequest) -> str | None:
    for key, values in (question.context or {}).items():
        if key.lower() == "aws:sourceip" and values:
            return values[0]
    return None


def _record_denial(rt: Runtime, authorized: Authorized, question: AuthorizeRequest) -> None:
    claims = authorized.caller.claims
    decision = authorized.decision
    audit.record(rt.engine, audit.AuditEvent(
        event_type=AUTHORIZE_DENIED,
        outcome="failure",
        request_id=g.get("request_id"),
        principal_arn=claims.arn,
        role_arn=claims.role_arn,
        account=claims.account,
        provider=claims.provider,
        subject=claims.subject,
        access_key_id=authorized.caller.access_key_id,
        session_id=claims.session_id,
        source_ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        error_code="AccessDenied",
        detail={
            "service": question.service,
            "action": question.action,
            "resource": question.resource,
            "resource_account": question.resource_account,
            "client_ip": _client_ip(question),
            "reason": decision.reason,
            "rule": decision.rule,
        },
    ))


def _refused(
    rt: Runtime, error: StsError, question: AuthorizeRequest, caller: Caller | None
) -> Response:
    status = 401 if error.code in _UNAUTHENTICATED else error.status
    if 400 <= status < 500 and status != 401:
        status = 403  # a credential this gateway will not accept, whatever the STS status
    access_key_id = caller.access_key_id if caller is not None else _claimed_key(question)
    _record_refusal(rt, error, caller, access_key_id, {
        "service": question.service,
        "action": question.action,
        "resource": question.resource,
        "client_ip": _client_ip(question),
        "message": error.message,
        "why": error.detail,
    })
    metrics.AUTHORIZE_DECISIONS.labels("refused", error.code).inc()
    return problem(status, error.code, error.message)


def _record_refusal(
    rt: Runtime, error: StsError, caller: Caller | None, access_key_id: str | None,
    detail: dict[str, Any],
) -> None:
    """The `authorize.refused` audit event, naming the session when it was verified."""
    claims = caller.claims if caller is not None else None
    audit.record(rt.engine, audit.AuditEvent(
        event_type=AUTHORIZE_REFUSED,
        outcome="failure",
        request_id=g.get("request_id"),
        principal_arn=claims.arn if claims else None,
        role_arn=claims.role_arn if claims else None,
        account=claims.account if claims else None,
        provider=claims.provider if claims else None,
        subject=claims.subject if claims else None,
        access_key_id=access_key_id,
        session_id=claims.session_id if claims else None,
        source_ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        error_code=error.code,
        detail=detail,
    ))


def throttled(
    error: ratelimit.Throttled,
    question: AuthorizeRequest | None = None,
    caller: Caller | None = None,
) -> Response:
    """429 problem with Retry-After; audited like any refusal, but only the first of a
    counter's window (a flood must not become a flood of audit rows)."""
    if error.audit:
        _record_refusal(runtime(), error, caller,
                        caller.access_key_id if caller is not None else None, {
            "scope": error.scope,
            "action": question.action if question else None,
            "note": "first refusal of this window; later ones are only counted",
        })
    metrics.AUTHORIZE_DECISIONS.labels("refused", error.code).inc()
    response = problem(429, error.code, error.message)
    response.headers["Retry-After"] = str(error.retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response


def _claimed_key(question: AuthorizeRequest) -> str | None:
    """The access key id the request claims, for the audit trail of a refusal."""
    try:
        key = parse_request(question.signed).access_key_id
    except StsError:
        return None
    return key[:128]
