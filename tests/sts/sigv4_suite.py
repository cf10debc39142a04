"""Reading the AWS SigV4 test suite (tests/sts/data/aws-sig-v4-test-suite, Apache-2.0)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.sts.sigv4 import SignedRequest

SUITE = Path(__file__).parent / "data" / "aws-sig-v4-test-suite"
ACCESS_KEY_ID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
SERVICE = "service"
NOW = datetime(2015, 8, 30, 12, 36, 0, tzinfo=UTC)

# Two vectors of the published suite disagree with themselves: their `.req`/`.creq` were
# edited after the fact (Content-Length added and signed; `charset=utf8` became
# `charset=utf-8`) while `.sts`, `.authz` and `.sreq` still belong to the original
# request. Each file is checked against the request it was computed from.
ERRATA = {
    "post-x-www-form-urlencoded": ".creq also signs content-length; .sts/.authz do not",
    "post-x-www-form-urlencoded-parameters": ".sts/.authz were computed with charset=utf8 "
    "and without content-length",
}


@dataclass(frozen=True)
class Vector:
    name: str
    folder: Path

    def text(self, ext: str) -> str:
        return (self.folder / f"{self.folder.name}{ext}").read_bytes().decode(
            "utf-8", "surrogateescape"
        )

    def request(self, ext: str = ".req", *, authorization: str | None = None) -> SignedRequest:
        """The `.req` (or `.sreq`) request; `.req` gets an Authorization header (`.authz`)."""
        req = parse_http(self.text(ext))
        if ext == ".req":
            value = authorization or self.text(".authz").strip()
            req = SignedRequest(
                req.method, req.path, req.query, [*req.headers, ("Authorization", value)], req.body
            )
        return req

    def creq_request(self) -> SignedRequest:
        """`.req` signed over the header list its `.creq` names."""
        signed = self.text(".creq").split("\n")[-2]
        authz = self.text(".authz").strip()
        head, _, tail = authz.partition("SignedHeaders=")
        return self.request(authorization=head + "SignedHeaders=" + signed + tail[tail.index(","):])

    def signed_request(self) -> SignedRequest:
        """The request `.sts` and `.authz` were computed from (see ERRATA)."""
        if self.name == "post-x-www-form-urlencoded":
            return self.request(".sreq")
        if self.name == "post-x-www-form-urlencoded-parameters":
            req = self.request(".sreq")
            headers = [
                (n, v.replace("charset=utf-8", "charset=utf8")) if n == "Content-Type" else (n, v)
                for n, v in req.headers
            ]
            return SignedRequest(req.method, req.path, req.query, headers, req.body)
        return self.request()

    @property
    def signature(self) -> str:
        return self.text(".authz").rsplit("Signature=", 1)[1].strip()


def vectors() -> list[Vector]:
    found = sorted(p.parent for p in SUITE.rglob("*.req"))
    return [Vector(str(f.relative_to(SUITE)), f) for f in found]


def parse_http(text: str) -> SignedRequest:
    """A raw HTTP/1.1 request as the suite writes it.

    A folded header line (starting with whitespace) is read as one more value of the
    header above it: the suite's `get-header-value-multiline` expects those lines
    joined by commas, the rule for repeated headers.
    """
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    method, _, rest = lines[0].partition(" ")
    target = rest.rsplit(" ", 1)[0]
    path, _, query = target.partition("?")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            headers.append((headers[-1][0], line))
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    return SignedRequest(method, path, query, headers, body.encode("utf-8", "surrogateescape"))
