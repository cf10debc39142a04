"""`/api/v1/authorize` rate limits, each proven with the flood it stops.

Counted like signed STS calls (gateway.web.ratelimit, family `authorize`): per client
address (the resource server's) and, once the forwarded signature is verified, per person
behind the access key. A refusal is a JSON problem 429 `Throttling` with Retry-After;
the first of each counter's window is audited as `authorize.refused`. Clients speak from
different loopback addresses, so the gateway sees real peers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway.store import audit
from tests.conftest import LiveServer, RedisServer, make_settings
from tests.sts_world import Minted, first_credentials
from tests.web.authorize_support import ALLOW_A_SHARED, live_world, question
from tests.web.test_rate_limits import client

Serve = Callable[..., LiveServer]


@pytest.fixture
def serve(tmp_path: Path, redis_server: RedisServer) -> Iterator[Serve]:
    """A live two-account world with the GATEWAY_* settings given (one per test)."""
    started: list[LiveServer] = []

    def start(**env: str) -> LiveServer:
        server = live_world(make_settings(tmp_path, redis_server.url, **env))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def ask(server: LiveServer, http: requests.Session, creds: Minted, **kw: Any) -> requests.Response:
    doc = question(creds, resource_policy=ALLOW_A_SHARED, **kw)
    return http.post(f"{server.url}/api/v1/authorize", json=doc, timeout=10)


def throttled_rows(server: LiveServer) -> list[audit.AuditEvent]:
    rt = server.app.extensions["gateway"]
    events = audit.recent(rt.engine, audit.AuditFilter(event_type="authorize.refused"))
    return [e for e in events if e.error_code == "Throttling"]


def assert_throttled(answer: requests.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    body = answer.json()
    assert (body["code"], body["title"], body["status"]) == ("Throttling", "Throttling", 429)
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    assert "decision" not in body and "principal" not in body


def test_a_flood_about_one_persons_key_is_throttled_while_another_persons_key_works(
    serve: Serve,
) -> None:
    server = serve(
        GATEWAY_RATE_LIMIT_AUTHORIZE_ADDRESS="1000/minute",
        GATEWAY_RATE_LIMIT_AUTHORIZE_SUBJECT="3/minute",
    )
    alice, bob = first_credentials(server.app), first_credentials(server.app, session_name="bob")
    resource_server = client("127.0.0.1")
    answers = [ask(server, resource_server, alice) for _ in range(3)]
    assert [a.json()["decision"] for a in answers] == ["allow"] * 3
    flood = [ask(server, resource_server, alice) for _ in range(10)]
    for answer in flood:
        assert_throttled(answer)
    # Per person, not per key: a fresh session of alice's, from another address, waits too.
    assert_throttled(ask(server, client("127.0.0.2"), first_credentials(server.app)))
    # Bob, through the very same resource server, is answered.
    assert ask(server, resource_server, bob).json()["decision"] == "allow"
    # Audited like any refusal, once per counter and window: not a row per request.
    [row] = throttled_rows(server)
    assert row.access_key_id == alice.credentials.access_key_id
    assert row.principal_arn == alice.claims.arn and row.source_ip == "127.0.0.1"
    assert (row.detail or {})["scope"] == "authorize:subject"


def test_a_flood_of_forged_signatures_from_one_address_is_throttled_others_are_served(
    serve: Serve,
) -> None:
    """Each forged question is a signature check and an audit row: the address pays."""
    server = serve(GATEWAY_RATE_LIMIT_AUTHORIZE_ADDRESS="4/minute")
    alice = first_credentials(server.app)
    attacker = client("127.0.0.3")
    forged = [ask(server, attacker, alice, secret="x" * 40) for _ in range(4)]
    assert [a.json()["code"] for a in forged] == ["SignatureDoesNotMatch"] * 4
    for _ in range(10):
        assert_throttled(ask(server, attacker, alice, secret="x" * 40))
    # A correct signature from that address waits as well; from another it is answered.
    assert_throttled(ask(server, attacker, alice))
    assert ask(server, client("127.0.0.4"), alice).json()["decision"] == "allow"
    refused = throttled_rows(server)
    assert len(refused) == 1 and refused[0].source_ip == "127.0.0.3"
    assert (refused[0].detail or {})["scope"] == "authorize:address"
    # Forged ones are each audited, as every authorize refusal is, up to the one that
    # went over (counted after its answer, decision 0012): the flood's ten are not.
    rt = server.app.extensions["gateway"]
    events = audit.recent(rt.engine, audit.AuditFilter(event_type="authorize.refused"))
    assert sum(e.error_code == "SignatureDoesNotMatch" for e in events) == 5
