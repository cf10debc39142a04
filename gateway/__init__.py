"""Identity federation gateway: sign in with your own identity, leave with short-lived keys."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from pathlib import Path
from typing import Any

import redis
from flask import Flask, Response, g, request
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway.config_cache import ConfigCache
from gateway.runtime import Runtime, StartupError, loader
from gateway.settings import Settings
from gateway.sources import outbound
from gateway.state.client import connect
from gateway.state.embedded import EmbeddedRedis
from gateway.state.keys import Keys
from gateway.state.revocations import Revocations
from gateway.state.sessions import RedisSessionInterface
from gateway.store import audit
from gateway.sts.keyring import KeyringError

__all__ = ["StartupError", "create_app"]

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_LABEL_MEMO = 1024
_SYNC_MEMO = 512

# Pages are server-rendered with no third-party assets, so the policy can be strict.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self' https: http:; frame-ancestors 'none'; base-uri 'none'"
)
_HSTS = ("Strict-Transport-Security", "max-age=31536000")
_HTML_ONLY = (("Content-Security-Policy", _CSP), ("X-Frame-Options", "DENY"),
              ("Cache-Control", "no-store"))


def create_app(settings: Settings | None = None) -> Flask:
    """Build the gateway app: connect the stores, load the configuration, wire blueprints."""
    from gateway import logs
    from gateway.web import (
        admin,
        api_authorize,
        console,
        csrf,
        errors,
        oidc,
        openapi,
        ops,
        people,
        portal,
        ratelimit,
        request_limits,
        saml,
        sts,
        token_exchange,
    )

    settings = settings or Settings.from_env()
    logs.configure(settings.log_format, settings.log_level)
    outbound.configure(settings.idp_timeout)

    engine = _database(settings)
    # Audit events outlive a database outage in a local spool (docs/decisions/0010).
    audit.open_writer(engine, settings.var_dir / "audit-spool")
    store, redis_url = _redis(settings)
    keys = Keys(settings.redis_prefix)
    secret = _master_key(settings, engine)
    config = ConfigCache(loader(engine, secret), store, keys, settings.config_reload_interval)
    revocations = Revocations(
        store, keys, interval=settings.config_reload_interval,
        fail_open=settings.revocation_fail_mode == "open",
    )

    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(
        # Cookies carry random ids only; this key signs Flask-WTF's CSRF tokens.
        SECRET_KEY=hmac.new(secret, b"flask-secret-key", hashlib.sha256).hexdigest(),
        SESSION_COOKIE_NAME="gw_session",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=1024 * 1024,
        GATEWAY_REDIS_URL=redis_url,
    )
    app.session_interface = RedisSessionInterface(store, keys, settings.session_lifetime)
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n
        )
    app.extensions["gateway"] = Runtime(
        settings, engine, store, keys, config, revocations, secret
    )

    _remember_sync(app)
    _instrument(app)
    errors.register(app)
    for blueprint in (ops.bp, portal.bp, sts.bp, api_authorize.bp, openapi.bp, oidc.bp,
                      token_exchange.bp, saml.bp, console.bp, admin.bp):
        app.register_blueprint(blueprint)
    # Hooks in this order: size limits, then rate limits, before sign-in and CSRF checks.
    request_limits.init(app)
    ratelimit.init(app)
    people.init(app)
    csrf.init(app)
    return app


def _database(settings: Settings, *, upgrade: bool = False) -> Engine:
    """The engine, checked reachable and at the current schema (`upgrade`: migrate it)."""
    from gateway.store import migrate
    from gateway.store.db import make_engine

    engine = make_engine(settings.database_url)
    where = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        # Checked first: a current schema (every worker's start) then needs no Alembic.
        current = migrate.is_up_to_date(engine)
        if not current and (upgrade or engine.url.get_backend_name() == "sqlite"):
            migrate.upgrade(engine)
        elif not current:
            raise StartupError(
                f"the database at {where} is not at the current schema; "
                "run `gateway db upgrade` first"
            )
    except SQLAlchemyError as exc:
        raise StartupError(
            f"cannot reach the database at {where} ({type(exc).__name__}); start it or fix "
            "GATEWAY_DATABASE_URL"
        ) from exc
    return engine


def _master_key(settings: Settings, engine: Engine) -> bytes:
    """The master key, proven to open the keyring in this database (created on first start)."""
    from gateway import master_key
    from gateway.sts.keystore import load_keyring

    try:
        secret = master_key.load_or_create(settings)
        load_keyring(engine, secret)
    except KeyringError as exc:
        raise StartupError(
            f"{exc}; set GATEWAY_MASTER_KEY (or GATEWAY_MASTER_KEY_FILE) to the key this "
            "database was created with"
        ) from exc
    return secret


def _redis(settings: Settings) -> tuple[redis.Redis, str]:
    url = settings.redis_url or EmbeddedRedis(settings.var_dir / "redis").ensure_running()
    client = connect(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise StartupError(
            f"cannot reach Redis at {url} ({exc}); start it, fix GATEWAY_REDIS_URL, or leave "
            "it empty to run an embedded Redis"
        ) from exc
    return client, url


def _remember_sync(app: Flask) -> None:
    """Flask's `ensure_sync`, answered once per function.

    Flask asks it of every hook and the view on every request, and each answer costs an
    `inspect.iscoroutinefunction`; the registered functions never change. Bounded, since
    per-request callbacks (`after_this_request`) are new functions each time.
    """
    ensure_sync = app.ensure_sync
    known: dict[Any, Any] = {}

    def remembered(func: Any) -> Any:
        found = known.get(func)
        if found is None:
            found = ensure_sync(func)
            if len(known) < _SYNC_MEMO:
                known[func] = found
        return found

    app.ensure_sync = remembered  # type: ignore[method-assign]


def _instrument(app: Flask) -> None:
    """Request ids, timing, metrics and the security headers on every response."""
    from gateway import metrics

    # Served as https (GATEWAY_BASE_URL): browsers must never try plain HTTP again.
    hsts = app.extensions["gateway"].settings.secure_cookies
    # Security headers every answer gets unless its view set them; pages get more.
    plain = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
             *((_HSTS,) if hsts else ()))
    html = (*plain, *_HTML_ONLY)

    # The labelled children, found once per label values: `labels()` takes a lock and
    # checks its arguments on every call (docs/decisions/0009, "HTTP verify").
    counted: dict[tuple[str, str, int], Any] = {}
    timed: dict[str, Any] = {}

    @app.before_request
    def start() -> None:
        # The header straight from the environ: same value as request.headers.get.
        incoming = request.environ.get("HTTP_X_REQUEST_ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(16)
        g.started = time.perf_counter()

    @app.after_request
    def finish(response: Response) -> Response:
        req = request._get_current_object()  # type: ignore[attr-defined]
        ctx = g._get_current_object()
        endpoint = req.endpoint or "unknown"
        elapsed = time.perf_counter() - getattr(ctx, "started", time.perf_counter())
        key = (req.method, endpoint, response.status_code)
        counter = counted.get(key)
        if counter is None:
            counter = metrics.HTTP_REQUESTS.labels(key[0], endpoint, str(key[2]))
            if len(counted) < _LABEL_MEMO:  # methods are the client's to choose
                counted[key] = counter
        counter.inc()
        latency = timed.get(endpoint)
        if latency is None:
            latency = timed.setdefault(endpoint, metrics.HTTP_LATENCY.labels(endpoint))
        latency.observe(elapsed)
        request_id = getattr(ctx, "request_id", None)
        if request_id:
            response.headers["X-Request-Id"] = request_id
        headers = response.headers
        # One pass over the names the view set, instead of a case-insensitive scan per
        # `setdefault`; the headers added are the same.
        present = {name.lower() for name, _ in headers.items()}
        # The header's prefix rather than `response.mimetype`, which parses it each time.
        page = headers.get("Content-Type", "").startswith("text/html")
        for name, value in html if page else plain:
            if name.lower() not in present:
                headers.add(name, value)
        return response
