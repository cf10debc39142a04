"""W-11: a forged Host (or X-Forwarded-Host without a trusted proxy) never moves where the
IdP sends assertions: the AuthnRequest's ACS URL comes from GATEWAY_BASE_URL."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from lxml import etree

from tests.conftest import RedisServer


@pytest.fixture
def w(tmp_path: Path, redis_server: RedisServer) -> Iterator[Any]:
    from tests.web.saml_support import world

    with world(tmp_path, redis_server.url) as running:
        yield running


@pytest.mark.parametrize("headers", [{"Host": "evil.example"},
                                     {"X-Forwarded-Host": "evil.example"},
                                     {"Host": "evil.example", "X-Forwarded-Proto": "https"}])
def test_the_authn_request_names_the_configured_acs_whatever_the_host(
    w: Any, headers: dict[str, str]
) -> None:
    answer = requests.get(f"{w.url}/saml/login/demo-saml", headers=headers,
                          allow_redirects=False, timeout=20)
    assert answer.status_code == 303
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15)
    request = etree.fromstring(xml)
    assert request.get("AssertionConsumerServiceURL") == f"{w.url}/saml/acs"
    assert "evil.example" not in answer.headers["Location"]
