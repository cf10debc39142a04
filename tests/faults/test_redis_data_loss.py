"""Redis restarted empty (no persistence, a flush, a fail-over to an empty replica).

People are signed out (sessions lived only in Redis, as documented), but a revoked
credential must never work again: revocations are never withdrawn, so a gateway
process that knows a live revocation Redis no longer holds writes it back.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from gateway.devtools.emulators import Emulators
from gateway.state.keys import Keys
from gateway.state.revocations import Revocations, RevocationStateUnknown
from tests.conftest import RedisServer
from tests.faults.traffic import (
    World,
    call_authorize,
    call_portal,
    call_sts,
    call_token,
    revoked_is_refused,
    sts_client,
)
from tests.sources.oidc import signin

KEY_ID = "ASIAREVOKEDEXAMPLE01"


def test_a_process_writes_back_revocations_redis_lost(redis_server: RedisServer) -> None:
    keys = Keys("t:")
    first = Revocations(redis_server.client(), keys, interval=0.0)
    second = Revocations(redis_server.client(), keys, interval=0.0)
    first.revoke(KEY_ID, int(time.time()) + 3600)
    expired = "ASIAEXPIREDEXAMPLE01"
    first.revoke(expired, int(time.time()) + 1)
    assert second.is_revoked(KEY_ID) and second.is_revoked(expired)

    redis_server.client().flushall()  # what a restart without persistence leaves
    time.sleep(1.1)  # the second entry expires meanwhile: it is not restored
    assert second.is_revoked(KEY_ID)
    stored = redis_server.client().zrange(keys.revoked, 0, -1)
    assert stored == [KEY_ID.encode()], "the live revocation was not written back"
    # Every other process sees the list again (a new version token told it to re-read).
    assert Revocations(redis_server.client(), keys).is_revoked(KEY_ID)
    assert not Revocations(redis_server.client(), keys).is_revoked(expired)


def test_a_list_past_its_staleness_limit_is_not_trusted_between_checks(
    redis_server: RedisServer,
) -> None:
    # Between two re-checks (here 60 s apart) a worker used to answer from its copy even
    # once Redis had been gone longer than the staleness limit; with fail mode closed it
    # must refuse instead, whenever it is asked.
    revocations = Revocations(redis_server.client(), Keys("t:"), interval=60.0, stale_after=0.2)
    assert revocations.is_revoked(KEY_ID) is False
    redis_server.stop()
    time.sleep(0.3)
    with pytest.raises(RevocationStateUnknown):
        revocations.is_revoked(KEY_ID)
    open_mode = Revocations(redis_server.client(), Keys("t:"), stale_after=0.2, fail_open=True)
    assert open_mode.is_revoked(KEY_ID) is False  # fail open answers from what it knows


def test_a_version_counter_restarting_cannot_hide_a_new_revocation(
    redis_server: RedisServer,
) -> None:
    keys = Keys("t:")
    reader = Revocations(redis_server.client(), keys, interval=0.0)
    writer = Revocations(redis_server.client(), keys, interval=0.0)
    writer.revoke("ASIAFIRST00000000001", int(time.time()) + 3600)
    assert reader.is_revoked("ASIAFIRST00000000001")
    redis_server.client().flushall()
    # Another process revokes right after the loss, before this one looked again.
    Revocations(redis_server.client(), keys).revoke("ASIASECOND0000000002", int(time.time()) + 60)
    assert reader.is_revoked("ASIASECOND0000000002")
    assert reader.is_revoked("ASIAFIRST00000000001")


def test_served_gateway_after_redis_returns_empty(
    tmp_path: Path, redis_server: RedisServer, emulators: Emulators
) -> None:
    # One worker: the process that has read the revocation list is the one that serves.
    world = World(tmp_path, redis_server, emulators, GATEWAY_WORKERS="1")
    try:
        url = world.server.url
        good = sts_client(url, world.good)
        assert call_sts(good)[0] == 200
        assert revoked_is_refused(world) == (403, "InvalidClientTokenId")
        assert call_portal(url, world.cookie)[0] == 200

        redis_server.stop()
        redis_server.start()
        back = time.monotonic()
        assert redis_server.client().dbsize() == 0

        answers = []
        while time.monotonic() < back + 3:
            answers.append(revoked_is_refused(world))
            assert call_sts(good)[0] == 200
        assert set(answers) == {(403, "InvalidClientTokenId")}, "a revoked credential worked"
        assert (
            redis_server.client().zscore(
                world.rt.keys.revoked, world.revoked.credentials.access_key_id
            )
            is not None
        )
        assert call_authorize(url, world.good)[:2] == (200, True)
        assert call_token(url, world.id_token)[:2] == (200, True)

        # Signed out, not an error: the old cookie leads to the sign-in page.
        old = requests.get(
            f"{url}/console",
            cookies={"gw_session": world.cookie},
            allow_redirects=False,
            timeout=10,
        )
        assert old.status_code == 303 and old.headers["Location"] == "/login"
        browser = requests.Session()
        query = signin.start(browser, world.server, "test-oidc")  # type: ignore[arg-type]
        done = signin.finish(browser, signin.approve(browser, query))
        assert done.status_code == 303
        assert call_portal(url, browser.cookies["gw_session"])[:2] == (200, True)
    finally:
        assert world.server.stop() == 0
