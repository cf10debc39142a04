"""Server-side AWS Signature Version 4 verification, framework-free.

Both forms: the `Authorization: AWS4-HMAC-SHA256 …` header and the presigned
query (`X-Amz-Algorithm`, `X-Amz-Credential`, …). The canonical request follows
the SigV4 specification as the public AWS test suite pins it down (non-S3 rules:
dot segments and repeated slashes removed from the path, then every byte outside
the unreserved set percent-encoded, `%` included). No library verifies SigV4 on
the server side, hence this module; botocore is what the tests sign with.

The steps are public so a caller can put its own checks between them (the
credential layer opens the session token before the secret is known):
`parse_request` → `check_scope` → (find the secret) → `verify_signature`.
`verify` runs them all with a `secret_for` lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import NamedTuple, Protocol, cast
from urllib.parse import quote, unquote, unquote_to_bytes

from gateway.sts.caches import PER_SESSION
from gateway.sts.errors import (
    IncompleteSignature,
    InvalidClientTokenId,
    MissingAuthenticationToken,
    SignatureDoesNotMatch,
)
from gateway.sts.hmac256 import HmacSha256, hmac_sha256

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 604800  # seven days, the SDKs' and S3's limit
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_AUTH_FIELDS = ("Credential", "SignedHeaders", "Signature")
_QUERY_AUTH = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
_TOKEN_PARAM = "X-Amz-Security-Token"  # noqa: S105 (a parameter name)
# Headers whose repetition would let two parties read one request differently.
_SINGLE_HEADERS = (
    "authorization",
    "host",
    "date",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
)
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_EXPIRES = re.compile(r"-?[0-9]{1,12}")
# What every SDK writes; anything else takes the general parser and its error messages.
_USUAL_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^,= ]+), ?SignedHeaders=([^,= ]+), ?Signature=([^,= ]+)"
)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
_REGION = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
_PLAIN_PATH = re.compile(r"/|(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._~-]+)+/?")
_BASIC = "%Y%m%dT%H%M%SZ"
_AUTH_BOTH = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
    "Signature query string parameter or the Authorization header should be specified"
)


# --- inputs and outputs ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """An HTTP request as received.

    `path` is the raw request-target path as sent (still percent-encoded), `query` the
    raw query string without `?`, `headers` every (name, value) pair in arrival order
    with duplicates kept. Strings are the received bytes read as UTF-8 with surrogate
    escapes (`from_wsgi` converts WSGI's Latin-1 strings), so they encode back exactly.
    `body_sha256` (lower-case hex) stands in for a body that was not forwarded, as the
    authorization API allows; it must still equal a signed `x-amz-content-sha256`.
    """

    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]
    body: bytes = b""
    body_sha256: str | None = None


class AuthorizationHeader(NamedTuple):
    """The three fields of an `AWS4-HMAC-SHA256` Authorization header, as written."""

    credential: str
    signed_headers: str
    signature: str


class CredentialScope(NamedTuple):
    """`<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request`."""

    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str

    @property
    def scope(self) -> str:
        """The scope line of the string to sign (without the access key id)."""
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


class SignatureParts(NamedTuple):
    """What `parse_request` read from a request: everything needed to check its signature."""

    credential: CredentialScope
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str  # YYYYMMDDTHHMMSSZ, the string-to-sign's date line
    request_time: datetime
    presigned: bool
    expires: int | None  # X-Amz-Expires of a presigned request
    security_token: str | None
    headers: Mapping[str, Sequence[str]]  # by lower-case name
    query: tuple[tuple[str, str], ...]  # raw (name, value) pairs

    @property
    def access_key_id(self) -> str:
        return self.credential.access_key_id


class VerifiedRequest(NamedTuple):
    """A request whose signature checked out."""

    access_key_id: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    presigned: bool
    request_time: datetime
    security_token: str | None
    expires: int | None


class SecretSource(Protocol):
    def secret_for(self, access_key_id: str) -> str | None: ...


SecretLookup = Callable[[str], str | None] | SecretSource


# --- the whole check ------------------------------------------------------------------


def verify(
    req: SignedRequest,
    *,
    service: str,
    now: datetime,
    secret_for: SecretLookup,
    regions: frozenset[str] | None = None,
    max_skew: timedelta = MAX_SKEW,
) -> VerifiedRequest:
    """Verify `req` signed for `service`; `secret_for` maps an access key id to its secret.

    Raises `MissingAuthenticationToken`, `IncompleteSignature`, `SignatureDoesNotMatch`,
    `InvalidClientTokenId` (the lookup returned None) or `AccessDenied`.
    """
    parts = parse_request(req)
    check_scope(parts, service=service, regions=regions)
    # getattr, not isinstance: a runtime Protocol check costs more than the whole HMAC.
    lookup = cast(Callable[[str], "str | None"], getattr(secret_for, "secret_for", secret_for))
    secret = lookup(parts.access_key_id)
    if secret is None:
        raise InvalidClientTokenId(detail="unknown access key id")
    return verify_signature(req, parts, secret=secret, now=now, max_skew=max_skew)


def verify_signature(
    req: SignedRequest,
    parts: SignatureParts,
    *,
    secret: str,
    now: datetime,
    max_skew: timedelta = MAX_SKEW,
) -> VerifiedRequest:
    """The time window, then the signature itself (constant-time comparison)."""
    check_time(parts, now=now, max_skew=max_skew)
    expected = signature(
        secret, parts.credential, string_to_sign(parts, canonical_request(req, parts))
    )
    given = parts.signature.encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(expected.encode("ascii"), given):
        raise SignatureDoesNotMatch(detail="signature mismatch")
    return VerifiedRequest(
        access_key_id=parts.access_key_id,
        region=parts.credential.region,
        service=parts.credential.service,
        signed_headers=parts.signed_headers,
        presigned=parts.presigned,
        request_time=parts.request_time,
        security_token=parts.security_token,
        expires=parts.expires,
    )


# --- parsing --------------------------------------------------------------------------


def parse_request(req: SignedRequest) -> SignatureParts:
    """Read the signature, scope, date and session token from either form, strictly."""
    headers = _header_map(req.headers)
    query = _split_query(req.query)
    params = _auth_params(query) if query else {}
    if len(headers) != len(req.headers):  # some name repeats: none of these may
        for name in _SINGLE_HEADERS:
            if len(headers.get(name, ())) > 1:
                raise IncompleteSignature(f"Duplicate '{name}' header", detail="repeated header")
    authorization = headers.get("authorization")
    presigned = bool(params) and ("X-Amz-Algorithm" in params or "X-Amz-Signature" in params)
    if authorization and (presigned or "X-Amz-Credential" in params):
        raise IncompleteSignature(_AUTH_BOTH)
    if authorization:
        parts = _header_form(authorization[0], headers, query, params)
    elif presigned:
        parts = _query_form(headers, query, params)
    else:
        raise MissingAuthenticationToken()
    _check_headers(parts)
    return parts


def parse_authorization(value: str) -> AuthorizationHeader:
    """The fields of an `AWS4-HMAC-SHA256` Authorization header; `IncompleteSignature` if bad."""
    usual = _USUAL_AUTHORIZATION.fullmatch(value)
    if usual:
        return AuthorizationHeader(*usual.groups())
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        if algorithm.startswith("AWS4-"):
            raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{algorithm}'")
        raise IncompleteSignature(_missing_fields(_AUTH_FIELDS, value))
    found: dict[str, str] = {}
    for component in rest.split(","):
        component = component.strip()
        if not component:
            continue
        name, eq, val = component.partition("=")
        if not eq:
            raise IncompleteSignature(
                f"'{component}' not a valid key=value pair (missing equal-sign) in "
                f"Authorization header: '{value}'."
            )
        if name not in _AUTH_FIELDS:
            raise IncompleteSignature(f"Unknown parameter '{name}' in Authorization header.")
        if name in found:
            raise IncompleteSignature(f"Duplicate parameter '{name}' in Authorization header.")
        found[name] = val
    missing = [name for name in _AUTH_FIELDS if name not in found]
    if missing:
        raise IncompleteSignature(_missing_fields(missing, value))
    return AuthorizationHeader(found["Credential"], found["SignedHeaders"], found["Signature"])


@lru_cache(maxsize=PER_SESSION)
def parse_credential(text: str) -> CredentialScope:
    """`AKID/date/region/service/aws4_request`, split; `IncompleteSignature` if not five parts."""
    pieces = text.split("/")
    if len(pieces) != 5:
        raise IncompleteSignature(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{text}'"
        )
    return CredentialScope(*pieces)


def _missing_fields(names: Sequence[str], value: str) -> str:
    required = " ".join(f"Authorization header requires '{n}' parameter." for n in names)
    return f"{required} Authorization={value}"


def _header_form(
    authorization: str,
    headers: Mapping[str, Sequence[str]],
    query: tuple[tuple[str, str], ...],
    params: Mapping[str, list[str]],
) -> SignatureParts:
    auth = parse_authorization(authorization)
    credential = parse_credential(auth.credential)
    signed = _signed_headers(auth.signed_headers)
    if "x-amz-date" in headers:
        timestamp = headers["x-amz-date"][0].strip()
        request_time = _parse_amz_date(timestamp)
    elif "date" in headers:
        request_time, timestamp = _parse_http_date(headers["date"][0])
    else:
        raise IncompleteSignature(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
            f"header. Authorization={authorization}"
        )
    header_token = headers.get("x-amz-security-token")
    query_token = params.get(_TOKEN_PARAM)
    if header_token and query_token:
        raise InvalidClientTokenId(detail="security token in both header and query")
    if query_token and len(query_token) > 1:
        raise InvalidClientTokenId(detail="security token repeated in the query")
    token = header_token[0] if header_token else query_token[0] if query_token else None
    return SignatureParts(
        credential=credential,
        signed_headers=signed,
        signature=auth.signature,
        timestamp=timestamp,
        request_time=request_time,
        presigned=False,
        expires=None,
        security_token=token,
        headers=headers,
        query=query,
    )


def _query_form(
    headers: Mapping[str, Sequence[str]],
    query: tuple[tuple[str, str], ...],
    params: Mapping[str, list[str]],
) -> SignatureParts:
    missing = [name for name in _QUERY_AUTH if name not in params]
    if missing:
        raise IncompleteSignature(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', "
            "'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', and 'X-Amz-Expires'. "
            f"Missing: {', '.join(missing)}. Re-examine the query-string parameters."
        )
    for name in (*_QUERY_AUTH, _TOKEN_PARAM):
        if len(params.get(name, ())) > 1:
            raise IncompleteSignature(f"Duplicate query-string parameter '{name}'.")
    algorithm = params["X-Amz-Algorithm"][0]
    if algorithm != ALGORITHM:
        raise IncompleteSignature(f"X-Amz-Algorithm only supports \"{ALGORITHM}\"")
    if "x-amz-security-token" in headers and _TOKEN_PARAM in params:
        raise InvalidClientTokenId(detail="security token in both header and query")
    timestamp = params["X-Amz-Date"][0]
    token = params.get(_TOKEN_PARAM)
    return SignatureParts(
        credential=parse_credential(params["X-Amz-Credential"][0]),
        signed_headers=_signed_headers(params["X-Amz-SignedHeaders"][0]),
        signature=params["X-Amz-Signature"][0],
        timestamp=timestamp,
        request_time=_parse_amz_date(timestamp),
        presigned=True,
        expires=_parse_expires(params["X-Amz-Expires"][0]),
        security_token=token[0] if token else None,
        headers=headers,
        query=query,
    )


@lru_cache(maxsize=256)
def _signed_headers(text: str) -> tuple[str, ...]:
    names = tuple(text.split(";"))
    if (
        not all(_HEADER_NAME.fullmatch(name) for name in names)
        or list(names) != sorted(set(names))
    ):
        raise IncompleteSignature(
            f"SignedHeaders must be lower-case header names, sorted, unique and separated by "
            f"';', got '{text}'"
        )
    return names


@lru_cache(maxsize=256)
def _signed_set(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(names)


def _check_headers(parts: SignatureParts) -> None:
    """`host` signed; every signed header present; no unsigned `x-amz-*` header."""
    signed = _signed_set(parts.signed_headers)
    if "host" not in signed:
        raise IncompleteSignature("'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                                  "Authorization.")
    headers = parts.headers
    if not signed.issubset(headers.keys()):
        absent = [name for name in parts.signed_headers if name not in headers]
        raise SignatureDoesNotMatch(detail=f"signed headers absent: {', '.join(absent)}")
    for name in headers:
        if name not in signed and name.startswith("x-amz-"):
            break
    else:
        return
    unsigned = sorted(n for n in headers if n not in signed and n.startswith("x-amz-"))
    raise SignatureDoesNotMatch(
        f"There were headers present in the request which were not signed: "
        f"{', '.join(unsigned)}",
        detail="unsigned x-amz-* header",
    )


@lru_cache(maxsize=128)  # under load, many requests carry the same second
def _parse_amz_date(text: str) -> datetime:
    if _AMZ_DATE.fullmatch(text):
        try:
            return datetime(
                int(text[0:4]), int(text[4:6]), int(text[6:8]),
                int(text[9:11]), int(text[11:13]), int(text[13:15]), tzinfo=UTC,
            )
        except ValueError:
            pass
    raise IncompleteSignature(
        f"Date must be in ISO-8601 'basic format'. Got '{text}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _parse_http_date(text: str) -> tuple[datetime, str]:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        when = None
    if when is None:
        raise IncompleteSignature(f"Date header '{text}' is not an HTTP date")
    # HTTP dates are GMT; `-0000` (what botocore writes) parses as naive.
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when, when.strftime(_BASIC)


def _parse_expires(text: str) -> int:
    if not _EXPIRES.fullmatch(text):
        raise IncompleteSignature("X-Amz-Expires should be a number")
    seconds = int(text)
    if seconds < 0:
        raise IncompleteSignature("X-Amz-Expires must be non-negative")
    if seconds == 0:
        raise IncompleteSignature("X-Amz-Expires must be at least 1 second")
    if seconds > MAX_PRESIGN_EXPIRES:
        raise IncompleteSignature(
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_EXPIRES}"
        )
    return seconds


def _header_map(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        key = name.lower()
        if key in grouped:
            grouped[key].append(value)
        else:
            grouped[key] = [value]
    return grouped


def _split_query(query: str) -> tuple[tuple[str, str], ...]:
    if not query:
        return ()
    pairs = []
    for item in query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((name, value))
    return tuple(pairs)


def _auth_params(query: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    """Decoded values of the X-Amz-* query parameters (the only ones SigV4 reads)."""
    found: dict[str, list[str]] = {}
    for raw_name, raw_value in query:
        name = unquote(raw_name, errors="replace") if "%" in raw_name else raw_name
        if name in _QUERY_AUTH or name == _TOKEN_PARAM:
            found.setdefault(name, []).append(unquote(raw_value, errors="replace"))
    return found


# --- scope and time -------------------------------------------------------------------


def check_scope(
    parts: SignatureParts, *, service: str, regions: frozenset[str] | None = None
) -> None:
    """The credential scope names this service, an allowed region and the request's date."""
    scope = parts.credential
    if scope.terminator != TERMINATOR:
        raise SignatureDoesNotMatch(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{scope.terminator}'."
        )
    if scope.service != service:
        raise SignatureDoesNotMatch(f"Credential should be scoped to correct service: '{service}'.")
    if not _REGION.fullmatch(scope.region) or (regions is not None and scope.region not in regions):
        raise SignatureDoesNotMatch(
            f"Credential should be scoped to a valid region, not '{scope.region}'."
        )
    if scope.date != parts.timestamp[:8]:
        raise SignatureDoesNotMatch(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{scope.date}' != '{parts.timestamp[:8]}', from '{parts.timestamp}'."
        )


def check_time(parts: SignatureParts, *, now: datetime, max_skew: timedelta = MAX_SKEW) -> None:
    """±`max_skew` around now; a presigned request also within its `X-Amz-Expires`."""
    when = parts.request_time
    window = max_skew if parts.expires is None else timedelta(seconds=parts.expires)
    if now - window <= when <= now + max_skew:
        return
    now = now.astimezone(UTC).replace(microsecond=0)
    if when > now + max_skew:
        raise SignatureDoesNotMatch(
            f"Signature not yet current: {parts.timestamp} is still later than "
            f"{(now + max_skew).strftime(_BASIC)} ({now.strftime(_BASIC)} + "
            f"{_duration_text(max_skew)})"
        )
    raise SignatureDoesNotMatch(
        f"Signature expired: {parts.timestamp} is now earlier than "
        f"{(now - window).strftime(_BASIC)} ({now.strftime(_BASIC)} - {_duration_text(window)})"
    )


def _duration_text(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    return f"{seconds // 60} min." if seconds % 60 == 0 else f"{seconds} sec."


# --- canonical request, string to sign, signature ---------------------------------------


def canonical_request(req: SignedRequest, parts: SignatureParts) -> str:
    """The SigV4 canonical request of `req` over the headers `parts` names."""
    headers = parts.headers
    canonical_headers = "".join(
        [f"{name}:{canonical_header_value(headers[name])}\n" for name in parts.signed_headers]
    )
    query = canonical_query(parts.query, presigned=parts.presigned) if parts.query else ""
    return (
        f"{req.method}\n{canonical_uri(req.path)}\n{query}\n{canonical_headers}\n"
        f"{';'.join(parts.signed_headers)}\n{payload_hash(req, parts)}"
    )


@lru_cache(maxsize=256)
def canonical_uri(path: str) -> str:
    """Dot segments and empty segments removed, then each byte outside [A-Za-z0-9-._~/] encoded."""
    if _PLAIN_PATH.fullmatch(path) and "//" not in path:
        return path
    return quote(_remove_dot_segments(path).encode("utf-8", "surrogateescape"), safe="/~")


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment and segment != ".":
            out.append(segment)
    trailing = "/" if path.endswith("/") and out else ""
    return "/" + "/".join(out) + trailing


def canonical_query(pairs: Sequence[tuple[str, str]], *, presigned: bool) -> str:
    """Names and values decoded then encoded the SigV4 way, sorted; no X-Amz-Signature."""
    encoded = sorted(
        (_encode(name), _encode(value))
        for name, value in pairs
        if not (presigned and unquote(name) == "X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def _encode(text: str) -> str:
    return quote(unquote_to_bytes(text.encode("utf-8", "surrogateescape")), safe="-_.~")


def canonical_header_value(values: Sequence[str]) -> str:
    """Each value trimmed with inner runs of whitespace collapsed; repeats joined by `,`."""
    if len(values) == 1:
        return " ".join(values[0].split())
    return ",".join([" ".join(value.split()) for value in values])


def payload_hash(req: SignedRequest, parts: SignatureParts) -> str:
    """SHA-256 of the body as received; a differing `x-amz-content-sha256` is refused."""
    if req.body_sha256 is not None:
        digest = req.body_sha256
    else:
        digest = hashlib.sha256(req.body).hexdigest() if req.body else EMPTY_SHA256
    claimed = parts.headers.get("x-amz-content-sha256")
    if claimed is not None and claimed[0].strip().lower() != digest:
        raise SignatureDoesNotMatch(
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            detail="payload hash mismatch (UNSIGNED-PAYLOAD is not accepted)",
        )
    return digest


def string_to_sign(parts: SignatureParts, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{parts.timestamp}\n{parts.credential.scope}\n{digest}"


def signature(secret: str, scope: CredentialScope, string_to_sign: str) -> str:
    key = signing_key(secret, scope.date, scope.region, scope.service)
    return key.digest(_bytes(string_to_sign)).hex()


@lru_cache(maxsize=PER_SESSION)
def signing_key(secret: str, date: str, region: str, service: str) -> HmacSha256:
    """kSigning, cached: a session signs many requests a day with the same scope."""
    key = hmac_sha256(_bytes(f"AWS4{secret}"), _bytes(date))
    key = hmac_sha256(key, _bytes(region))
    key = hmac_sha256(key, _bytes(service))
    return HmacSha256(hmac_sha256(key, TERMINATOR.encode()))


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def from_wsgi(value: str) -> str:
    """A WSGI string (raw bytes read as Latin-1) in the form `SignedRequest` expects."""
    if value.isascii():  # the same text either way; SigV4 headers nearly always are ASCII
        return value
    return value.encode("latin-1").decode("utf-8", "surrogateescape")

