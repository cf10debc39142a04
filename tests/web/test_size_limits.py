"""Size limits: oversized bodies, XML, JSON and headers are refused in the protocol's shape.

Each case is sent over real HTTP, with and without Content-Length (chunked bodies must
hit the same limit while being read), and answered with the endpoint's own error shape:
STS XML, a JSON problem, an HTML page. Never a 500, and the gateway keeps serving.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator

import pytest
import requests

from gateway.settings import Settings
from gateway.web.request_limits import MAX_HEADER_BYTES, MAX_HEADERS
from tests.conftest import LiveServer
from tests.web.authorize_support import live_world

MIB = 1024 * 1024


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    live = live_world(settings)
    yield live
    live.stop()


def chunked_post(url: str, path: str, body: bytes, content_type: str) -> tuple[int, str, str]:
    """POST `body` with Transfer-Encoding: chunked (no Content-Length to check up front)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    try:
        conn.request(
            "POST", path, body=chunks(), encode_chunked=True, headers={"Content-Type": content_type}
        )
        answer = conn.getresponse()
        return answer.status, answer.getheader("Content-Type") or "", answer.read().decode()
    finally:
        conn.close()


def sts_code(text: str) -> str:
    found = re.search(r"<Code>([^<]+)</Code>", text)
    return found.group(1) if found else ""


def test_sts_body_over_one_mebibyte_is_an_sts_413(server: LiveServer) -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15&Pad=" + b"x" * (MIB + 10)
    answer = requests.post(
        f"{server.url}/sts",
        data=body,
        timeout=30,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413
    assert answer.text.startswith("<ErrorResponse") and sts_code(answer.text) == (
        "RequestEntityTooLarge"
    )
    status, _, text = chunked_post(server.url, "/sts", body, "application/x-www-form-urlencoded")
    assert status == 413 and sts_code(text) == "RequestEntityTooLarge"
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200


def test_token_exchange_body_over_the_limit_is_a_json_413(server: LiveServer) -> None:
    body = b"grant_type=x&subject_token=" + b"a" * (MIB + 10)
    answer = requests.post(
        f"{server.url}/api/v1/token",
        data=body,
        timeout=30,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.json()["status"] == 413


def test_saml_acs_chunked_body_over_256_kib_is_an_html_413(server: LiveServer) -> None:
    body = b"SAMLResponse=" + b"P" * (300 * 1024)
    status, content_type, text = chunked_post(
        server.url, "/saml/acs", body, "application/x-www-form-urlencoded"
    )
    assert status == 413 and content_type.startswith("text/html")
    assert "413" in text and "Traceback" not in text


def test_assume_role_with_saml_assertion_over_aws_limit_is_a_validation_error(
    server: LiveServer,
) -> None:
    answer = requests.post(
        f"{server.url}/sts",
        timeout=30,
        data={
            "Action": "AssumeRoleWithSAML",
            "Version": "2011-06-15",
            "RoleArn": "arn:aws:iam::111111111111:role/Base",
            "PrincipalArn": "arn:aws:iam::111111111111:saml-provider/corp",
            "SAMLAssertion": "A" * 100_001,
        },
    )
    assert answer.status_code == 400 and sts_code(answer.text) == "ValidationError"


def test_deeply_nested_json_is_a_400_problem_not_a_crash(server: LiveServer) -> None:
    for depth in (100_000, 900):  # past the interpreter's recursion limit, and within it
        body = "[" * depth + "]" * depth
        answer = requests.post(
            f"{server.url}/api/v1/authorize",
            data=body,
            timeout=30,
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 400, (depth, answer.text[:200])
        assert answer.headers["Content-Type"].startswith("application/problem+json")
    # A resource policy nested just within what the JSON parser takes: the policy parser
    # must refuse it as a bad question (400), not overflow.
    depth = 900
    policy = '{"Statement":' * depth + '{"Version": "2012-10-17"}' + "}" * depth
    body = (
        '{"method": "GET", "path": "/", "headers": [["Host", "x"]], "service": "s3", '
        '"action": "s3:GetObject", "resource": "arn:aws:s3:::b/k", '
        f'"resource_policy": {policy}}}'
    )
    answer = requests.post(
        f"{server.url}/api/v1/authorize",
        data=body,
        timeout=30,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text[:300]
    assert answer.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("path", "shape"), [("/sts", "sts"), ("/api/v1/token", "json"), ("/login", "html")]
)
def test_too_many_or_too_large_headers_are_a_431_in_each_shape(
    server: LiveServer, path: str, shape: str
) -> None:
    big = {f"X-Pad-{i}": "v" * 1024 for i in range(MAX_HEADER_BYTES // 1024 + 2)}
    many = {f"X-Many-{i}": "v" for i in range(MAX_HEADERS + 1)}
    for headers in (big, many):
        if path == "/login":
            answer = requests.get(f"{server.url}{path}", headers=headers, timeout=10)
        else:
            answer = requests.post(
                f"{server.url}{path}",
                headers=headers,
                timeout=10,
                data={"Action": "GetCallerIdentity"},
            )
        assert answer.status_code == 431, answer.text[:200]
        content_type = answer.headers["Content-Type"]
        if shape == "sts":
            assert sts_code(answer.text) == "RequestHeaderFieldsTooLarge"
        elif shape == "json":
            assert content_type.startswith("application/problem+json")
            assert answer.json()["status"] == 431
        else:
            assert content_type.startswith("text/html") and "431" in answer.text


def exact_get(url: str, path: str, headers: list[tuple[str, str]]) -> int:
    """GET with exactly `headers` on the wire (http.client adds none of its own)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


def test_header_limits_hold_at_the_exact_boundary(server: LiveServer) -> None:
    """The count and the byte total are those of the headers as sent: the last one
    allowed passes, one more header or one more byte is refused."""
    host = ("Host", server.url.removeprefix("http://"))
    fill = [(f"X-Many-{i}", "v") for i in range(MAX_HEADERS - 1)]
    assert exact_get(server.url, "/healthz", [host, *fill]) == 200
    assert exact_get(server.url, "/healthz", [host, *fill, ("X-One-More", "v")]) == 431

    def wire(headers: list[tuple[str, str]]) -> int:
        return sum(len(name) + len(value) + 4 for name, value in headers)

    pads = [(f"X-Pad-{i}", "v" * 1000) for i in range(MAX_HEADER_BYTES // 1024)]
    last = ("X-Last", "")
    room = MAX_HEADER_BYTES - wire([host, *pads, last])
    exact = [host, *pads, ("X-Last", "v" * room)]
    assert wire(exact) == MAX_HEADER_BYTES
    assert exact_get(server.url, "/healthz", exact) == 200
    assert exact_get(server.url, "/healthz", [*exact[:-1], ("X-Last", "v" * (room + 1))]) == 431
