"""Rate limits per client address and per subject, each proven with the flood it stops.

Clients speak from different loopback addresses (127.0.0.x), so the gateway sees real
peers, not a header it was told to trust. Each refusal is the protocol's own throttling
answer with `Retry-After`: STS `Throttling` (400), RFC 6749 `slow_down` (429), an HTML
429 page for browsers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from requests.adapters import HTTPAdapter

from gateway import create_app
from gateway.store import audit
from gateway.web import ratelimit
from tests.conftest import LiveServer, RedisServer, make_settings
from tests.sts_world import Minted, first_credentials, load_world

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


class _FromAddress(HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client(address: str, http: requests.Session | None = None) -> requests.Session:
    """A session whose connections come from `address` (any 127.0.0.0/8 on Linux)."""
    http = http or requests.Session()
    http.mount("http://", _FromAddress(address))
    return http


def set_rates(app: Any, **rates: str) -> None:
    limits: ratelimit.RateLimits = app.extensions[ratelimit.EXTENSION]
    limits.rates.update(
        {scope.replace("_", ":"): ratelimit.Rate.parse(text) for scope, text in rates.items()}
    )


def get_caller_identity(
    url: str,
    creds: Minted,
    http: requests.Session,
    *,
    secret: str | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    c = creds.credentials
    request = AWSRequest(
        method="POST",
        url=f"{url}/sts",
        headers=dict(FORM),
        data={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
    )
    signer = SigV4Auth(
        Credentials(c.access_key_id, secret or c.secret_access_key, c.session_token),
        "sts",
        "us-east-1",
    )
    signer.add_auth(request)
    prepared = request.prepare()
    return http.post(
        prepared.url,
        data=prepared.body,
        headers={**dict(prepared.headers), **(headers or {})},
        timeout=10,
    )


def code_of(answer: requests.Response) -> str:
    found = re.search(r"<Code>([^<]+)</Code>", answer.text)
    return found.group(1) if found else ""


@pytest.fixture
def sts(tmp_path: Path, redis_server: RedisServer) -> Iterator[LiveServer]:
    app = create_app(make_settings(tmp_path, redis_server.url))
    load_world(app)
    server = LiveServer(app)
    yield server
    server.stop()


def test_signed_burst_from_one_address_is_throttled_while_another_address_is_served(
    sts: LiveServer,
) -> None:
    set_rates(sts.app, signed_address="4/minute", signed_subject="100/minute")
    alice = first_credentials(sts.app)
    one, two = client("127.0.0.1"), client("127.0.0.2")
    answers = [get_caller_identity(sts.url, alice, one) for _ in range(5)]
    assert [a.status_code for a in answers[:4]] == [200] * 4
    assert answers[4].status_code == 400 and code_of(answers[4]) == "Throttling"
    assert "<Message>Rate exceeded</Message>" in answers[4].text
    assert 1 <= int(answers[4].headers["Retry-After"]) <= 60
    assert get_caller_identity(sts.url, alice, two).status_code == 200


def test_signed_calls_are_limited_per_person_across_addresses_and_sessions(
    sts: LiveServer,
) -> None:
    set_rates(sts.app, signed_address="100/minute", signed_subject="3/minute")
    alice = first_credentials(sts.app)
    for address in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        assert get_caller_identity(sts.url, alice, client(address)).status_code == 200
    fourth = get_caller_identity(sts.url, alice, client("127.0.0.4"))
    assert code_of(fourth) == "Throttling" and "Retry-After" in fourth.headers
    # A fresh session for the same person does not reset the allowance ...
    again = first_credentials(sts.app)
    assert code_of(get_caller_identity(sts.url, again, client("127.0.0.5"))) == "Throttling"
    # ... and another person on the same address is unaffected.
    bob = first_credentials(sts.app, session_name="bob")
    assert get_caller_identity(sts.url, bob, client("127.0.0.4")).status_code == 200


def test_forged_signatures_use_up_the_address_so_keys_cannot_be_probed_fast(
    sts: LiveServer,
) -> None:
    """T-20: a wrong secret (or a random key id) is an oracle only at the address's pace."""
    set_rates(sts.app, signed_address="3/minute")
    alice = first_credentials(sts.app)
    probe = client("127.0.0.6")
    forged = [get_caller_identity(sts.url, alice, probe, secret="x" * 40) for _ in range(3)]
    assert [code_of(a) for a in forged] == ["SignatureDoesNotMatch"] * 3
    throttled = get_caller_identity(sts.url, alice, probe, secret="x" * 40)
    assert code_of(throttled) == "Throttling" and int(throttled.headers["Retry-After"]) >= 1
    # Even a correct signature from that address waits; elsewhere the key works.
    assert code_of(get_caller_identity(sts.url, alice, probe)) == "Throttling"
    assert get_caller_identity(sts.url, alice, client("127.0.0.7")).status_code == 200


def test_rotating_x_forwarded_for_does_not_escape_the_address_limit(sts: LiveServer) -> None:
    """W-09: with no trusted proxy configured, X-Forwarded-For is the attacker's word."""
    set_rates(sts.app, signed_address="2/minute")
    alice = first_credentials(sts.app)
    http = client("127.0.0.8")
    codes = [
        code_of(
            get_caller_identity(sts.url, alice, http, headers={"X-Forwarded-For": f"10.0.0.{i}"})
        )
        for i in range(4)
    ]
    assert codes[2:] == ["Throttling", "Throttling"]


def test_a_flood_of_throttled_requests_is_audited_once_per_window(sts: LiveServer) -> None:
    set_rates(sts.app, signed_address="2/minute")
    alice = first_credentials(sts.app)
    http = client("127.0.0.9")
    answers = [get_caller_identity(sts.url, alice, http) for _ in range(30)]
    assert sum(code_of(a) == "Throttling" for a in answers) == 28
    rt = sts.app.extensions["gateway"]
    events = audit.recent(rt.engine, audit.AuditFilter(event_type="credentials.refused"), limit=100)
    throttled = [e for e in events if e.error_code == "Throttling"]
    assert len(throttled) == 1 and throttled[0].source_ip == "127.0.0.9"


def test_counters_are_hashed_and_always_expire(sts: LiveServer) -> None:
    """W-10: no client-chosen text in key names, and a TTL on every counter."""
    set_rates(sts.app, signed_address="2/minute")
    alice = first_credentials(sts.app)
    for _ in range(3):
        get_caller_identity(sts.url, alice, client("127.0.0.10"))
    rt = sts.app.extensions["gateway"]
    # Signed calls are counted in process and sent to Redis in batches (every 0.1 s).
    deadline = time.monotonic() + 5
    while len(keys := rt.redis.keys(f"{rt.keys.prefix}rl:*")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(keys) == 2  # the address and the person
    for key in keys:
        name = key.decode()
        assert "127.0.0" not in name and "alice" not in name
        assert re.fullmatch(
            rf"{re.escape(rt.keys.prefix)}rl:signed:(address|subject):"
            r"[0-9a-f]{32}",
            name,
        )
        assert 0 < rt.redis.ttl(key) <= 60


# ---------------------------------------------------------------- browser sign-in


@pytest.fixture
def saml_world(tmp_path: Path, redis_server: RedisServer) -> Iterator[Any]:
    from tests.web.saml_support import world

    with world(tmp_path, redis_server.url) as running:
        yield running


def test_sign_in_starts_from_one_address_get_a_429_page_other_addresses_go_on(
    saml_world: Any,
) -> None:
    set_rates(saml_world.gateway.app, signin_address="3/minute")
    url = f"{saml_world.url}/saml/login/demo-saml"
    one = client("127.0.0.1")
    starts = [one.get(url, allow_redirects=False, timeout=10) for _ in range(4)]
    assert [s.status_code for s in starts[:3]] == [303] * 3
    page = starts[3]
    assert page.status_code == 429 and page.headers["Content-Type"].startswith("text/html")
    assert 1 <= int(page.headers["Retry-After"]) <= 60
    assert "Too many sign-in attempts" in page.text
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert client("127.0.0.2").get(url, allow_redirects=False, timeout=10).status_code == 303


def test_sign_ins_are_limited_per_person_across_addresses(saml_world: Any) -> None:
    from tests.web.saml_support import Browser

    set_rates(saml_world.gateway.app, signin_subject="2/minute")
    for address in ("127.0.0.1", "127.0.0.2"):
        browser = Browser(saml_world)
        client(address, browser.http)
        assert "/console" in browser.sign_in("alice").url
    third = Browser(saml_world)
    client("127.0.0.3", third.http)
    action, fields = third.idp_login(third.start(), "alice")
    refused = third.post(action, fields)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # No session was started for the throttled sign-in.
    assert third.http.get(f"{saml_world.url}/console", allow_redirects=False).status_code == 303
    # Bob, from the very same address, signs in.
    bob = Browser(saml_world)
    client("127.0.0.3", bob.http)
    assert "/console" in bob.sign_in("bob").url


def test_junk_saml_responses_are_throttled_per_address_before_xml_work(
    saml_world: Any,
) -> None:
    set_rates(saml_world.gateway.app, signin_address="3/minute")
    saml_world.gateway.app.config["GATEWAY_SAML_REFUSALS_PER_MINUTE"] = 10_000
    junk = client("127.0.0.4")
    statuses = [
        junk.post(
            f"{saml_world.url}/saml/acs", data={"SAMLResponse": "junk"}, timeout=10
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [400, 400, 400, 429, 429]


# ---------------------------------------------------------------- AssumeRoleWithSAML


def test_assume_role_with_saml_floods_are_throttled_per_address(sts: LiveServer) -> None:
    set_rates(sts.app, sts_address="3/minute")
    sts.app.config["GATEWAY_SAML_REFUSALS_PER_MINUTE"] = 10_000
    form = {
        "Action": "AssumeRoleWithSAML",
        "Version": "2011-06-15",
        "RoleArn": "arn:aws:iam::111111111111:role/Base",
        "PrincipalArn": "arn:aws:iam::111111111111:saml-provider/corp",
        "SAMLAssertion": "PHNhbWw+",
    }
    flood = client("127.0.0.11")
    codes = [code_of(flood.post(f"{sts.url}/sts", data=form, timeout=10)) for _ in range(5)]
    assert codes[:3] != ["Throttling"] * 3 and "Throttling" not in codes[:3]
    assert codes[3:] == ["Throttling", "Throttling"]
    assert (
        code_of(client("127.0.0.12").post(f"{sts.url}/sts", data=form, timeout=10)) != "Throttling"
    )
