"""`POST /api/v1/token`: RFC 8693 token exchange of a provider token for role credentials.

The subject token is validated exactly as for AssumeRoleWithWebIdentity. The role is
the `audience` or `resource` when given (a role ARN); otherwise the provider's
mapping rules choose, and more than one allowed role is an `invalid_target` error
that lists them. Credentials come back in the `credential_process` shape next to the
RFC 8693 fields. Errors are RFC 6749 JSON. Browsers may call it from the origins the
providers list in their `cors_origins` option.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from gateway.identity import FederatedIdentity
from gateway.roles import eligible_roles
from gateway.runtime import Runtime, runtime
from gateway.sources import web_identity
from gateway.store import names
from gateway.store.snapshot import IdentityProvider, Snapshot
from gateway.sts.actions import Env
from gateway.sts.errors import (
    AccessDenied,
    ExpiredTokenException,
    IDPCommunicationError,
    IDPRejectedClaim,
    InvalidIdentityToken,
    ServiceUnavailable,
    StsError,
    Throttling,
)
from gateway.sts.federated import Issued, assume_for_identity
from gateway.sts.issue import Origin, refuse
from gateway.sts.protocol import decode_form

bp = Blueprint("token_exchange", __name__)

PATH = "/api/v1/token"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
TOKEN_TYPES: Mapping[str, str] = {
    "urn:ietf:params:oauth:token-type:id_token": "jwt",
    "urn:ietf:params:oauth:token-type:jwt": "jwt",
    "urn:ietf:params:oauth:token-type:access_token": "access_token",
}
# What this endpoint issues: AWS temporary credentials (not an OAuth access token, so
# token_type is "N_A" as RFC 8693 §2.2.1 prescribes).
ISSUED_TOKEN_TYPE = "urn:federation-gateway:token-type:aws-credentials"  # noqa: S105
CORS_OPTION = "cors_origins"
ACTION = "TokenExchange"
_SINGLE = ("grant_type", "subject_token", "subject_token_type", "audience", "resource",
           "duration_seconds", "provider_id", "role_session_name", "actor_token",
           "requested_token_type", "scope")
_SINGLE_SET = frozenset(_SINGLE)


_SESSION_NAME = re.compile(r"[\w+=,.@-]+", re.ASCII)


class ExchangeError(Exception):
    """An RFC 6749 error: `error` code, description, HTTP status, extra members."""

    def __init__(self, error: str, description: str, status: int = 400, *,
                 extra: Mapping[str, Any] | None = None, cause: StsError | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.extra = dict(extra or {})
        self.cause = cause


def allowed_origins(snapshot: Snapshot) -> frozenset[str]:
    """Every origin some provider lets browsers exchange its tokens from."""
    last = _origins_memo
    if last is not None and last[0] is snapshot:
        return last[1]
    origins: set[str] = set()
    for provider in snapshot.providers_by_name.values():
        value = provider.options.get(CORS_OPTION)
        if isinstance(value, tuple):
            origins.update(o.rstrip("/") for o in value)
    found = frozenset(origins)
    _remember_origins(snapshot, found)
    return found


# The last snapshot's origins: snapshots are immutable and replaced whole on reload, so
# identity is a complete key, and every exchange would otherwise walk every provider.
_origins_memo: tuple[Snapshot, frozenset[str]] | None = None


def _remember_origins(snapshot: Snapshot, origins: frozenset[str]) -> None:
    global _origins_memo
    _origins_memo = (snapshot, origins)


def _cors(response: Response, origin: str | None, allowed: frozenset[str]) -> Response:
    response.headers["Vary"] = "Origin"
    if origin and origin in allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route(PATH, methods=["OPTIONS"])
def preflight() -> Response:
    """CORS preflight: allowed origins may POST a form."""
    origin = request.headers.get("Origin")
    allowed = allowed_origins(runtime().snapshot)
    response = Response(status=204)
    if origin and origin in allowed:
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return _cors(response, origin, allowed)


@bp.post(PATH)
def exchange() -> Response:
    """Validate the subject token, pick the role, mint and return credentials."""
    rt = runtime()
    now = datetime.now(UTC)
    loaded = rt.config.current()
    snapshot = loaded.snapshot
    origin_header = request.headers.get("Origin")
    allowed = allowed_origins(snapshot)
    origin = Origin(g.request_id, request.remote_addr, request.headers.get("User-Agent"))
    env = Env(engine=rt.engine, snapshot=snapshot, keyring=loaded.keyring,
              revocations=rt.revocations, now=now, origin=origin, secure=request.is_secure)
    identity: FederatedIdentity | None = None
    try:
        if origin_header and origin_header not in allowed:
            raise ExchangeError("invalid_request", "This origin may not call the token "
                                "endpoint; an administrator can allow it per provider.", 403)
        # The address and subject are counted together once the token is validated
        # (gateway.web.ratelimit); an address already over is refused before this view.
        params = _params()
        identity, provider = _subject(params, snapshot, now)
        role_arn = _role(params, identity, snapshot, now)
        issued = assume_for_identity(
            identity, provider, role_arn, env,
            session_name=_session_name(params, identity),
            duration=_duration(params),
        )
        response = jsonify(_body(issued, identity, now))
    except ExchangeError as exc:
        response = _error(rt, origin, exc, identity)
    except StsError as exc:
        response = _error(rt, origin, _from_sts(exc), identity)
    return _cors(response, origin_header, allowed)


def _params() -> Mapping[str, str]:
    if request.mimetype != "application/x-www-form-urlencoded":
        raise ExchangeError("invalid_request",
                            "Send the parameters as application/x-www-form-urlencoded.")
    if request.args:
        raise ExchangeError("invalid_request", "Parameters belong in the body, not the URL.")
    # The STS decoder (strict UTF-8, bounded field count) rather than `request.form`,
    # whose general multipart-capable parser cost about as much as the RS256 check.
    params: dict[str, str] = {}
    for name, value in decode_form(request.get_data(cache=True)):
        if name in _SINGLE_SET:
            if name in params:
                raise ExchangeError("invalid_request", f"{name} is given more than once.")
            params[name] = value
    if params.get("grant_type") != GRANT_TYPE:
        raise ExchangeError("unsupported_grant_type", f"grant_type must be {GRANT_TYPE}.")
    if "actor_token" in params:
        raise ExchangeError("invalid_request", "Delegation (actor_token) is not supported.")
    if not params.get("subject_token"):
        raise ExchangeError("invalid_request", "subject_token is required.")
    if params.get("subject_token_type") not in TOKEN_TYPES:
        raise ExchangeError("invalid_request", "subject_token_type must be one of "
                            + ", ".join(TOKEN_TYPES) + ".")
    return params


def _subject(params: Mapping[str, str], snapshot: Snapshot,
             now: datetime) -> tuple[FederatedIdentity, IdentityProvider]:
    shape = TOKEN_TYPES[params["subject_token_type"]]
    provider_id = params.get("provider_id") or None
    if shape == "access_token" and provider_id is None:
        provider_id = _only_opaque_provider(snapshot)
    if shape == "jwt" and provider_id is not None:
        raise ExchangeError("invalid_request", "provider_id is for access tokens only.")
    return web_identity.identity_from_token(
        params["subject_token"], snapshot, provider_id=provider_id, now=now,
        limit_scope="token",
    )


def _only_opaque_provider(snapshot: Snapshot) -> str:
    kinds = {p.kind for p in snapshot.providers_by_name.values()} & {"facebook", "amazon"}
    if len(kinds) != 1:
        raise ExchangeError("invalid_request", "Name the access token's provider with "
                            "provider_id (graph.facebook.com or www.amazon.com).")
    return names.SOCIAL_PRINCIPALS[kinds.pop()]


def _role(params: Mapping[str, str], identity: FederatedIdentity, snapshot: Snapshot,
          now: datetime) -> str:
    named = {v for v in (params.get("audience"), params.get("resource")) if v}
    if len(named) > 1:
        raise ExchangeError("invalid_request", "audience and resource name different roles.")
    if named:
        arn = named.pop()
        if names.parse_role_arn(arn) is None:
            raise ExchangeError("invalid_target", "audience/resource must be a role ARN.")
        return arn
    eligibility = eligible_roles(identity, snapshot, now)
    roles = eligibility.roles
    if not roles:
        raise ExchangeError("invalid_target", eligibility.why_none())
    if len(roles) > 1:
        arns = sorted(r.arn for r in roles)
        raise ExchangeError("invalid_target", "You may take more than one role; name one "
                            "as audience.", extra={"allowed_roles": arns})
    return roles[0].arn


def _session_name(params: Mapping[str, str], identity: FederatedIdentity) -> str:
    name = params.get("role_session_name") or identity.session_name or "federated-user"
    if not 2 <= len(name) <= 64 or _SESSION_NAME.fullmatch(name) is None:
        raise ExchangeError("invalid_request", "role_session_name must be 2-64 of [\\w+=,.@-].")
    return name


def _duration(params: Mapping[str, str]) -> int | None:
    raw = params.get("duration_seconds")
    if raw is None:
        return None
    if not raw.isdigit() or not 900 <= int(raw) <= 43200:
        raise ExchangeError("invalid_request", "duration_seconds must be 900 to 43200.")
    return int(raw)


def _body(issued: Issued, identity: FederatedIdentity, now: datetime) -> dict[str, Any]:
    c = issued.credentials
    expiration = datetime.fromtimestamp(issued.claims.expires_at, UTC)
    return {
        "access_token": c.session_token,
        "issued_token_type": ISSUED_TOKEN_TYPE,
        "token_type": "N_A",
        "expires_in": max(0, int((expiration - now).total_seconds())),
        "credentials": {
            "Version": 1,
            "AccessKeyId": c.access_key_id,
            "SecretAccessKey": c.secret_access_key,
            "SessionToken": c.session_token,
            "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "role_arn": issued.role.arn,
        "assumed_role_user": {"arn": issued.claims.arn, "assumed_role_id": issued.claims.user_id},
        "subject": identity.subject,
        "provider": identity.issuer,
    }


def _from_sts(error: StsError) -> ExchangeError:
    if isinstance(error, InvalidIdentityToken | ExpiredTokenException | IDPRejectedClaim):
        return ExchangeError("invalid_grant", error.message, cause=error)
    if isinstance(error, IDPCommunicationError | ServiceUnavailable):
        return ExchangeError("temporarily_unavailable", error.message, 503, cause=error)
    if isinstance(error, AccessDenied):
        return ExchangeError("invalid_target", "The role's trust policy does not allow this "
                             "identity to assume it.", cause=error)
    if isinstance(error, Throttling):
        return ExchangeError("slow_down", "Too many token exchanges; retry later.", 429,
                             cause=error)
    return ExchangeError("invalid_request", error.message, cause=error)


def _error(rt: Runtime, origin: Origin, error: ExchangeError,
           identity: FederatedIdentity | None) -> Response:
    cause = error.cause or AccessDenied(error.description)
    refuse(rt.engine, cause, action=ACTION, origin=origin,
           provider=identity.issuer if identity else None,
           subject=identity.subject if identity else None,
           detail={"error": error.error, "description": error.description})
    response = jsonify(error=error.error, error_description=error.description, **error.extra)
    response.status_code = error.status
    return response
