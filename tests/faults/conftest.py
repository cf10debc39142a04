"""Fixtures the fault tests share: a throwaway PostgreSQL cluster and the IdP emulators.

Module-scoped, so each test module gets its own (a module that stops the cluster or needs
emulators behind a switch, as test_idp_down does, never disturbs another).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.devtools.emulators import Emulators, start_all
from tests.faults.postgres import Postgres, running_cluster


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    yield from running_cluster()


@pytest.fixture(scope="module")
def emulators() -> Iterator[Emulators]:
    running = start_all("127.0.0.1")
    yield running
    running.stop()
