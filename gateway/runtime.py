"""The per-process objects every request needs, reachable from the Flask app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis
from flask import current_app
from sqlalchemy.engine import Engine

from gateway.config_cache import ConfigCache
from gateway.settings import Settings
from gateway.state.keys import Keys
from gateway.state.revocations import Revocations
from gateway.store.snapshot import Snapshot, load_snapshot
from gateway.sts.keyring import Keyring
from gateway.sts.keystore import load_keyring


class StartupError(Exception):
    """The gateway cannot start; the message is one line saying what and how to fix it."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a config version is: the snapshot and the keyring, swapped together."""

    snapshot: Snapshot
    keyring: Keyring

    @property
    def version(self) -> int:
        return self.snapshot.version


def loader(engine: Engine, master_key: bytes) -> Callable[[int], Loaded]:
    """Load the configuration and keyring at a version (both change through the DB)."""

    last: list[Snapshot] = []

    def load(version: int) -> Loaded:
        snapshot = load_snapshot(engine, version, previous=last[0] if last else None)
        last[:] = [snapshot]
        return Loaded(snapshot, load_keyring(engine, master_key))

    return load


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    redis: redis.Redis
    keys: Keys
    config: ConfigCache[Loaded]
    revocations: Revocations
    master_key: bytes

    @property
    def snapshot(self) -> Snapshot:
        return self.config.current().snapshot


def runtime() -> Runtime:
    """The runtime of the app handling the current request."""
    rt: Runtime = current_app.extensions["gateway"]
    return rt
