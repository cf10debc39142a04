"""Rate limits on sign-in, token exchange and every STS action, per address and per subject.

Five families, each with an `<family>:address` and a `<family>:subject` allowance:

* `signin`: /saml/login/<p>, /oidc/<p>/login, /saml/acs, /oidc/<p>/callback; the
  subject is the issuer + subject signed in.
* `sts`: AssumeRoleWithWebIdentity and AssumeRoleWithSAML; issuer + subject validated.
* `token`: POST /api/v1/token; issuer + subject validated.
* `signed`: every SigV4-signed STS action; the person behind the access key (the
  federated issuer + subject its session carries, else the session's ARN).
* `authorize`: POST /api/v1/authorize; the address is the resource server's, the
  subject the person behind the forwarded request's access key, as for `signed`.

Each limited request is counted exactly once and costs one Redis round trip (one Lua
call, fixed windows), except signed calls and authorize questions, which are counted in
process and sent to Redis in batches off the request path (gateway.web.ratelimit_batch):

* where the subject becomes known (token or assertion validated, signature verified),
  its address and its subject are counted together. Only validated subjects are
  counted, so forged tokens naming a victim never use up the victim's allowance;
* a request refused before that point counts its address alone, after its answer;
* a sign-in start has no subject and counts its address before the view runs.

Once Redis says an address is over its allowance, this process remembers it until the
window ends (a fixed window that is over stays over until it resets, so the memo is
exact) and refuses that address before any work and without asking Redis. Refusals
carry the protocol's throttling error and `Retry-After`. Only the first refusal per
counter, window and process is audited; the rest are counted in a metric, so a flood
cannot turn into a flood of audit rows (docs/decisions/0012-rate-limits.md).

When Redis cannot be asked, the unauthenticated families fail closed (503); signed STS
calls and authorize questions fail open (their counts are dropped), keeping the promise
that issued credentials verify without Redis.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import redis
from flask import Flask, Response, current_app, g, has_request_context, request

from gateway import metrics
from gateway.identity import FederatedIdentity
from gateway.runtime import runtime
from gateway.store import audit
from gateway.sts.credentials import SessionClaims
from gateway.sts.errors import ServiceUnavailable, StsError, Throttling
from gateway.sts.issue import Origin, refuse
from gateway.web.errors import error_response
from gateway.web.ratelimit_batch import COUNT_SCRIPT, BatchedCounters
from gateway.web.sts_form import sts_pairs

CONFIG_KEY = "GATEWAY_RATE_LIMITS"  # app.config override per scope, for tests: {scope: "N/period"}
EXTENSION = "gateway.ratelimit"
SUBJECT_HOOK = "gateway.subject_limit"
UNSIGNED_ACTIONS = ("AssumeRoleWithWebIdentity", "AssumeRoleWithSAML")
SIGNIN, STS, TOKEN, SIGNED, AUTHORIZE = "signin", "sts", "token", "signed", "authorize"
FAMILIES = (SIGNIN, STS, TOKEN, SIGNED, AUTHORIZE)
# Families of calls signed with issued credentials: counted in batches, failing open.
_BATCHED = frozenset({SIGNED, AUTHORIZE})
_PERIODS = {"second": 1, "minute": 60, "hour": 3600}
_MEMO_SIZE = 10_000

# Endpoint → family; /sts is `sts` or `signed` by its Action (see _family).
_SIGNIN_STARTS = frozenset({"saml.login", "oidc.login"})
_SIGNIN_ENDS = frozenset({"saml.acs", "oidc.callback"})
_STS_ENDPOINTS = frozenset({"sts.endpoint", "sts.endpoint_root"})
_EXCHANGE_ENDPOINT = "token_exchange.exchange"
_AUTHORIZE_ENDPOINT = "api_authorize.authorize_endpoint"


@dataclass(frozen=True, slots=True)
class Rate:
    """N requests per window of `seconds`."""

    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        count, _, period = text.partition("/")
        if not count.isdigit() or int(count) < 1 or period not in _PERIODS:
            raise ValueError(f"expected N/second, N/minute or N/hour, got {text!r}")
        return cls(int(count), _PERIODS[period])


class Throttled(Throttling):
    """Over the allowance of `scope`; `retry_after` seconds until the window resets.

    `audit` is False when this counter's refusal was already audited in this window by
    this process (gateway.sts.issue.refuse then only counts it in a metric).
    """

    def __init__(self, scope: str, retry_after: int, *, audit: bool = True) -> None:
        super().__init__(detail=f"{scope}: retry after {retry_after}s")
        self.scope = scope
        self.retry_after = retry_after
        self.audit = audit


def _digest(value: str) -> str:
    # Identifiers (addresses, issuer/subject pairs) never appear verbatim in Redis keys.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class _Memo:
    """Counters known to be over their allowance, until their window ends (bounded)."""

    def __init__(self, size: int = _MEMO_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}  # key → time.monotonic() of the window's end

    def remember(self, key: str, seconds: float) -> bool:
        """Note `key` as over; returns whether it was already known over in this window."""
        now = time.monotonic()
        with self._lock:
            known = self._until.get(key, 0.0) > now
            if key not in self._until and len(self._until) >= self._size:
                self._prune(now)
            self._until[key] = now + seconds
            return known

    def left(self, key: str) -> float | None:
        """Seconds until `key`'s window ends, when it is known over."""
        now = time.monotonic()
        with self._lock:
            until = self._until.get(key)
            if until is None:
                return None
            if until <= now:
                del self._until[key]
                return None
            return until - now

    def _prune(self, now: float) -> None:
        for key in [k for k, until in self._until.items() if until <= now]:
            del self._until[key]
        while len(self._until) >= self._size:
            del self._until[next(iter(self._until))]  # the oldest entry


class RateLimits:
    """Fixed-window counters in Redis, every counter of a request in one round trip."""

    def __init__(self, store: redis.Redis, prefix: str, rates: Mapping[str, Rate]) -> None:
        self.rates = dict(rates)
        self._prefix = prefix
        self._script = store.register_script(COUNT_SCRIPT)
        self._memo = _Memo()
        # The signed family counts off the request path (ratelimit_batch, decision 0012).
        self.batched = BatchedCounters(store)

    def key(self, scope: str, identifier: str) -> str:
        return f"{self._prefix}{scope}:{_digest(identifier)}"

    def hit(self, *counters: tuple[str, str]) -> None:
        """Count each (scope, identifier) once; raise Throttled for the one furthest over.

        Raises redis.RedisError when Redis cannot be asked. Signed and authorize counters
        never ask it here: they are counted in process and sent in batches.
        """
        keys = [self.key(scope, ident) for scope, ident in counters]
        windows = [self.rates[scope].seconds * 1000 for scope, _ in counters]
        if counters[0][0].partition(":")[0] in _BATCHED:
            counts = self.batched.hit(keys, windows)
        else:
            # One round trip for every counter of the request: each counts 1.
            answer = self._script(keys=keys, args=[n for w in windows for n in (1, w)])
            counts = [(int(answer[2 * i]), max(int(answer[2 * i + 1]), 1))
                      for i in range(len(keys))]
        worst: Throttled | None = None
        for i, (scope, _) in enumerate(counters):
            count, ttl_ms = counts[i]
            if count <= self.rates[scope].count:
                continue
            # Only the first refusal of a counter's window (in this process) is audited.
            seen = self._memo.remember(keys[i], ttl_ms / 1000)
            retry = max(1, math.ceil(ttl_ms / 1000))
            if worst is None or retry > worst.retry_after:
                worst = Throttled(scope, retry, audit=not seen)
        if worst is not None:
            raise worst

    def blocked(self, scope: str, identifier: str) -> Throttled | None:
        """The refusal for a counter this process already knows is over (no Redis), else None.

        Its first refusal was audited when Redis said so; this one is only counted.
        """
        seconds = self._memo.left(self.key(scope, identifier))
        if seconds is None:
            return None
        return Throttled(scope, max(1, math.ceil(seconds)), audit=False)


def limits() -> RateLimits:
    found: RateLimits = current_app.extensions[EXTENSION]
    return found


def client_address() -> str:
    """The caller's address as the trusted proxy chain reports it (ProxyFix), else the peer."""
    return request.remote_addr or "unknown"


def subject_key(identity: FederatedIdentity) -> str:
    return f"{identity.issuer}\x00{identity.subject}"


def signed_subject(claims: SessionClaims) -> str:
    """Who signed: the federated person (so minting new sessions does not reset the
    allowance), else the session's ARN."""
    if claims.subject:
        return f"{claims.provider or ''}\x00{claims.subject}"
    return claims.arn


def count_subject(family: str, subject: str) -> None:
    """Count this request's address and its now-known `subject` in one round trip.

    Call it once the subject is proven (token/assertion validated, signature verified),
    before any credentials are minted or a session started. Raises Throttled (an STS
    `Throttling`) when over, ServiceUnavailable when Redis cannot be asked (the signed
    family lets the request through instead).
    """
    if not has_request_context() or g.get("rl_counted"):
        return
    rl = limits()
    g.rl_counted = True
    try:
        rl.hit((f"{family}:address", client_address()), (f"{family}:subject", subject))
    except Throttled as exc:
        g.retry_after = exc.retry_after
        metrics.RATE_LIMITED.labels(exc.scope).inc()
        raise
    except redis.RedisError as exc:
        raise ServiceUnavailable(detail=f"rate-limit store unavailable: {exc}") from None


def check_subject(kind: str, identity: FederatedIdentity) -> None:
    """The hook identity sources call after validating a token (`kind`: sts or token)."""
    count_subject(kind, subject_key(identity))


def init(app: Flask) -> None:
    """Create the limiter on the gateway's Redis and guard the limited endpoints."""
    rt = app.extensions["gateway"]
    s = rt.settings
    configured = {
        "signin:address": s.rate_limit_signin_address,
        "signin:subject": s.rate_limit_signin_subject,
        "sts:address": s.rate_limit_address,
        "sts:subject": s.rate_limit_subject,
        "token:address": s.rate_limit_address,
        "token:subject": s.rate_limit_subject,
        "signed:address": s.rate_limit_sts_address,
        "signed:subject": s.rate_limit_sts_subject,
        "authorize:address": s.rate_limit_authorize_address,
        "authorize:subject": s.rate_limit_authorize_subject,
    }
    configured.update(app.config.get(CONFIG_KEY) or {})
    rates = {scope: Rate.parse(text) for scope, text in configured.items()}
    app.extensions[EXTENSION] = RateLimits(rt.redis, f"{rt.keys.prefix}rl:", rates)
    # Sources call this hook, when present, after validating a token (no import upward).
    app.extensions[SUBJECT_HOOK] = check_subject
    app.before_request(_guard)
    app.after_request(_after)


# ---------------------------------------------------------------- request hooks


def _family() -> str | None:
    endpoint = request.endpoint
    if endpoint in _STS_ENDPOINTS:
        return STS if _is_unsigned_call() else SIGNED
    if endpoint == _EXCHANGE_ENDPOINT:
        return TOKEN
    if endpoint == _AUTHORIZE_ENDPOINT:
        return AUTHORIZE
    if endpoint in _SIGNIN_STARTS or endpoint in _SIGNIN_ENDS:
        return SIGNIN
    return None


def _is_unsigned_call() -> bool:
    body = request.get_data(cache=True)
    raw = body + b"&" + request.query_string
    if b"AssumeRoleWith" not in raw and b"%" not in raw:
        # Neither an unsigned action's name nor a percent-escape that could spell one:
        # a signed action (GetCallerIdentity and friends pay nothing more here).
        return False
    try:
        pairs = sts_pairs()
    except StsError:
        return False  # the STS edge reports malformed input itself
    return any(name == "Action" and value in UNSIGNED_ACTIONS for name, value in pairs)


def _guard() -> Response | None:
    """Refuse an address known to be over before any work; count sign-in starts."""
    if request.method == "OPTIONS":
        return None
    family = _family()
    if family is None:
        return None
    g.rl_family = family
    rl = limits()
    refusal = rl.blocked(f"{family}:address", client_address())
    if refusal is None and request.endpoint in _SIGNIN_STARTS:
        g.rl_counted = True
        try:
            rl.hit((f"{family}:address", client_address()))
        except Throttled as exc:
            refusal = exc
        # A RedisError propagates: the app answers 503 in the page's shape.
    if refusal is None:
        return None
    g.rl_counted = True
    g.retry_after = refusal.retry_after
    metrics.RATE_LIMITED.labels(refusal.scope).inc()
    return _refusal(family, refusal)


def _after(response: Response) -> Response:
    family = g.get("rl_family")
    if family is not None and not g.get("rl_counted"):
        response = _count_refused(family, response)
    retry = g.get("retry_after")
    if retry is not None:
        response.headers["Retry-After"] = str(retry)
    return response


def _count_refused(family: str, response: Response) -> Response:
    """A request refused before its subject was known still counts for its address.

    Only refusals get here (every success passes count_subject), so when this one went
    over the allowance its answer becomes the throttling refusal: nothing was granted.
    """
    g.rl_counted = True
    rl = limits()
    try:
        rl.hit((f"{family}:address", client_address()))
    except Throttled as exc:
        g.retry_after = exc.retry_after
        metrics.RATE_LIMITED.labels(exc.scope).inc()
        return _refusal(family, exc)
    except redis.RedisError:
        pass  # the page's own answer stands; a refusal needs no count to be right
    return response


# ---------------------------------------------------------------- refusals, per protocol


def _refusal(family: str, error: Throttled) -> Response:
    renderers: Mapping[str, Callable[[Throttled], Response]] = {
        STS: _sts_refusal,
        SIGNED: _sts_refusal,
        TOKEN: _token_refusal,
        SIGNIN: _page_refusal,
        AUTHORIZE: _authorize_refusal,
    }
    response = renderers[family](error)
    response.headers["Retry-After"] = str(error.retry_after)
    return response


def _authorize_refusal(error: Throttled) -> Response:
    from gateway.web.api_authorize import throttled

    return throttled(error)


def _origin() -> Origin:
    return Origin(g.get("request_id", ""), request.remote_addr, request.headers.get("User-Agent"))


def _sts_refusal(error: Throttled) -> Response:
    from gateway.sts.protocol import render_error, wants_json

    refuse(runtime().engine, error, action=_action() or "unknown", origin=_origin())
    out = render_error(
        error, request_id=g.get("request_id", ""), as_json=wants_json(request.headers.get("Accept"))
    )
    return Response(out.body, status=out.status, headers=list(out.headers))


def _action() -> str | None:
    try:
        pairs = sts_pairs()
    except StsError:
        return None
    return next((value[:64] for name, value in pairs if name == "Action"), None)


def _token_refusal(error: Throttled) -> Response:
    from flask import jsonify

    from gateway.web.token_exchange import ACTION, allowed_origins

    description = "Too many token exchanges; retry later."
    refuse(
        runtime().engine,
        error,
        action=ACTION,
        origin=_origin(),
        detail={"error": "slow_down", "description": description},
    )
    response = jsonify(error="slow_down", error_description=description)
    response.status_code = 429
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Origin"
    caller = request.headers.get("Origin")
    if caller and caller in allowed_origins(runtime().snapshot):
        response.headers["Access-Control-Allow-Origin"] = caller
    return response


def _page_refusal(error: Throttled) -> Response:
    if error.audit:
        audit.record(
            runtime().engine,
            audit.AuditEvent(
                event_type=audit.SIGNIN_REFUSED,
                outcome="failure",
                request_id=g.get("request_id"),
                source_ip=request.remote_addr,
                user_agent=request.headers.get("User-Agent"),
                error_code=error.code,
                detail={
                    "scope": error.scope,
                    "endpoint": request.endpoint,
                    "note": "first refusal of this window; later ones are only counted",
                },
            ),
        )
    return throttled_page(error)


def throttled_page(error: Throttled) -> Response:
    """The HTML 429 a browser gets, with Retry-After."""
    response = error_response(
        429,
        "TooManyRequests",
        f"Too many sign-in attempts; try again in {error.retry_after} seconds.",
    )
    response.headers["Retry-After"] = str(error.retry_after)
    return response


def check_signin(identity: FederatedIdentity) -> Response | None:
    """Count a browser sign-in's address and subject; the page to answer when refused."""
    try:
        count_subject(SIGNIN, subject_key(identity))
    except Throttled as exc:
        return _page_refusal(exc)
    except ServiceUnavailable:
        return error_response(
            503,
            "ServiceUnavailable",
            "The gateway's session store is unavailable right now. Please try again in a moment.",
        )
    return None
