"""Errors mapped once to the shape the caller speaks: HTML page, JSON problem or STS XML.

No handler ever shows a stack trace; unexpected exceptions are logged with the
request id and answered with a 500 that names only that id.
"""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, g, jsonify, render_template, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError

from gateway import metrics
from gateway.sts.errors import StsError
from gateway.sts.protocol import render_error, wants_json

log = logging.getLogger(__name__)


def wants(path: str) -> str:
    """Which error shape the endpoint at `path` speaks."""
    if path.startswith("/api/"):
        return "json"
    if path.startswith("/sts") or (path == "/" and request.method == "POST"):
        return "sts"
    return "html"


def error_response(status: int, code: str, message: str) -> Response:
    """One error, in the caller's protocol."""
    shape = wants(request.path)
    request_id = g.get("request_id", "")
    if shape == "json":
        resp = jsonify(
            type="about:blank", title=code, status=status, detail=message, request_id=request_id
        )
        resp.status_code = status
        resp.mimetype = "application/problem+json"
        return resp
    if shape == "sts":
        error_type = type(code, (StsError,), {"code": code, "status": status})
        out = render_error(
            error_type(message), request_id=request_id,
            as_json=wants_json(request.headers.get("Accept")),
        )
        return Response(out.body, status=out.status, headers=list(out.headers))
    html = render_template(
        "error.html", status=status, code=code, message=message, request_id=request_id
    )
    return Response(html, status=status, mimetype="text/html")


def _unavailable(what: str) -> Response:
    return error_response(
        503,
        "ServiceUnavailable",
        f"The gateway's {what} is unavailable right now. Please try again in a moment.",
    )


def register(app: Flask) -> None:
    """Install the app-wide handlers."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code and exc.code >= 500 and isinstance(exc, InternalServerError):
            original = exc.original_exception
            if isinstance(original, redis.RedisError):
                return redis_error(original)
            if isinstance(original, SQLAlchemyError):
                return database_error(original)
        code = (exc.name or "Error").replace(" ", "")
        return error_response(exc.code or 500, code, exc.description or "")

    @app.errorhandler(redis.RedisError)
    def redis_error(exc: redis.RedisError) -> Response:
        metrics.REDIS_ERRORS.inc()
        log.warning("Redis unavailable: %s", exc)
        return _unavailable("session store")

    @app.errorhandler(SQLAlchemyError)
    def database_error(exc: SQLAlchemyError) -> Response:
        log.warning("database unavailable: %s", exc)
        return _unavailable("database")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(
            500, "InternalFailure",
            "Something went wrong on our side. Quote the request id to the operators.",
        )
