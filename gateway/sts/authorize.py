"""The authorization API for resource servers, framework-free.

A resource server receives a request signed with this gateway's temporary credentials and
cannot check it (it never holds the secret), so it forwards the request as received and
asks: may this caller perform `action` on `resource`, given the resource's own policy?
`parse_authorize_request` turns the JSON document into an `AuthorizeRequest` (every
problem reported with its field), `authorize` verifies the signature and the session
exactly as the STS does, then evaluates role policies ∩ session policy, the resource
policy and the cross-account rule (`gateway.iam.evaluate.evaluate_resource`).

The hot path reads neither the database nor Redis: the keyring and configuration come
from the process's snapshot, revocations from the per-process cached set.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from gateway.iam import REASONS, Decision, is_account_id, parse_arn, parse_policy
from gateway.iam.context import Principal, RequestContext, format_time, session_keys
from gateway.iam.document import DEFAULT_MAX_CHARS, Policy
from gateway.iam.evaluate import evaluate_resource
from gateway.problems import Invalid, Problem
from gateway.state.revocations import Revocations
from gateway.store.snapshot import Snapshot
from gateway.sts import authz_message
from gateway.sts.authenticate import Caller, authenticate
from gateway.sts.caches import PER_SESSION
from gateway.sts.credentials import SessionClaims
from gateway.sts.errors import SignatureDoesNotMatch
from gateway.sts.keyring import Keyring
from gateway.sts.session import live_role, permissions
from gateway.sts.sigv4 import SignedRequest

# Limits on what a resource server may forward. A larger body belongs in `body_sha256`.
MAX_BODY_BYTES = 256 * 1024
MAX_HEADERS = 100
MAX_HEADER_VALUE = 16 * 1024
MAX_TARGET = 16 * 1024  # path and query, each
MAX_CONTEXT_KEYS = 50
MAX_CONTEXT_VALUES = 50
MAX_CONTEXT_VALUE_CHARS = 1024
MAX_ARN_CHARS = 2048
ENCODED_MESSAGE_CHARS = 10240  # what DecodeAuthorizationMessage accepts

_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_ACTION = re.compile(r"[A-Za-z0-9-]{1,64}:[A-Za-z0-9_.-]{1,128}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_CONTEXT_KEY = re.compile(r"[A-Za-z0-9._-]{1,64}:[A-Za-z0-9._/+=@:-]{1,128}")
_CONTROL = re.compile(r"[\x00-\x20\x7f#]")

FIELDS = frozenset(
    {"method", "path", "query", "headers", "body", "body_sha256", "service", "action",
     "resource", "resource_policy", "resource_account", "context"}
)
# Keys that describe the caller, the clock or the signature: the gateway sets them from
# the verified session; a resource server overriding them would be asking another question.
_RESERVED_KEYS = frozenset(
    {"aws:principalarn", "aws:principalaccount", "aws:principaltype", "aws:userid",
     "aws:username", "aws:tokenissuetime", "aws:sourceidentity", "aws:federatedprovider",
     "aws:multifactorauthpresent", "aws:multifactorauthage", "aws:principalorgid",
     "aws:principalisawsservice", "aws:currenttime", "aws:epochtime", "aws:requestedregion",
     "aws:resourceaccount"}
)
_RESERVED_PREFIXES = ("aws:principaltag/",)


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    """A forwarded signed request and the question a resource server asks about it."""

    signed: SignedRequest
    service: str
    action: str
    resource: str
    resource_policy: Policy | None = None
    resource_account: str | None = None
    context: Mapping[str, tuple[str, ...]] | None = None


class Authorized(NamedTuple):
    """The verified caller and the decision about its request."""

    caller: Caller
    decision: Decision

    @property
    def allowed(self) -> bool:
        return self.decision.allowed


# --- the JSON document ----------------------------------------------------------------


def parse_authorize_request(doc: Any) -> AuthorizeRequest:
    """The request a resource server sent; `Invalid` lists every problem with its field."""
    if not isinstance(doc, dict):
        raise Invalid([Problem("", "expected a JSON object")])
    problems: list[Problem] = []

    def report(path: str, message: str) -> None:
        problems.append(Problem(path, message))

    for name in sorted(set(doc) - FIELDS):
        report(name, "unknown field")
    method = _string(doc, "method", report, required=True, raw=True)
    if method is not None and not _METHOD.fullmatch(method):
        report("method", "expected an HTTP method such as GET or PUT")
    path = _string(doc, "path", report, required=True, limit=MAX_TARGET, raw=True)
    if path is not None and not (path.startswith("/") and not _CONTROL.search(path)
                                 and "?" not in path):
        report("path", "expected the raw request path as received: starting with '/', "
                       "without the query string, spaces or control characters")
    query = _string(doc, "query", report, limit=MAX_TARGET, raw=True) or ""
    if _CONTROL.search(query):
        report("query", "expected the raw query string as received (no '?', spaces or "
                        "control characters)")
    headers = _headers(doc.get("headers"), report)
    body, body_sha256 = _body(doc, headers, report)
    service = _string(doc, "service", report, required=True)
    if service is not None and not _SERVICE.fullmatch(service):
        report("service", "expected the SigV4 service name the client signed for, e.g. s3")
    action = _string(doc, "action", report, required=True)
    if action is not None and not _ACTION.fullmatch(action):
        report("action", "expected 'service:Action', e.g. s3:GetObject (no wildcards)")
    resource = _string(doc, "resource", report, required=True, limit=MAX_ARN_CHARS)
    if resource is not None and parse_arn(resource) is None:
        report("resource", "expected an ARN, e.g. arn:aws:s3:::bucket/key")
    resource_account = _string(doc, "resource_account", report)
    if resource_account is not None and not is_account_id(resource_account):
        report("resource_account", "expected a 12-digit account id")
    policy = _resource_policy(doc.get("resource_policy"), report)
    context = _context(doc.get("context"), report)
    if problems:
        raise Invalid(problems)
    assert method and path is not None and headers is not None
    assert service and action and resource
    return AuthorizeRequest(
        signed=SignedRequest(method, path, query, headers, body, body_sha256),
        service=service,
        action=action,
        resource=resource,
        resource_policy=policy,
        resource_account=resource_account,
        context=context,
    )


def _string(
    doc: Mapping[str, Any],
    name: str,
    report: Any,
    *,
    required: bool = False,
    limit: int = 256,
    raw: bool = False,
) -> str | None:
    value = doc.get(name)
    if value is None:
        if required:
            report(name, "required")
        return None
    if not isinstance(value, str):
        report(name, "expected a string")
        return None
    if len(value) > limit:
        report(name, f"at most {limit} characters, got {len(value)}")
        return None
    if not _encodable(value, raw=raw):
        report(name, _NOT_TEXT)
        return None
    return value


_NOT_TEXT = "contains an unpaired surrogate (not text, nor bytes escaped as U+DC80-U+DCFF)"


def _encodable(text: str, *, raw: bool = False) -> bool:
    """Whether `text` encodes to bytes: `raw` fields may carry received bytes as U+DCxx."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8", "surrogateescape" if raw else "strict")
    except UnicodeEncodeError:
        return False
    return True


def _headers(raw: Any, report: Any) -> list[tuple[str, str]] | None:
    if raw is None:
        report("headers", "required: every header as received, as [name, value] pairs")
        return None
    if not isinstance(raw, list):
        report("headers", "expected a list of [name, value] pairs")
        return None
    if len(raw) > MAX_HEADERS:
        report("headers", f"at most {MAX_HEADERS} headers, got {len(raw)}")
        return None
    out: list[tuple[str, str]] = []
    for index, pair in enumerate(raw):
        where = f"headers[{index}]"
        if not (isinstance(pair, list) and len(pair) == 2
                and isinstance(pair[0], str) and isinstance(pair[1], str)):
            report(where, "expected a [name, value] pair of strings")
            continue
        name, value = pair
        if not _HEADER_NAME.fullmatch(name):
            report(f"{where}[0]", "not a valid header name")
        elif len(value) > MAX_HEADER_VALUE:
            report(f"{where}[1]", f"at most {MAX_HEADER_VALUE} characters")
        elif not _encodable(value, raw=True):
            report(f"{where}[1]", _NOT_TEXT)
        else:
            out.append((name, value))
    return out


def _body(
    doc: Mapping[str, Any], headers: list[tuple[str, str]] | None, report: Any
) -> tuple[bytes, str | None]:
    body = doc.get("body")
    digest = doc.get("body_sha256")
    if body is not None and digest is not None:
        report("body_sha256", "give either body or body_sha256, not both")
        return b"", None
    if body is not None:
        if not isinstance(body, str):
            report("body", "expected the body as standard base64")
            return b"", None
        if len(body) > (MAX_BODY_BYTES * 4) // 3 + 4:
            report("body", f"the forwarded body is over {MAX_BODY_BYTES} bytes; forward "
                           "body_sha256 instead (the client must sign x-amz-content-sha256)")
            return b"", None
        try:
            return base64.b64decode(body, validate=True), None
        except (binascii.Error, ValueError):
            report("body", "not valid standard base64")
            return b"", None
    if digest is None:
        return b"", None  # no body, as for GET
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        report("body_sha256", "expected the hex SHA-256 of the body (64 characters)")
        return b"", None
    if headers is not None and not any(n.lower() == "x-amz-content-sha256" for n, _ in headers):
        report("body_sha256", "body_sha256 needs the client to have signed an "
                              "x-amz-content-sha256 header; forward the body itself instead")
    return b"", digest.lower()


@lru_cache(maxsize=1024)
def _compiled_resource_policy(text: str) -> Policy:
    """A resource policy, compiled once per process: servers send the same one again."""
    policy: Policy = parse_policy(text, kind="resource", path="resource_policy")
    return policy.named("resource policy")


def _resource_policy(raw: Any, report: Any) -> Policy | None:
    if raw is None:
        return None
    if isinstance(raw, dict):
        try:
            text = json.dumps(raw, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            report("resource_policy", "not representable as JSON")
            return None
    elif isinstance(raw, str):
        text = raw
    else:
        report("resource_policy", "expected a policy document (a JSON object or its text)")
        return None
    if not _encodable(text):
        report("resource_policy", _NOT_TEXT)
        return None
    if len(text) > 4 * DEFAULT_MAX_CHARS["resource"]:
        report("resource_policy", f"policy is {len(text)} characters; the limit is "
                                  f"{DEFAULT_MAX_CHARS['resource']} without whitespace")
        return None
    try:
        return _compiled_resource_policy(text)
    except Invalid as exc:
        for problem in exc.problems:
            report(problem.path or "resource_policy", problem.message)
        return None


def _context(raw: Any, report: Any) -> dict[str, tuple[str, ...]] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        report("context", "expected an object of condition keys")
        return None
    if len(raw) > MAX_CONTEXT_KEYS:
        report("context", f"at most {MAX_CONTEXT_KEYS} keys, got {len(raw)}")
        return None
    out: dict[str, tuple[str, ...]] = {}
    for key, value in raw.items():
        where = f"context.{key}"
        lowered = key.lower()
        if not _CONTEXT_KEY.fullmatch(key):
            report(where, "not a condition key (expected 'prefix:name')")
            continue
        if lowered in _RESERVED_KEYS or lowered.startswith(_RESERVED_PREFIXES):
            report(where, "set by the gateway from the verified session, the signature or "
                          "resource_account; it cannot be supplied")
            continue
        values = value if isinstance(value, list) else [value]
        if len(values) > MAX_CONTEXT_VALUES:
            report(where, f"at most {MAX_CONTEXT_VALUES} values")
            continue
        strings: list[str] = []
        for item in values:
            text = _context_value(item)
            if text is None:
                report(where, "expected a string, number or boolean, or a list of them")
                break
            if not _encodable(text):
                report(where, _NOT_TEXT)
                break
            if len(text) > MAX_CONTEXT_VALUE_CHARS:
                report(where, f"values are at most {MAX_CONTEXT_VALUE_CHARS} characters")
                break
            strings.append(text)
        else:
            out[key] = tuple(strings)
    return out


def _context_value(item: Any) -> str | None:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, str):
        return item
    if isinstance(item, int | float) and item == item and abs(item) != float("inf"):
        return str(item)
    return None


# --- the decision ---------------------------------------------------------------------


def authorize(
    req: AuthorizeRequest,
    *,
    keyring: Keyring,
    snapshot: Snapshot,
    revocations: Revocations,
    now: datetime,
) -> Authorized:
    """Verify the forwarded request and decide; raises the `StsError` AWS would answer with.

    Also raises `RevocationStateUnknown` when the revocation list cannot be trusted.
    """
    caller = verify(req, keyring=keyring, now=now)
    return Authorized(caller, decide(caller, req, snapshot=snapshot, revocations=revocations,
                                     now=now))


def verify(req: AuthorizeRequest, *, keyring: Keyring, now: datetime) -> Caller:
    """The signature, the session token and its expiry, as the STS checks them."""
    signed = req.signed
    if signed.body_sha256 is not None:
        claimed = next(
            (v for n, v in signed.headers if n.lower() == "x-amz-content-sha256"), None
        )
        if claimed is None or claimed.strip().lower() != signed.body_sha256:
            raise SignatureDoesNotMatch(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                detail="body_sha256 differs from the signed x-amz-content-sha256",
            )
    return authenticate(signed, keyring, service=req.service, now=now)


def decide(
    caller: Caller,
    req: AuthorizeRequest,
    *,
    snapshot: Snapshot,
    revocations: Revocations,
    now: datetime,
) -> Decision:
    """Revocation and role liveness (raising), then the policy decision for a verified caller."""
    role = live_role(caller.access_key_id, caller.claims, snapshot, revocations)
    return evaluate_resource(
        permissions(caller.claims, role), req.resource_policy, request_context(caller, req, now),
        resource_account=req.resource_account,
    )


@lru_cache(maxsize=PER_SESSION)
def _session_keys(claims: SessionClaims) -> Mapping[str, tuple[str, ...]]:
    """The caller's own condition keys, built once per session (claims are immutable)."""
    return session_keys(
        session_arn=claims.arn,
        role_arn=claims.role_arn,
        role_id=claims.role_id,
        token_issue_time=claims.issue_time,
        principal_tags=dict(claims.tags),
        source_identity=claims.source_identity,
        federated_provider=claims.provider,
        mfa_present=claims.mfa,
    )


@lru_cache(maxsize=PER_SESSION)
def _principal(claims: SessionClaims) -> Principal:
    """The caller as policies see it; `claims.arn` is rebuilt on every access, so cached."""
    return Principal.aws(claims.arn)


def request_context(caller: Caller, req: AuthorizeRequest, now: datetime) -> RequestContext:
    """The condition keys of the forwarded request.

    `aws:SecureTransport` is false and `aws:SourceIp` absent unless the resource server
    says otherwise in `context`: only it saw the client's connection, and a policy that
    denies insecure transport must not be satisfied by silence.
    """
    keys: dict[str, tuple[str, ...]] = {"aws:securetransport": ("false",)}
    keys.update(_session_keys(caller.claims))
    keys["aws:requestedregion"] = (caller.request.region,)
    if req.resource_account is not None:
        keys["aws:resourceaccount"] = (req.resource_account,)
    if req.context:
        for key, values in req.context.items():  # the server's values replace defaults
            if values:
                keys[key.lower()] = values
            else:
                keys.pop(key.lower(), None)  # an empty list means absent, as in IAM
    return RequestContext.from_normalized(
        req.action, req.resource, _principal(caller.claims), keys, now
    )


# --- the answer -----------------------------------------------------------------------


def principal_of(claims: SessionClaims) -> dict[str, Any]:
    """Who signed the request, as the API reports it."""
    return dict(_principal_fields(claims))


@lru_cache(maxsize=PER_SESSION)
def _principal_fields(claims: SessionClaims) -> Mapping[str, Any]:
    return {
        "arn": claims.arn,
        "account": claims.account,
        "user_id": claims.user_id,
        "role_arn": claims.role_arn,
        "session_name": claims.session_name,
        "source_identity": claims.source_identity,
        "tags": dict(claims.tags),
        "expiration": format_time(claims.expiration),
    }


def explanation(reason: str) -> dict[str, str]:
    """What the resource server may see of a decision: the reason, never the caller's policies.

    The caller's role policies belong to the caller's account, often not the resource
    owner's; the full decision travels only in the encoded message, which principals
    allowed `sts:DecodeAuthorizationMessage` can read.
    """
    return {"reason": reason, "summary": REASONS[reason]}


def encoded_message(
    keyring: Keyring, authorized: Authorized, req: AuthorizeRequest, request_id: str
) -> str:
    """The sealed full decision (`sts:DecodeAuthorizationMessage` reads it back)."""
    decision = authorized.decision
    claims = authorized.caller.claims
    message: dict[str, Any] = {
        "allowed": decision.allowed,
        "explicitDeny": decision.reason == "explicit_deny",
        "decision": decision.to_dict(),
        "explanation": decision.explain(),
        "context": {
            "principal": {"id": claims.user_id, "arn": claims.arn},
            "action": req.action,
            "resource": req.resource,
            "resource_account": req.resource_account,
            "conditions": {k: list(v) for k, v in (req.context or {}).items()},
        },
        "request_id": request_id,
    }
    encoded = authz_message.encode(keyring, message)
    if len(encoded) <= ENCODED_MESSAGE_CHARS:
        return encoded
    # Too large to decode: keep the verdict and the rule, drop the evidence lists.
    message["decision"] = {
        k: v for k, v in decision.to_dict().items()
        if k not in ("matched_statements", "failed_conditions", "parts")
    }
    message["explanation"] = decision.rule
    message["context"]["conditions"] = {}
    message["truncated"] = True
    return authz_message.encode(keyring, message)
