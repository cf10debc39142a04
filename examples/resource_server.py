"""A small object store that leaves identity and authorization to the federation gateway.

    python examples/resource_server.py serve --gateway http://127.0.0.1:8000 --port 9000 \\
        [--buckets buckets.json] [--server-id objects.example]
    python examples/resource_server.py token --server-id objects.example   # a bearer token

It needs only Flask (and boto3 for the `token` command). Two ways in:

* **SigV4-signed requests** (boto3's `s3` client with `endpoint_url`, or any SigV4 signer
  with service `s3`): `GET` and `PUT /<bucket>/<key>`. Each request is forwarded as
  received to the gateway's `POST /api/v1/authorize` with the action, the object ARN, the
  bucket's owner account and policy; the object is served only on `allow`. A refusal is
  an S3-shaped XML error carrying the gateway's `EncodedMessage`, which a principal
  allowed `sts:DecodeAuthorizationMessage` can decode through the gateway's STS.
* **A bearer identity proof** (the aws-iam-authenticator / Vault pattern):
  `GET /whoami` with `Authorization: Bearer k8s-aws-v1.<base64url of a presigned
  GetCallerIdentity URL>` whose signed headers include `x-k8s-aws-id: <server id>`. The
  server checks the URL points at its gateway's `/sts`, replays it with its own id, and
  reads the caller's ARN from the answer.

`buckets.json`: `{"<bucket>": {"account": "<12 digits>", "policy": {...} | null,
"objects": {"<key>": "<text>"}}}`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from flask import Flask, Response, request
from werkzeug.datastructures import EnvironHeaders

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 (a scheme name, not a secret)
ID_HEADER = "x-k8s-aws-id"
MAX_TOKEN_CHARS = 4096
# What a presigned GetCallerIdentity URL may carry, and nothing else (lower-cased).
PRESIGNED_PARAMS = frozenset({
    "action", "version", "x-amz-algorithm", "x-amz-credential", "x-amz-date",
    "x-amz-expires", "x-amz-security-token", "x-amz-signature", "x-amz-signedheaders",
})
TOKEN_LIFETIME = timedelta(minutes=15)  # from X-Amz-Date, as AWS treats these URLs
IDENTITY_CACHE_SECONDS = 60.0  # how long a proven identity is reused (delays revocation)
GATEWAY_TIMEOUT = 5.0
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass
class Bucket:
    """A bucket: its owner account, its policy (IAM resource-based policy), its objects."""

    account: str
    policy: dict[str, Any] | None = None
    objects: dict[str, bytes] = field(default_factory=dict)


def load_buckets(doc: Mapping[str, Any]) -> dict[str, Bucket]:
    """Buckets from the JSON shape in the module docstring."""
    return {
        name: Bucket(
            account=str(spec["account"]),
            policy=spec.get("policy"),
            objects={k: v.encode() for k, v in spec.get("objects", {}).items()},
        )
        for name, spec in doc.items()
    }


DEMO_BUCKETS: dict[str, Any] = {
    "shared-data": {
        "account": "222222222222",
        "policy": {
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "PartnersRead",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::shared-data/public/*",
            }],
        },
        "objects": {"public/hello.txt": "hello from account 222222222222\n",
                    "private/secret.txt": "not for partners\n"},
    },
}


# --- talking to the gateway --------------------------------------------------------------


class GatewayError(Exception):
    """The gateway could not be asked (down, timed out, or answered nonsense)."""


def _post_json(url: str, doc: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    data = json.dumps(doc).encode()
    req = urllib.request.Request(  # noqa: S310 (the operator configures the gateway URL)
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    return _fetch(req)


def _fetch(req: urllib.request.Request) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(req, timeout=GATEWAY_TIMEOUT) as resp:  # noqa: S310
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise GatewayError(f"gateway unreachable: {exc}") from exc
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise GatewayError(f"gateway answered {status} with non-JSON") from exc
    if not isinstance(body, dict):
        raise GatewayError(f"gateway answered {status} with unexpected JSON")
    return status, body


def _wsgi(value: str) -> str:
    """A WSGI string (bytes read as Latin-1) back as the UTF-8 text the client sent."""
    return value.encode("latin-1").decode("utf-8", "surrogateescape")


def forwarded_request(body: bytes) -> dict[str, Any]:
    """The current request exactly as received: raw path and query, every header.

    With a body, the hash alone is forwarded when the client signed
    `x-amz-content-sha256` and the body really hashes to it (checked here, since the
    gateway never sees the body); otherwise the body itself.
    """
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.full_path
    headers = [[name, _wsgi(value)] for name, value in EnvironHeaders(environ).items()]
    out: dict[str, Any] = {
        "method": request.method,
        "path": _wsgi(raw.split("?", 1)[0]),
        "query": _wsgi(environ.get("QUERY_STRING", "")),
        "headers": headers,
    }
    claimed = request.headers.get("x-amz-content-sha256", "").strip().lower()
    digest = hashlib.sha256(body).hexdigest()
    if body and hmac.compare_digest(claimed, digest):
        out["body_sha256"] = digest
    elif body:
        out["body"] = base64.b64encode(body).decode()
    return out


# --- the app --------------------------------------------------------------------------


def create_app(
    gateway_url: str,
    buckets: dict[str, Bucket],
    *,
    server_id: str = "objects.example",
    service: str = "s3",
    secure: bool = False,
) -> Flask:
    """The object store; `gateway_url` is the gateway's base URL (no trailing slash)."""
    gateway_url = gateway_url.rstrip("/")
    authorize_url = f"{gateway_url}/api/v1/authorize"
    sts_url = urlsplit(f"{gateway_url}/sts")
    identities = IdentityCache()
    app = Flask(__name__)

    def s3_error(status: int, code: str, message: str, **extra: str) -> Response:
        parts = [f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"]
        parts += [f"<{k}>{escape(v)}</{k}>" for k, v in extra.items()]
        xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{"".join(parts)}</Error>'
        return Response(xml, status=status, mimetype="application/xml")

    def check(bucket_name: str, key: str, action: str, body: bytes) -> Response | None:
        """None when the gateway allows the request, else the error to answer with."""
        bucket = buckets.get(bucket_name)
        if bucket is None:
            return s3_error(404, "NoSuchBucket", "The specified bucket does not exist")
        question = forwarded_request(body)
        question.update(
            service=service,
            action=action,
            resource=f"arn:aws:s3:::{bucket_name}/{key}",
            resource_account=bucket.account,
            context={"aws:SecureTransport": secure,
                     "aws:SourceIp": request.remote_addr or "0.0.0.0"},  # noqa: S104
        )
        if bucket.policy is not None:
            question["resource_policy"] = bucket.policy
        try:
            status, answer = _post_json(authorize_url, question)
        except GatewayError as exc:
            app.logger.warning("authorization unavailable: %s", exc)
            return s3_error(503, "ServiceUnavailable", "Please try again shortly")
        if status == 200 and answer.get("decision") == "allow":
            return None
        if status == 200:
            return s3_error(403, "AccessDenied", "Access Denied",
                            EncodedMessage=str(answer.get("encoded_message", "")))
        if status in (401, 403):
            return s3_error(403, str(answer.get("code", "AccessDenied")),
                            str(answer.get("detail", "Access Denied")))
        if status == 503:
            return s3_error(503, "ServiceUnavailable", "Please try again shortly")
        app.logger.error("the gateway refused our question: %s %s", status, answer)
        return s3_error(500, "InternalError", "We encountered an internal error")

    @app.get("/<bucket_name>/<path:key>")
    def get_object(bucket_name: str, key: str) -> Response:
        refused = check(bucket_name, key, "s3:GetObject", b"")
        if refused is not None:
            return refused
        data = buckets[bucket_name].objects.get(key)
        if data is None:
            return s3_error(404, "NoSuchKey", "The specified key does not exist.", Key=key)
        resp = Response(data, mimetype="application/octet-stream")
        resp.headers["ETag"] = f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
        return resp

    @app.put("/<bucket_name>/<path:key>")
    def put_object(bucket_name: str, key: str) -> Response:
        body = request.get_data(cache=True)
        refused = check(bucket_name, key, "s3:PutObject", body)
        if refused is not None:
            return refused
        buckets[bucket_name].objects[key] = body
        resp = Response(b"", status=200)
        resp.headers["ETag"] = f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'
        return resp

    @app.get("/whoami")
    def whoami() -> Response:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _json_error(401, "MissingToken", "send Authorization: Bearer k8s-aws-v1.…")
        cached = identities.get(token)
        if cached is not None:
            return Response(json.dumps(cached), mimetype="application/json")
        try:
            url = check_bearer_token(token, sts_url.geturl(), server_id, now=datetime.now(UTC))
        except ValueError as exc:
            return _json_error(401, "InvalidToken", str(exc))
        req = urllib.request.Request(  # noqa: S310 (checked to be the gateway's /sts above)
            url, method="GET", headers={ID_HEADER: server_id, "Accept": "application/json"}
        )
        try:
            status, answer = _fetch(req)
        except GatewayError as exc:
            app.logger.warning("identity check unavailable: %s", exc)
            return _json_error(503, "ServiceUnavailable", "try again shortly")
        if status != 200:
            error = answer.get("Error", {})
            return _json_error(401, str(error.get("Code", "InvalidToken")),
                               str(error.get("Message", "the gateway refused the token")))
        result = answer["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
        identity = {"arn": result["Arn"], "account": result["Account"],
                    "user_id": result["UserId"]}
        identities.put(token, identity)
        return Response(json.dumps(identity), mimetype="application/json")

    return app


def _json_error(status: int, code: str, message: str) -> Response:
    return Response(json.dumps({"code": code, "message": message}), status=status,
                    mimetype="application/json")


# --- the bearer token ---------------------------------------------------------------------


def check_bearer_token(token: str, sts_url: str, server_id: str, *, now: datetime) -> str:
    """The presigned URL inside `token`, if it may be replayed to our gateway; else ValueError.

    Strict like aws-iam-authenticator: only our gateway's STS URL, only the presigning
    parameters, GetCallerIdentity only, our id among the signed headers, not too old.
    Without the host check a client could point us at a server of its own that says yes.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_CHARS:
        raise ValueError("not a k8s-aws-v1 token")
    encoded = token[len(TOKEN_PREFIX):]
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, ValueError):
        raise ValueError("token is not base64url") from None
    parts = urlsplit(url)
    expected = urlsplit(sts_url)
    if (parts.scheme, parts.netloc, parts.path.rstrip("/")) != (
        expected.scheme, expected.netloc, expected.path.rstrip("/")
    ) or parts.fragment:
        raise ValueError("token is not for this gateway's STS")
    params: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        lowered = name.lower()
        if lowered not in PRESIGNED_PARAMS:
            raise ValueError(f"unexpected parameter {name}")
        if lowered in params:
            raise ValueError(f"repeated parameter {name}")
        params[lowered] = value
    if params.get("action") != "GetCallerIdentity":
        raise ValueError("token is not a GetCallerIdentity request")
    if ID_HEADER not in params.get("x-amz-signedheaders", "").split(";"):
        raise ValueError(f"{ID_HEADER} is not a signed header")
    try:
        expires = int(params.get("x-amz-expires", ""))
        signed_at = datetime.strptime(params.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ")
    except ValueError:
        raise ValueError("X-Amz-Expires or X-Amz-Date missing or malformed") from None
    if not 0 < expires <= 900:
        raise ValueError("X-Amz-Expires must be 1..900 seconds")
    if now >= signed_at.replace(tzinfo=UTC) + TOKEN_LIFETIME:
        raise ValueError("token expired")
    return url


class IdentityCache:
    """Proven identities by token hash, for a short while: a token is reusable for minutes."""

    def __init__(self, ttl: float = IDENTITY_CACHE_SECONDS, size: int = 10_000) -> None:
        self._ttl = ttl
        self._size = size
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, dict[str, str]]] = {}

    def get(self, token: str) -> dict[str, str] | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] < time.monotonic():
                self._items.pop(key, None)
                return None
            return found[1]

    def put(self, token: str, identity: dict[str, str]) -> None:
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            if len(self._items) >= self._size:
                self._items.clear()  # crude, bounded; a real server would use an LRU
            self._items[key] = (time.monotonic() + self._ttl, identity)


def bearer_token(sts_client: Any, server_id: str, *, expires: int = 60) -> str:
    """A `k8s-aws-v1.` token from a boto3 STS client (pointed at the gateway)."""

    def keep_id(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if ID_HEADER in params:
            context[ID_HEADER] = params.pop(ID_HEADER)

    def add_header(request: Any, **_: Any) -> None:
        if ID_HEADER in request.context:
            request.headers[ID_HEADER] = request.context[ID_HEADER]

    events = sts_client.meta.events
    events.register("provide-client-params.sts.GetCallerIdentity", keep_id)
    events.register("before-sign.sts.GetCallerIdentity", add_header)
    try:
        url: str = sts_client.generate_presigned_url(
            "get_caller_identity", Params={ID_HEADER: server_id}, ExpiresIn=expires,
            HttpMethod="GET",
        )
    finally:
        events.unregister("provide-client-params.sts.GetCallerIdentity", keep_id)
        events.unregister("before-sign.sts.GetCallerIdentity", add_header)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).rstrip(b"=").decode()


# --- command line ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the object store")
    serve.add_argument("--gateway", required=True, help="gateway base URL, e.g. http://127.0.0.1:8000")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9000)
    serve.add_argument("--buckets", help="buckets JSON file (default: a demo bucket)")
    serve.add_argument("--server-id", default="objects.example")
    token = sub.add_parser("token", help="print a bearer token for /whoami (boto3 credentials)")
    token.add_argument("--server-id", default="objects.example")
    token.add_argument("--endpoint-url", help="the gateway's /sts URL (else AWS_ENDPOINT_URL_STS)")
    token.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)

    if args.command == "token":
        import boto3  # type: ignore[import-untyped]  # only the client side needs it

        client = boto3.client("sts", endpoint_url=args.endpoint_url, region_name=args.region)
        print(bearer_token(client, args.server_id))
        return 0
    if args.buckets:
        with open(args.buckets, encoding="utf-8") as handle:
            buckets = load_buckets(json.load(handle))
    else:
        buckets = load_buckets(DEMO_BUCKETS)
    app = create_app(args.gateway, buckets, server_id=args.server_id)
    app.run(host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
