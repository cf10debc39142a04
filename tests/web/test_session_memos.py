"""A worker's memos stay within `PER_SESSION` entries however many sessions sign requests.

Every credential a client uses is new to the verification memos, so a memo keyed by
session grows with the number of sessions a worker has seen until its cap: the cap is
what it costs in memory (~6 KB a session across them, docs/decisions/0009, "Soak").
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from gateway.settings import Settings
from gateway.sts.caches import PER_SESSION
from tests.conftest import LiveServer
from tests.sts_world import ACCOUNT_A, first_credentials
from tests.web.authorize_support import live_world, question

# The memos a verified /api/v1/authorize request fills once per session.
PER_SESSION_MEMOS = {
    "gateway.sts.credentials.derive_secret_access_key",
    "gateway.sts.credentials._open",
    "gateway.sts.sigv4.parse_credential",
    "gateway.sts.sigv4.signing_key",
    "gateway.sts.authorize._session_keys",
    "gateway.sts.authorize._principal",
    "gateway.sts.authorize._principal_fields",
    "gateway.web.api_authorize._principal_json",
}


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    live = live_world(settings)
    yield live
    live.stop()


def gateway_memos() -> dict[str, Any]:
    """Every functools LRU memo defined in a loaded gateway module, by dotted name."""
    found: dict[str, Any] = {}
    for name, module in list(sys.modules.items()):
        if name != "gateway" and not name.startswith("gateway."):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, functools._lru_cache_wrapper) and value.__module__ == name:
                found[f"{name}.{attr}"] = value
    return found


def test_more_sessions_than_the_memos_hold_leave_every_memo_at_its_cap(
    server: LiveServer,
) -> None:
    memos = gateway_memos()
    assert set(memos) >= PER_SESSION_MEMOS
    for memo in memos.values():
        memo.cache_clear()  # only a cost: every memo is a pure function's

    sessions = PER_SESSION + 100
    http = requests.Session()
    for _ in range(sessions):
        # A new session each time (its own access key, token and session id), the same
        # person and role: what grows is what is kept per session.
        creds = first_credentials(server.app)
        doc = question(creds, resource="arn:aws:s3:::a-bucket/x", resource_account=ACCOUNT_A)
        answer = http.post(f"{server.url}/api/v1/authorize", json=doc, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["decision"] == "allow"

    sizes = {name: memo.cache_info().currsize for name, memo in memos.items()}
    assert {name: size for name, size in sizes.items() if size > PER_SESSION} == {}
    # Each per-session memo saw every session and kept the most recent PER_SESSION.
    assert {name: sizes[name] for name in PER_SESSION_MEMOS} == dict.fromkeys(
        PER_SESSION_MEMOS, PER_SESSION
    )
