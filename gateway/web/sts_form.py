"""The STS request's parameters, decoded once per request.

The rate-limit guard needs the Action before the view runs, the view needs every
parameter, and a throttling refusal names the Action in its audit event: without this
each of them decoded the (token-sized) form body again.
"""

from __future__ import annotations

from flask import request

from gateway.sts.protocol import decode_form

_FORM = "application/x-www-form-urlencoded"
_ENVIRON_KEY = "gateway.sts_pairs"


def sts_pairs() -> list[tuple[str, str]]:
    """Query-string pairs, then form-body pairs; raises the STS MalformedQueryString."""
    environ = request.environ
    found: list[tuple[str, str]] | None = environ.get(_ENVIRON_KEY)
    if found is None:
        # The raw query (WSGI strings are Latin-1 read bytes, as request.query_string has
        # them) and the media type straight from the environ: the properties re-parse.
        query = environ.get("QUERY_STRING", "")
        found = decode_form(query.encode("latin-1")) if query else []
        media = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if media == _FORM:
            found = found + decode_form(request.get_data(cache=True))
        environ[_ENVIRON_KEY] = found
    return found
