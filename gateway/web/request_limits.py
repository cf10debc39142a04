"""Bounds on what one request may make the gateway hold: body and header sizes.

Bodies: `MAX_CONTENT_LENGTH` (1 MiB, set in create_app) for every endpoint; endpoints
with less (the SAML ACS 256 KiB, `/api/v1/authorize` 512 KiB) check Content-Length
themselves, and chunked bodies are held to the same limits here. AssumeRoleWithSAML's
`SAMLAssertion` stops at 100,000 characters, as in AWS. Headers: gunicorn refuses a
request line over 4094 bytes and a header over 8190 bytes before the app sees it; here,
whatever server runs the app, more than `MAX_HEADERS` headers or `MAX_HEADER_BYTES` in
all is refused with 431 before any view runs. Every refusal is in the caller's protocol
(gateway.web.errors).
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from gateway.web import api_authorize, saml
from gateway.web.errors import error_response

# Browsers send about 20 headers and SigV4 clients fewer; servers stop at 100 (gunicorn,
# http.server) with an answer of their own, so the gateway's own shape needs a lower bound.
MAX_HEADERS = 64
# A SigV4 request's largest header is its session token (a few KB with a session policy
# and tags); 32 KiB leaves room for that and any proxy's additions.
MAX_HEADER_BYTES = 32 * 1024


_CGI_DUPLICATES = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"})
_CGI_HEADERS = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})

# Endpoints with a smaller body limit than MAX_CONTENT_LENGTH (they check Content-Length
# themselves; a chunked body is held to the same limit here).
SMALLER_LIMITS: Mapping[str, int] = {
    "saml.acs": saml.MAX_POST,
    "api_authorize.authorize_endpoint": api_authorize.MAX_REQUEST_BYTES,
}


def init(app: Flask) -> None:
    """Refuse oversized headers and chunked bodies before any view runs."""
    app.before_request(_check_headers)
    app.before_request(_check_chunked_body)


def _check_headers() -> Response | None:
    # Straight from the environ, the headers exactly as `request.headers` lists them
    # (HTTP_* but the two CGI duplicates, and a non-empty CONTENT_TYPE/CONTENT_LENGTH),
    # without building each name on every request: "HTTP_X_Y" is "X-Y" plus 5 characters.
    count = 0
    size = 0
    for key, value in request.environ.items():
        if key.startswith("HTTP_"):
            if key in _CGI_DUPLICATES:
                continue
            size += len(key) - 5
        elif key in _CGI_HEADERS and value:
            size += len(key)
        else:
            continue
        count += 1
        size += len(value) + 4  # ": " and CRLF, as on the wire
    if count <= MAX_HEADERS and size <= MAX_HEADER_BYTES:
        return None
    return error_response(
        431,
        "RequestHeaderFieldsTooLarge",
        f"The request carries {count} headers, {size} bytes in all; the limits are "
        f"{MAX_HEADERS} headers and {MAX_HEADER_BYTES} bytes.",
    )


def _check_chunked_body() -> None:
    """A chunked body over the limit is a 413, not silently cut at the limit.

    Without Content-Length, Werkzeug stops reading at `max_content_length` and hands the
    view the first bytes as if they were the whole body. Reading it here (cached for the
    view) tells the two apart: a body that fills the limit is refused.
    """
    # Straight from the environ (the properties parse on every request). Chunked wins over
    # a Content-Length given beside it, as in Werkzeug's `content_length`.
    if "chunked" not in request.environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return
    limit = SMALLER_LIMITS.get(request.endpoint or "", request.max_content_length)
    if limit is None:
        return
    request.max_content_length = limit
    if len(request.get_data(cache=True)) >= limit:
        raise RequestEntityTooLarge()
