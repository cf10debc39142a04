"""The STS Query API at `/sts` (and `POST /`), as boto3 and the AWS CLI speak it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Request, Response, g, request

from gateway.runtime import Runtime, runtime
from gateway.state.revocations import RevocationStateUnknown
from gateway.sts import federated
from gateway.sts.actions import Env, handle_signed, refusal_subject
from gateway.sts.authenticate import Caller, authenticate
from gateway.sts.errors import ServiceUnavailable, StsError
from gateway.sts.issue import Origin, refuse
from gateway.sts.params import (
    AssumeRoleWithSAMLRequest,
    AssumeRoleWithWebIdentityRequest,
    parse_request,
)
from gateway.sts.protocol import (
    HttpResponse,
    StsResult,
    merge_params,
    render_error,
    render_result,
    wants_json,
)
from gateway.sts.sigv4 import SignedRequest, from_wsgi
from gateway.web import ratelimit
from gateway.web.sts_form import sts_pairs

bp = Blueprint("sts", __name__)


def signed_request(req: Request) -> SignedRequest:
    """The request exactly as the client signed it, even behind a path-prefixing proxy."""
    environ = req.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or req.full_path
    path = from_wsgi(raw.split("?", 1)[0])
    prefix = environ.get("SCRIPT_NAME", "")
    if prefix and not path.startswith(prefix + "/"):
        path = prefix + path  # the proxy stripped the prefix the client signed
    headers = _headers(environ)
    if "werkzeug.proxy_fix.orig" in environ and environ.get("HTTP_X_FORWARDED_PORT"):
        # ProxyFix appended X-Forwarded-Port to the host; SDKs sign the host as addressed,
        # without the scheme's default port (an ALB sends X-Forwarded-Port: 443 always).
        default = ":443" if environ.get("wsgi.url_scheme") == "https" else ":80"
        headers = [
            (n, v.removesuffix(default) if n.lower() == "host" else v) for n, v in headers
        ]
    return SignedRequest(
        method=req.method,
        path=path,
        query=from_wsgi(environ.get("QUERY_STRING", "")),
        headers=headers,
        body=req.get_data(cache=True),
    )


_CGI_HEADERS = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})
_CGI_DUPLICATES = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"})


def _headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """The headers as Werkzeug's EnvironHeaders lists them (same names, same order),
    in one pass over the environ without its general-purpose machinery."""
    out = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key not in _CGI_DUPLICATES:
                out.append((key[5:].replace("_", "-").title(), from_wsgi(value)))
        elif key in _CGI_HEADERS and value:
            out.append((key.replace("_", "-").title(), from_wsgi(value)))
    return out


def _env(rt: Runtime, now: datetime) -> Env:
    loaded = rt.config.current()
    req = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup
    environ = req.environ
    return Env(
        engine=rt.engine,
        snapshot=loaded.snapshot,
        keyring=loaded.keyring,
        revocations=rt.revocations,
        now=now,
        origin=Origin(g.request_id, req.remote_addr, environ.get("HTTP_USER_AGENT")),
        secure=req.is_secure,
    )


@bp.route("/sts", methods=["GET", "POST"])
@bp.route("/", methods=["POST"], endpoint="endpoint_root")
def endpoint() -> Response:
    """Every STS action; errors in AWS's envelope, each refusal audited first."""
    rt = runtime()
    as_json = wants_json(request.headers.get("Accept"))
    now = datetime.now(UTC)
    env = _env(rt, now)
    action = "unknown"
    caller: Caller | None = None
    try:
        params = merge_params(sts_pairs())
        action = params.get("Action") or "unknown"
        sts_request = parse_request(params)
        result: StsResult
        if isinstance(sts_request, AssumeRoleWithWebIdentityRequest | AssumeRoleWithSAMLRequest):
            result = federated.handle(sts_request, env)
        else:
            caller = authenticate(
                signed_request(request), env.keyring, service="sts", now=now
            )
            ratelimit.count_subject(ratelimit.SIGNED, ratelimit.signed_subject(caller.claims))
            result = handle_signed(sts_request, caller, env)
        out = render_result(result, request_id=g.request_id, as_json=as_json)
    except RevocationStateUnknown as exc:
        error: StsError = ServiceUnavailable(detail=f"revocation list unavailable: {exc}")
        out = _refused(rt, error, action, env, caller, as_json)
    except StsError as exc:
        out = _refused(rt, exc, action, env, caller, as_json)
    return Response(out.body, status=out.status, headers=list(out.headers))


def _refused(
    rt: Runtime, error: StsError, action: str, env: Env, caller: Caller | None, as_json: bool
) -> HttpResponse:
    principal_arn, access_key_id = refusal_subject(caller)
    refuse(rt.engine, error, action=action, origin=env.origin,
           principal_arn=principal_arn, access_key_id=access_key_id)
    return render_error(error, request_id=g.request_id, as_json=as_json)
