"""The per-process objects every request needs, reachable from the Flask app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from flask import current_app
from sqlalchemy.engine import Engine

from gateway.config_cache import ConfigCache
from gateway.settings import Settings
from gateway.state.keys import Keys

if TYPE_CHECKING:
    from gateway.store.snapshot import Snapshot


class StartupError(Exception):
    """The gateway cannot start; the message is one line saying what and how to fix it."""


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    redis: redis.Redis
    keys: Keys
    config: ConfigCache[Snapshot]
    master_key: bytes


def runtime() -> Runtime:
    """The runtime of the app handling the current request."""
    rt: Runtime = current_app.extensions["gateway"]
    return rt
