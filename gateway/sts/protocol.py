"""The STS Query protocol on the wire: form decoding, results, XML and JSON bodies, errors.

Success bodies are compact namespaced XML (`<XResponse><XResult>…</XResult>
<ResponseMetadata><RequestId>…`), or JSON for `Accept: application/json` with
`Expiration` as epoch seconds, the shape aws-iam-authenticator parses. Errors use
AWS's `<ErrorResponse>` envelope with the status each code carries. XML is written
by `_XmlWriter`: element names come only from this module (the result dataclasses'
field names), and every text value is escaped and has the characters XML 1.0 cannot
carry replaced, so no value can break the document. (ElementTree built and
serialized the same bytes at several times the cost, on every credential issued.)
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import cache
from typing import ClassVar
from urllib.parse import parse_qsl

from gateway.sts.credentials import Credentials
from gateway.sts.errors import MalformedQueryString, StsError

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
XML_CONTENT_TYPE = "text/xml"
JSON_CONTENT_TYPE = "application/json"
REQUEST_ID_HEADER = "x-amzn-RequestId"
MAX_PARAMETERS = 1000

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# --- request side ---------------------------------------------------------------------


def decode_form(data: bytes | str) -> list[tuple[str, str]]:
    """`application/x-www-form-urlencoded` pairs (query string or body), UTF-8, strictly."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return parse_qsl(
            text, keep_blank_values=True, encoding="utf-8", errors="strict",
            max_num_fields=MAX_PARAMETERS,
        )
    except (UnicodeDecodeError, ValueError):
        raise MalformedQueryString(
            "The query string or form body is not valid UTF-8 form encoding"
        ) from None


def merge_params(*sources: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Query and body parameters as one mapping; a name given twice is refused."""
    merged: dict[str, str] = {}
    for source in sources:
        for name, value in source:
            if name in merged:
                raise MalformedQueryString(f"Parameter {name} is given more than once")
            merged[name] = value
    return merged


def wants_json(accept: str | None) -> bool:
    """Whether `Accept` prefers application/json over XML (AWS answers JSON when asked)."""
    if not accept:
        return False
    best_json = best_xml = 0.0
    for item in accept.split(","):
        media, *options = (piece.strip() for piece in item.split(";"))
        quality = 1.0
        for option in options:
            key, _, value = option.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media == "application/json":
            best_json = max(best_json, quality)
        elif media in ("text/xml", "application/xml", "*/*"):
            best_xml = max(best_xml, quality)
    return best_json > 0 and best_json >= best_xml


def new_request_id() -> str:
    return str(uuid.uuid4())


# --- results --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssumedRoleUser:
    arn: str
    assumed_role_id: str


@dataclass(frozen=True, slots=True)
class AssumeRoleResult:
    ACTION: ClassVar[str] = "AssumeRole"
    credentials: Credentials
    assumed_role_user: AssumedRoleUser
    packed_policy_size: int | None = None
    source_identity: str | None = None


@dataclass(frozen=True, slots=True)
class AssumeRoleWithSAMLResult:
    ACTION: ClassVar[str] = "AssumeRoleWithSAML"
    credentials: Credentials
    assumed_role_user: AssumedRoleUser
    subject: str
    subject_type: str
    issuer: str
    audience: str
    name_qualifier: str
    packed_policy_size: int | None = None
    source_identity: str | None = None


@dataclass(frozen=True, slots=True)
class AssumeRoleWithWebIdentityResult:
    ACTION: ClassVar[str] = "AssumeRoleWithWebIdentity"
    credentials: Credentials
    subject_from_web_identity_token: str
    assumed_role_user: AssumedRoleUser
    provider: str
    audience: str
    packed_policy_size: int | None = None
    source_identity: str | None = None


@dataclass(frozen=True, slots=True)
class GetCallerIdentityResult:
    ACTION: ClassVar[str] = "GetCallerIdentity"
    user_id: str
    account: str
    arn: str


@dataclass(frozen=True, slots=True)
class GetAccessKeyInfoResult:
    ACTION: ClassVar[str] = "GetAccessKeyInfo"
    account: str


@dataclass(frozen=True, slots=True)
class DecodeAuthorizationMessageResult:
    ACTION: ClassVar[str] = "DecodeAuthorizationMessage"
    decoded_message: str


StsResult = (
    AssumeRoleResult
    | AssumeRoleWithSAMLResult
    | AssumeRoleWithWebIdentityResult
    | GetCallerIdentityResult
    | GetAccessKeyInfoResult
    | DecodeAuthorizationMessageResult
)

Value = str | int | datetime | list[tuple[str, "Value"]]


# --- rendering ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What the edge sends: status, headers (content type and request id), body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def content_type(self) -> str:
        return next(v for n, v in self.headers if n == "Content-Type")


def render_result(result: StsResult, *, request_id: str, as_json: bool = False) -> HttpResponse:
    """A 200 response carrying `result`."""
    action = result.ACTION
    members = list(_members(result))
    if as_json:
        doc = {
            f"{action}Response": {
                f"{action}Result": _json(members),
                "ResponseMetadata": {"RequestId": request_id},
            }
        }
        return _response(200, JSON_CONTENT_TYPE, _dumps(doc), request_id)
    out = _XmlWriter()
    out.open(f"{action}Response", namespace=NAMESPACE)
    out.open(f"{action}Result")
    out.members(members)
    out.close(f"{action}Result")
    out.open("ResponseMetadata")
    out.text("RequestId", request_id)
    out.close("ResponseMetadata")
    out.close(f"{action}Response")
    return _response(200, XML_CONTENT_TYPE, out.body(), request_id)


def render_error(error: StsError, *, request_id: str, as_json: bool = False) -> HttpResponse:
    """AWS's error envelope for `error`, with its HTTP status."""
    if as_json:
        doc = {
            "Error": {"Code": error.code, "Message": error.message, "Type": error.fault},
            "RequestId": request_id,
        }
        return _response(error.status, JSON_CONTENT_TYPE, _dumps(doc), request_id)
    out = _XmlWriter()
    out.open("ErrorResponse", namespace=NAMESPACE)
    out.open("Error")
    out.text("Type", error.fault)
    out.text("Code", error.code)
    out.text("Message", error.message)
    out.close("Error")
    out.text("RequestId", request_id)
    out.close("ErrorResponse")
    return _response(error.status, XML_CONTENT_TYPE, out.body(), request_id)


def _response(status: int, content_type: str, body: bytes, request_id: str) -> HttpResponse:
    return HttpResponse(
        status, (("Content-Type", content_type), (REQUEST_ID_HEADER, request_id)), body
    )


@cache
def _member_names(record_type: type) -> tuple[tuple[str, str], ...]:
    """(attribute, model name) of a result type: `assumed_role_id` → `AssumedRoleId`."""
    return tuple(
        (f.name, "".join(part.capitalize() for part in f.name.split("_")))
        for f in fields(record_type)
    )


def _members(
    record: StsResult | Credentials | AssumedRoleUser,
) -> Iterator[tuple[str, Value]]:
    """A result's members in model names, None omitted."""
    record_type: type = type(record)
    for attribute, name in _member_names(record_type):
        value = getattr(record, attribute)
        if value is None:
            continue
        if isinstance(value, Credentials | AssumedRoleUser):
            yield name, list(_members(value))
        else:
            yield name, value


class _XmlWriter:
    """Compact XML: element names from this module, every text value escaped."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def open(self, name: str, *, namespace: str | None = None) -> None:
        if namespace is None:
            self._parts.append(f"<{name}>")
        else:
            self._parts.append(f'<{name} xmlns="{_escape(namespace)}">')

    def close(self, name: str) -> None:
        self._parts.append(f"</{name}>")

    def text(self, name: str, value: str) -> None:
        self._parts.append(f"<{name}>{_escape(value)}</{name}>")

    def members(self, members: list[tuple[str, Value]]) -> None:
        for name, value in members:
            if isinstance(value, list):
                self.open(name)
                self.members(value)
                self.close(name)
            elif isinstance(value, datetime):
                self.text(name, _iso8601(value))
            else:
                self.text(name, str(value))

    def body(self) -> bytes:
        return "".join(self._parts).encode("utf-8")


def _escape(value: str) -> str:
    """Text safe inside an element or a double-quoted attribute."""
    value = _NOT_XML.sub("\ufffd", value)
    if "&" in value or "<" in value or ">" in value or '"' in value:
        value = (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                 .replace('"', "&quot;"))
    return value


def _json(members: list[tuple[str, Value]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in members:
        if isinstance(value, list):
            out[name] = _json(value)
        elif isinstance(value, datetime):
            out[name] = int(value.timestamp())
        else:
            out[name] = value
    return out


def _iso8601(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dumps(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode("ascii")
