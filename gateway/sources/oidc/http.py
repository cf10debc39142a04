"""Outbound HTTP to identity providers: every call has a timeout and a size cap.

Anything that is not an answer from the provider (refused connection, timeout, a 5xx,
a body that is not JSON) becomes `IDPCommunicationError`, which AWS documents as
retryable; answers with an error status are returned for the caller to interpret.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.sources import outbound
from gateway.sts.errors import IDPCommunicationError

MAX_BODY = 1024 * 1024
USER_AGENT = "federation-gateway/0.1"

if TYPE_CHECKING:
    import requests


def session() -> requests.Session:
    """A session for one call, on the process's shared connection pool (`pool`)."""
    import requests

    from gateway.sources.oidc import pool

    current = pool.pooled(requests.Session())
    current.headers["User-Agent"] = USER_AGENT
    return current


@dataclass(frozen=True, slots=True)
class Reply:
    """A provider's answer: status, parsed JSON body (an object) and headers."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def call(
    method: str,
    url: str,
    *,
    what: str,
    params: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> Reply:
    """One request expecting a JSON object back; `what` names the provider in errors.

    The whole call, connection to last byte, ends within GATEWAY_IDP_TIMEOUT seconds.
    """
    import requests
    import urllib3

    from gateway.sources.oidc import pool

    timeout = outbound.TIMEOUT
    deadline = time.monotonic() + timeout

    def fetch() -> tuple[requests.Response, bytes]:
        response = session().request(
            method, url, params=params, data=data, headers=dict(headers or {}), auth=auth,
            timeout=timeout, allow_redirects=False, stream=True,
        )
        complete = False
        try:
            raw = outbound.read_capped(
                lambda n: response.raw.read1(n, decode_content=True), MAX_BODY, deadline
            )
            complete = len(raw) <= MAX_BODY  # read to its end, not cut at the cap
            return response, raw
        finally:
            pool.finish(response, complete)

    try:
        response, raw = outbound.within(fetch, timeout)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        # OSError includes TimeoutError (the deadline); urllib3's errors come from the body.
        raise IDPCommunicationError(
            f"{what}: the identity provider could not be reached",
            detail=f"{method} {url}: {type(exc).__name__}",
        ) from None
    if len(raw) > MAX_BODY:
        raise IDPCommunicationError(f"{what}: the identity provider's answer is too large")
    if response.status_code >= 500:
        raise IDPCommunicationError(
            f"{what}: {what} responded with HTTP {response.status_code}",
            detail=f"{method} {url}",
        )
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise IDPCommunicationError(
            f"{what}: the identity provider's answer is not a JSON object",
            detail=f"{method} {url} → HTTP {response.status_code}",
        )
    return Reply(response.status_code, body, dict(response.headers))


def get_json(url: str, *, what: str, **kwargs: Any) -> Reply:
    """`call("GET", …)`."""
    return call("GET", url, what=what, **kwargs)


def max_age(headers: Mapping[str, str], default: float, low: float, high: float) -> float:
    """Seconds a response may be cached per Cache-Control, clamped to [low, high]."""
    value = default
    for part in headers.get("Cache-Control", "").split(","):
        name, _, arg = part.strip().partition("=")
        if name.lower() in ("no-store", "no-cache"):
            value = low
        elif name.lower() == "max-age" and arg.strip().isdigit():
            value = float(arg.strip())
    return min(max(value, low), high)
