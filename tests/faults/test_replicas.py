"""Two `gateway serve` replicas sharing one Redis and one PostgreSQL database.

Both carry the same GATEWAY_BASE_URL (behind a load balancer they would be one site), so
a browser sign-in can start on one and finish on the other. Credentials minted by one
are verified and revoked through the other, and a configuration change made on one (in
the admin console or with `gateway config import`) is live on the other within 1 s.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import yaml
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.devtools import saml_idp
from tests.conftest import RedisServer
from tests.faults.served import GATEWAY, ServedGateway, gateway_env, new_port
from tests.web.admin.support import csrf_token
from tests.web.saml_support import DEMO_PROVIDER_ARN, READONLY_DEV, demo_config, form_fields

POSTGRES = (
    os.environ.get("GATEWAY_TEST_POSTGRES_URL")
    or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RELOAD_PROMISE = 1.0  # seconds until a change on one replica is live on the other
ROLE_PAGE = "/admin/roles/222222222222/ReadOnly"


@pytest.fixture
def database() -> Iterator[str]:
    """A throwaway database in the test PostgreSQL server, dropped afterwards."""
    name = f"gw_replicas_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


class Replicas:
    def __init__(self, tmp: Path, redis_url: str, database: str) -> None:
        ports = new_port(), new_port()
        self.base_url = f"http://127.0.0.1:{ports[1]}"
        self.envs = [
            gateway_env(
                tmp / f"var-{i}",
                redis_url,
                port,
                GATEWAY_BASE_URL=self.base_url,
                GATEWAY_DATABASE_URL=database,
                GATEWAY_WORKERS="1",
                # The default: the promise holds without tuning.
                GATEWAY_CONFIG_RELOAD_INTERVAL="0.5",
            )
            for i, port in enumerate(ports)
        ]
        self.urls = [f"http://127.0.0.1:{port}" for port in ports]
        self.tmp = tmp
        self.idp = saml_idp.serve(self.base_url)
        self.cli("db", "upgrade")
        config = tmp / "config.yaml"
        config.write_text(demo_config(self.base_url, self.idp.metadata_url))
        self.cli("config", "import", str(config))
        self.servers = [
            ServedGateway(env, tmp / f"gateway-{i}.log") for i, env in enumerate(self.envs)
        ]
        for server in self.servers:
            server.start()

    def cli(self, *args: str, replica: int = 0) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(self.envs[replica])
        result = subprocess.run(
            [GATEWAY, *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def stop(self) -> None:
        for server in self.servers:
            assert server.stop() == 0
        self.idp.stop()


@pytest.fixture
def replicas(tmp_path: Path, redis_server: RedisServer, database: str) -> Iterator[Replicas]:
    running = Replicas(tmp_path, redis_server.url, database)
    try:
        yield running
    finally:
        running.stop()


def sts(url: str, **keys: str) -> Any:
    config = Config(
        retries={"total_max_attempts": 1},
        connect_timeout=5,
        read_timeout=30,
        **({} if keys else {"signature_version": UNSIGNED}),
    )
    return boto3.client(
        "sts", endpoint_url=f"{url}/sts", region_name="us-east-1", config=config, **keys
    )


def refusal(client: Any) -> str | None:
    try:
        client.get_caller_identity()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return None


def until(check: Callable[[], bool], limit: float) -> float:
    """Seconds until `check()` held, polling for up to `limit` seconds (then fail)."""
    started = time.monotonic()
    while not check():
        elapsed = time.monotonic() - started
        assert elapsed < limit, f"still not true after {elapsed:.2f} s"
        time.sleep(0.02)
    return time.monotonic() - started


def sign_in(browser: requests.Session, start: str, idp_url: str) -> requests.Response:
    """The SAML sign-in a browser makes: start at `start`, the IdP's page, its auto-post."""
    page = browser.get(f"{start}/saml/login/demo-saml", timeout=30)
    assert page.status_code == 200 and page.url.startswith(idp_url), page.text
    fields = form_fields(page.text)
    fields["user"] = "alice"
    posted = browser.post(f"{idp_url}/sso/login", data=fields, timeout=30)
    assert posted.status_code == 200, posted.text
    answer = form_fields(posted.text)
    action = posted.text.split("action='", 1)[1].split("'", 1)[0]
    return browser.post(action, data=answer, allow_redirects=False, timeout=30)


def test_replicas_share_sign_ins_credentials_revocations_and_configuration(
    replicas: Replicas, record_property: Callable[[str, object], None]
) -> None:
    first, second = replicas.urls
    idp_url = replicas.idp.idp.base_url

    # A sign-in started on the first replica is finished by the second (its ACS), and the
    # session it started is good on either.
    browser = requests.Session()
    finished = sign_in(browser, first, idp_url)
    assert finished.status_code == 303 and finished.url.startswith(second)
    assert finished.headers["Location"] == "/console"
    for url in (first, second):
        console = browser.get(f"{url}/console", allow_redirects=False, timeout=30)
        assert console.status_code == 200 and "ReadOnly" in console.text

    # Credentials minted by the first replica verify through the second.
    minted = sts(first).assume_role_with_saml(
        RoleArn=READONLY_DEV,
        PrincipalArn=DEMO_PROVIDER_ARN,
        SAMLAssertion=replicas.idp.idp.response_b64("alice"),
    )["Credentials"]
    keys = {
        "aws_access_key_id": minted["AccessKeyId"],
        "aws_secret_access_key": minted["SecretAccessKey"],
        "aws_session_token": minted["SessionToken"],
    }
    assert sts(second, **keys).get_caller_identity()["Arn"].endswith("/alice@example.com")

    # Revoked in the second replica's admin console: refused by both.
    page = browser.get(f"{second}{ROLE_PAGE}", timeout=30)
    assert page.status_code == 200 and minted["AccessKeyId"] in page.text
    revoked = browser.post(
        f"{second}{ROLE_PAGE}/sessions/revoke",
        allow_redirects=False,
        timeout=30,
        data={"csrf_token": csrf_token(page.text), "access_key_id": minted["AccessKeyId"]},
    )
    assert revoked.status_code == 303, revoked.text
    assert refusal(sts(second, **keys)) == "InvalidClientTokenId"
    seen = {"revocation": until(lambda: refusal(sts(first, **keys)) == "InvalidClientTokenId", 5.0)}

    # A change in the first replica's admin console is live on the second within 1 s.
    exported = browser.get(f"{first}/admin/config/export.yaml", timeout=30)
    assert exported.status_code == 200
    document = yaml.safe_load(exported.text)
    saml = next(p for p in document["identity_providers"] if p["name"] == "demo-saml")
    saml["display_name"] = "Corporate sign-in (changed in the admin console)"
    form = browser.get(f"{first}/admin/config", timeout=30)
    applied = browser.post(
        f"{first}/admin/config",
        timeout=30,
        data={
            "csrf_token": csrf_token(form.text),
            "action": "import",
            "yaml": yaml.safe_dump(document, sort_keys=False),
        },
    )
    assert applied.status_code == 200, applied.text
    seen["admin change"] = until(
        lambda: "changed in the admin console" in requests.get(f"{second}/login", timeout=30).text,
        RELOAD_PROMISE,
    )

    # The same for `gateway config import` run against the second replica's settings.
    saml["display_name"] = "Corporate sign-in (changed with the CLI)"
    path = replicas.tmp / "changed.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    replicas.cli("config", "import", str(path), replica=1)
    seen["CLI change"] = until(
        lambda: all(
            "changed with the CLI" in requests.get(f"{url}/login", timeout=30).text
            for url in (first, second)
        ),
        RELOAD_PROMISE,
    )
    for what, seconds in seen.items():
        record_property(f"{what} seconds", round(seconds, 3))
    print(
        "\nseen by the other replica after: "
        + ", ".join(f"{what} {seconds:.3f} s" for what, seconds in seen.items())
    )
