"""Requests signed by botocore's own signers, turned into `SignedRequest`s."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from unittest import mock
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gateway.sts.sigv4 import SignedRequest

URL = "https://gw.example.com/sts/"
WHEN = datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)
GET_CALLER_IDENTITY = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def botocore_signed(
    access_key: str,
    secret: str,
    token: str | None = None,
    *,
    method: str = "POST",
    url: str = URL,
    data: Mapping[str, str] | str | None = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    service: str = "sts",
    when: datetime = WHEN,
    presign_expires: int | None = None,
) -> SignedRequest:
    """Sign like boto3 does (header form, or presigned when `presign_expires` is set)."""
    if data is None and method == "POST" and presign_expires is None:
        data = GET_CALLER_IDENTITY
    all_headers = dict(FORM if method == "POST" and presign_expires is None else {})
    all_headers.update(headers or {})
    request = AWSRequest(method=method, url=url, data=data, params=params, headers=all_headers)
    credentials = Credentials(access_key, secret, token)
    signer: SigV4Auth
    if presign_expires is None:
        signer = SigV4Auth(credentials, service, region)
    else:
        signer = SigV4QueryAuth(credentials, service, region, expires=presign_expires)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        signer.add_auth(request)
    return to_signed_request(request)


def to_signed_request(request: AWSRequest) -> SignedRequest:
    """What the server receives for a botocore request (urllib3 adds Host from the URL)."""
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    headers = list(prepared.headers.items())
    if not any(name.lower() == "host" for name, _ in headers):
        default = {"http": 80, "https": 443}[parts.scheme]
        host = parts.hostname or ""
        if parts.port and parts.port != default:
            host = f"{host}:{parts.port}"
        headers.insert(0, ("Host", host))
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return SignedRequest(prepared.method, parts.path or "/", parts.query, headers, body)


def with_headers(req: SignedRequest, headers: list[tuple[str, str]]) -> SignedRequest:
    return SignedRequest(req.method, req.path, req.query, headers, req.body)


def replace_header(req: SignedRequest, name: str, value: str) -> SignedRequest:
    return with_headers(
        req, [(n, value if n.lower() == name.lower() else v) for n, v in req.headers]
    )


def drop_header(req: SignedRequest, name: str) -> SignedRequest:
    return with_headers(req, [(n, v) for n, v in req.headers if n.lower() != name.lower()])


def header(req: SignedRequest, name: str) -> str:
    return next(v for n, v in req.headers if n.lower() == name.lower())
