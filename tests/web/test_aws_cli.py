"""docs/cli-and-sdk.md, executed: the real AWS CLI and boto3 against a live gateway.

Every run gets its own HOME, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE, and no
AWS_* variable from the outside, so nothing on the machine leaks in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest

from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store import audit
from tests.conftest import LiveServer
from tests.sts_world import (
    ACCOUNT_A,
    ACCOUNT_B,
    CHAINED_ROLE,
    CROSS_ROLE,
    Minted,
    first_credentials,
)
from tests.web.authorize_support import live_world

AWS = Path(sys.executable).with_name("aws")


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    live = live_world(settings)
    yield live
    live.stop()


class AwsHome:
    """A throwaway ~/.aws for one test."""

    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        (self.home / ".aws").mkdir(parents=True)
        self.config = self.home / ".aws" / "config"
        self.credentials = self.home / ".aws" / "credentials"
        self.config.write_text("")
        self.credentials.write_text("")

    def add_credentials(self, profile: str, creds: Minted) -> None:
        c = creds.credentials
        with self.credentials.open("a") as f:
            f.write(f"[{profile}]\naws_access_key_id = {c.access_key_id}\n"
                    f"aws_secret_access_key = {c.secret_access_key}\n"
                    f"aws_session_token = {c.session_token}\n\n")

    def add_profile(self, name: str, **settings: str) -> None:
        section = "default" if name == "default" else f"profile {name}"
        lines = "".join(f"{k} = {v}\n" for k, v in settings.items())
        with self.config.open("a") as f:
            f.write(f"[{section}]\n{lines}\n")

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            HOME=str(self.home),
            AWS_CONFIG_FILE=str(self.config),
            AWS_SHARED_CREDENTIALS_FILE=str(self.credentials),
            AWS_EC2_METADATA_DISABLED="true",
            AWS_DEFAULT_REGION="us-east-1",
        )
        env.update(extra)
        return env

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> Any:
        done = subprocess.run(
            [str(AWS), *args, "--output", "json"], env=dict(env or self.env()),
            capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture
def aws(tmp_path: Path) -> AwsHome:
    return AwsHome(tmp_path)


def issued(server: LiveServer, role_arn: str) -> list[audit.AuditEvent]:
    rt: Runtime = server.app.extensions["gateway"]
    return audit.recent(rt.engine, audit.AuditFilter(event_type="credentials.issued",
                                                     role_arn=role_arn))


def test_cli_get_caller_identity_with_environment_credentials(
    server: LiveServer, aws: AwsHome
) -> None:
    creds = first_credentials(server.app)
    c = creds.credentials
    env = aws.env(AWS_ACCESS_KEY_ID=c.access_key_id, AWS_SECRET_ACCESS_KEY=c.secret_access_key,
                  AWS_SESSION_TOKEN=c.session_token)
    who = aws.run("sts", "get-caller-identity", "--endpoint-url", f"{server.url}/sts", env=env)
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT_A}:assumed-role/Base/alice"
    assert who["Account"] == ACCOUNT_A
    # AWS_ENDPOINT_URL_STS instead of --endpoint-url.
    who = aws.run("sts", "get-caller-identity",
                  env={**env, "AWS_ENDPOINT_URL_STS": f"{server.url}/sts"})
    assert who["UserId"] == f"{creds.claims.role_id}:alice"


def test_cli_role_chaining_profile_calls_assume_role_on_the_gateway(
    server: LiveServer, aws: AwsHome
) -> None:
    aws.add_credentials("signin", first_credentials(server.app))
    aws.add_profile("chained", role_arn=CHAINED_ROLE, source_profile="signin",
                    role_session_name="cli-chained")
    env = aws.env(AWS_ENDPOINT_URL_STS=f"{server.url}/sts")
    who = aws.run("sts", "get-caller-identity", "--profile", "chained", env=env)
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT_A}:assumed-role/Chained/cli-chained"
    assert [e.detail["action"] for e in issued(server, CHAINED_ROLE)] == ["AssumeRole"]

    # endpoint_url in the profiles instead of the environment; across accounts with an
    # external id, as the docs' partner example shows.
    aws.add_profile("partner", role_arn=CROSS_ROLE, source_profile="signin",
                    external_id="partner-42", role_session_name="cli-partner",
                    endpoint_url=f"{server.url}/sts")
    aws.add_profile("signin", endpoint_url=f"{server.url}/sts")
    who = aws.run("sts", "get-caller-identity", "--profile", "partner")
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT_B}:assumed-role/CrossAccount/cli-partner"

    # A `services` section naming the STS endpoint only.
    aws.add_profile("viaservices", role_arn=CHAINED_ROLE, source_profile="signin-services",
                    role_session_name="cli-services", services="gateway")
    aws.add_profile("signin-services", services="gateway")
    with aws.config.open("a") as f:
        f.write(f"[services gateway]\nsts =\n  endpoint_url = {server.url}/sts\n\n")
    aws.add_credentials("signin-services", first_credentials(server.app, session_name="sv"))
    who = aws.run("sts", "get-caller-identity", "--profile", "viaservices")
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT_A}:assumed-role/Chained/cli-services"


def test_cli_consumes_credential_process_output(server: LiveServer, aws: AwsHome) -> None:
    aws.add_credentials("signin", first_credentials(server.app))
    command = (f"{sys.executable} -m gateway.credential_process --source-profile signin "
               f"--role-arn {CHAINED_ROLE} --role-session-name from-process "
               f"--endpoint-url {server.url}/sts")
    aws.add_profile("viaprocess", credential_process=command)
    who = aws.run("sts", "get-caller-identity", "--profile", "viaprocess",
                  "--endpoint-url", f"{server.url}/sts")
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT_A}:assumed-role/Chained/from-process"


def test_credential_process_prints_the_documented_json(server: LiveServer, aws: AwsHome) -> None:
    aws.add_credentials("signin", first_credentials(server.app))
    base = [sys.executable, "-m", "gateway.credential_process", "--source-profile", "signin",
            "--endpoint-url", f"{server.url}/sts", "--duration-seconds", "900"]
    done = subprocess.run([*base, "--role-arn", CHAINED_ROLE], env=aws.env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert set(doc) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken",
                        "Expiration", "AccountId"}
    assert doc["Version"] == 1 and doc["AccountId"] == ACCOUNT_A
    assert doc["AccessKeyId"].startswith("ASIA") and len(doc["SecretAccessKey"]) == 40
    assert doc["Expiration"].endswith("Z")
    # Refused: exit 1, the reason on stderr, nothing on stdout.
    done = subprocess.run([*base, "--role-arn", f"arn:aws:iam::{ACCOUNT_B}:role/Closed"],
                          env=aws.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "AccessDenied" in done.stderr


def test_boto3_role_chaining_profile_with_aws_endpoint_url_sts(
    server: LiveServer, aws: AwsHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.add_credentials("signin", first_credentials(server.app))
    aws.add_profile("chained", role_arn=CHAINED_ROLE, source_profile="signin",
                    role_session_name="sdk-chained", region="us-east-1")
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in aws.env(AWS_ENDPOINT_URL_STS=f"{server.url}/sts").items():
        if name.startswith("AWS_") or name == "HOME":
            monkeypatch.setenv(name, value)
    who = boto3.Session(profile_name="chained").client("sts").get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT_A}:assumed-role/Chained/sdk-chained"
