"""A gateway run as operators run it (`gateway serve`: gunicorn, real workers) for the
fault tests, with the configuration and first credentials prepared in-process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from gateway import create_app
from gateway.devtools.emulators import Emulators
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store.config_io import import_config
from tests.conftest import free_port
from tests.sources.oidc.world import world as oidc_world
from tests.sts_world import WORLD

GATEWAY = str(Path(sys.executable).with_name("gateway"))
MASTER_KEY = "22" * 32


def gateway_env(var_dir: Path, redis_url: str, port: int, **overrides: str) -> dict[str, str]:
    """The GATEWAY_* variables of one gateway process (nothing inherited from the caller)."""
    env = {
        "GATEWAY_BIND": f"127.0.0.1:{port}",
        "GATEWAY_BASE_URL": f"http://127.0.0.1:{port}",
        "GATEWAY_VAR_DIR": str(var_dir),
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_MASTER_KEY": MASTER_KEY,
        "GATEWAY_WORKERS": "2",
        "GATEWAY_CONFIG_RELOAD_INTERVAL": "0.1",
        # The load below is one client address and one subject: keep it under the limits.
        "GATEWAY_RATE_LIMIT_ADDRESS": "100000/minute",
        "GATEWAY_RATE_LIMIT_SUBJECT": "100000/minute",
        "GATEWAY_RATE_LIMIT_STS_ADDRESS": "100000/minute",
        "GATEWAY_RATE_LIMIT_STS_SUBJECT": "100000/minute",
        "GATEWAY_RATE_LIMIT_AUTHORIZE_ADDRESS": "100000/minute",
        "GATEWAY_RATE_LIMIT_AUTHORIZE_SUBJECT": "100000/minute",
    }
    env.update(overrides)
    return env


def world_yaml(emulators: Emulators) -> str:
    """The STS test world (SAML `corp`, roles Base and friends) plus the OpenID provider
    `test-oidc` with its roles, all pointing at the running emulators."""
    document = yaml.safe_load(WORLD)
    extra = oidc_world(emulators)
    oidc_roles = [
        r for r in extra["accounts"][0]["roles"] if r["name"] in ("OidcReader", "OidcBuilder")
    ]
    account_a = next(a for a in document["accounts"] if a["id"] == extra["accounts"][0]["id"])
    account_a["roles"].extend(oidc_roles)
    document["identity_providers"].extend(
        p for p in extra["identity_providers"] if p["name"] == "test-oidc"
    )
    return yaml.safe_dump(document, sort_keys=False)


def prepare(env: dict[str, str], config: str) -> Any:
    """Migrate, create the keyring and import `config` through an in-process app (the
    same database and master key the server will use); the app mints test credentials."""
    app = create_app(Settings.from_env(env))
    rt: Runtime = app.extensions["gateway"]
    import_config(rt.engine, config, actor="test")
    rt.config.bump()
    return app


class ServedGateway:
    """`gateway serve` in a child process; stderr kept in a file to read afterwards."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        self.env.update(env)
        self.url = f"http://{env['GATEWAY_BIND']}"  # where it listens (the base URL may be a proxy)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServedGateway:
        with self.log.open("ab") as err:
            self.process = subprocess.Popen(
                [GATEWAY, "serve"], env=self.env, stderr=err, stdout=subprocess.DEVNULL
            )
        deadline = time.monotonic() + 60
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"gateway exited: {self.log.read_text()}"
            try:
                ready = requests.get(f"{self.url}/readyz", timeout=5)
                if ready.status_code == 200:
                    return self
                last = ready.text
            except requests.RequestException as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise AssertionError(f"gateway did not become ready ({last}): {self.log.read_text()}")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def worker_pids(self) -> list[int]:
        """Every worker gunicorn booted so far (a crashed worker is replaced: a new pid)."""
        return [int(p) for p in re.findall(r"Booting worker with pid: (\d+)", self.log.read_text())]

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def new_port() -> int:
    return free_port()
