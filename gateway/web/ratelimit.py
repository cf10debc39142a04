"""Rate limits on the unauthenticated token exchanges, per client address and per subject.

Flask-Limiter keeps the counters in the gateway's Redis (its `limits` storage, sharing
the gateway's connection pool). Two endpoints are limited: `AssumeRoleWithWebIdentity`
on `/sts` and `POST /api/v1/token`. The address is counted before any expensive work;
the subject (issuer + subject) is counted once a token has been validated, so forged
tokens naming a victim can never use up the victim's allowance. A refusal carries
`Retry-After`. If Redis cannot be asked, the exchange is refused (fail closed).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import redis
from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse
from limits.errors import StorageError

from gateway.identity import FederatedIdentity
from gateway.sts.errors import ServiceUnavailable, StsError, Throttling

CONFIG_KEY = "GATEWAY_RATE_LIMITS"  # app.config override per scope, for tests: {scope: "N/period"}
EXTENSION = "gateway.ratelimit"
SUBJECT_HOOK = "gateway.subject_limit"
WEB_IDENTITY_ACTION = "AssumeRoleWithWebIdentity"


class Throttled(Exception):
    """Too many requests for `scope`; try again after `retry_after` seconds."""

    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(f"rate limit {scope} exceeded")
        self.scope = scope
        self.retry_after = retry_after


def client_address() -> str:
    """The caller's address as the trusted proxy chain reports it (ProxyFix), else the peer."""
    return request.remote_addr or "unknown"


def _digest(value: str) -> str:
    # Identifiers (addresses, issuer/subject pairs) never appear verbatim in Redis keys.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def subject_key(identity: FederatedIdentity) -> str:
    return f"{identity.issuer}\x00{identity.subject}"


@dataclass
class RateLimits:
    limiter: Limiter
    items: Mapping[str, RateLimitItem]

    def hit(self, scope: str, identifier: str) -> None:
        """Count one request; raise Throttled when the allowance is used up."""
        item = self.items[scope]
        key = _digest(identifier)
        strategy = self.limiter.limiter
        try:
            if strategy.hit(item, scope, key):
                return
            reset = strategy.get_window_stats(item, scope, key).reset_time
        except (StorageError, redis.RedisError) as exc:
            raise ServiceUnavailable(detail=f"rate-limit store unavailable: {exc}") from None
        raise Throttled(scope, max(1, math.ceil(reset - time.time())))


def limits() -> RateLimits:
    found: RateLimits = current_app.extensions[EXTENSION]
    return found


def check_subject(kind: str, identity: FederatedIdentity) -> None:
    """Count a validated identity against `<kind>:subject`; STS errors for the STS edge."""
    try:
        limits().hit(f"{kind}:subject", subject_key(identity))
    except Throttled as exc:
        g.retry_after = exc.retry_after
        raise Throttling(detail=f"{exc.scope}: retry after {exc.retry_after}s") from None


def init(app: Flask) -> None:
    """Create the limiter on the gateway's Redis and guard AssumeRoleWithWebIdentity."""
    rt = app.extensions["gateway"]
    per_address, per_subject = rt.settings.rate_limit_address, rt.settings.rate_limit_subject
    configured = {"token:address": per_address, "token:subject": per_subject,
                  "sts:address": per_address, "sts:subject": per_subject}
    configured.update(app.config.get(CONFIG_KEY) or {})
    limiter = Limiter(
        client_address,
        app=app,
        # The scheme only picks the storage class; connections come from the gateway's pool.
        storage_uri="redis://",
        storage_options={"connection_pool": rt.redis.connection_pool,
                         "key_prefix": f"{rt.keys.prefix}rl"},
        strategy="fixed-window",
        default_limits=[],
        headers_enabled=False,
        swallow_errors=False,
    )
    # Limits are driven explicitly below; skip Flask-Limiter's per-request decorator scan.
    limiter.request_filter(lambda: True)
    app.extensions[EXTENSION] = RateLimits(limiter, {k: parse(v) for k, v in configured.items()})
    # Sources call this hook, when present, after validating a token (no import upward).
    app.extensions[SUBJECT_HOOK] = check_subject
    app.before_request(_guard_web_identity)
    app.after_request(_retry_after)


def _is_web_identity_call() -> bool:
    if request.path not in ("/sts", "/"):
        return False
    body = request.get_data(cache=True)
    raw = body + b"&" + request.query_string
    if WEB_IDENTITY_ACTION.encode() not in raw and b"%" not in raw:
        # Neither the action's name nor a percent-escape that could spell it: another
        # action (GetCallerIdentity and friends pay nothing here).
        return False
    from gateway.sts.protocol import decode_form

    try:
        pairs = decode_form(request.query_string)
        if request.mimetype == "application/x-www-form-urlencoded":
            pairs += decode_form(body)
    except StsError:
        return False  # the STS edge reports malformed input itself
    return any(name == "Action" and value == WEB_IDENTITY_ACTION for name, value in pairs)


def _guard_web_identity() -> Response | None:
    """Per-address allowance of the unsigned AssumeRoleWithWebIdentity, checked first."""
    if request.method not in ("GET", "POST") or not _is_web_identity_call():
        return None
    try:
        limits().hit("sts:address", client_address())
    except Throttled as exc:
        g.retry_after = exc.retry_after
        return _sts_refusal(Throttling(detail=f"{exc.scope}: retry after {exc.retry_after}s"))
    except StsError as exc:
        return _sts_refusal(exc)
    return None


def _sts_refusal(error: StsError) -> Response:
    from gateway.runtime import runtime
    from gateway.sts.issue import Origin, refuse
    from gateway.sts.protocol import render_error, wants_json

    origin = Origin(g.get("request_id", ""), request.remote_addr,
                    request.headers.get("User-Agent"))
    refuse(runtime().engine, error, action=WEB_IDENTITY_ACTION, origin=origin)
    out = render_error(error, request_id=g.get("request_id", ""),
                       as_json=wants_json(request.headers.get("Accept")))
    return Response(out.body, status=out.status, headers=list(out.headers))


def _retry_after(response: Response) -> Response:
    retry = g.get("retry_after")
    if retry is not None:
        response.headers["Retry-After"] = str(retry)
    return response
