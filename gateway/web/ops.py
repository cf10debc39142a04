"""Operations endpoints: liveness, readiness, metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from gateway import metrics
from gateway.runtime import runtime
from gateway.store import audit

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive and answering; nothing else is checked."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when Redis answers and a configuration is loaded; the database is reported."""
    rt = runtime()
    checks: dict[str, Any] = {}
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    try:
        rt.redis.ping()
        checks["redis"] = "ok"
    except redis.RedisError as exc:
        checks["redis"] = f"unavailable: {type(exc).__name__}"
    snapshot = rt.config.current()
    checks["config_version"] = snapshot.version
    # Expiring certificates are warnings for operators; they never make us unready.
    try:
        from gateway.sources.saml.health import certificate_warnings
        from gateway.sources.saml.service import service

        checks["saml_certificates"] = certificate_warnings(service(), datetime.now(UTC)) or "ok"
    except (SQLAlchemyError, redis.RedisError) as exc:
        checks["saml_certificates"] = f"unknown: {type(exc).__name__}"
    spooled = audit.spooled_files(rt.engine)
    checks["audit_spool"] = f"{spooled} file(s) waiting for the database" if spooled else "empty"
    # Without the database the gateway still signs people in and issues credentials
    # (cached configuration, audit events spooled: docs/decisions/0010): degraded, not
    # unready, or a load balancer would take every replica out during a database outage.
    ready = checks["redis"] == "ok"
    status = "unavailable"
    if ready:
        status = "ready" if checks["database"] == "ok" else "degraded"
    return jsonify(status=status, checks=checks), 200 if ready else 503


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    """Prometheus exposition for every worker of this server."""
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)
