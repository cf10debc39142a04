"""No secret ever reaches the logs.

`gateway serve` runs as in production (gunicorn, a subprocess) at DEBUG level, the most
it ever logs, with the demo identity providers. Through it: a SAML and an OpenID browser
sign-in, console credentials, AssumeRoleWithSAML, AssumeRoleWithWebIdentity, the RFC 8693
token exchange, then every credential used (GetCallerIdentity signed and presigned, the
authorization API), and refusals (a forged token, a wrong secret). Its whole output is
then scanned for every secret that passed through: secret access keys, session tokens,
ID tokens, SAML responses, authorization codes, client secrets and the master key, also
for any 20-character piece of them (a truncated secret is still a leak).
"""

from __future__ import annotations

import base64
import html
import os
import re
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import requests
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from gateway.devtools import emulators as emulator_pkg
from gateway.devtools import saml_idp
from gateway.devtools.emulators import DEMO_USERS
from tests.conftest import RedisServer, free_port
from tests.web.saml_support import form_action, form_fields

MASTER_KEY = "5a" * 32
PIECE = 20
GATEWAY = str(Path(sys.executable).with_name("gateway"))
CREDENTIALS = re.compile(r'id="(access-key-id|secret-access-key|session-token)">([^<]+)<')


def pieces(secret: str) -> list[str]:
    """The secret and every 20-character window of it (a step of 10)."""
    if len(secret) <= PIECE:
        return [secret]
    return [secret, *(secret[i:i + PIECE] for i in range(0, len(secret) - PIECE + 1, 10))]


class Creds:
    def __init__(self, access_key_id: str, secret: str, token: str) -> None:
        self.access_key_id, self.secret, self.token = access_key_id, secret, token

    @classmethod
    def of(cls, data: dict[str, Any]) -> Creds:
        return cls(data["AccessKeyId"], data["SecretAccessKey"], data["SessionToken"])


class Served:
    def __init__(self, tmp: Path, redis_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        self.env.update({
            "GATEWAY_VAR_DIR": str(tmp / "var"), "GATEWAY_REDIS_URL": redis_url,
            "GATEWAY_MASTER_KEY": MASTER_KEY, "GATEWAY_BIND": f"127.0.0.1:{self.port}",
            "GATEWAY_BASE_URL": self.url, "GATEWAY_WORKERS": "1",
            "GATEWAY_LOG_LEVEL": "DEBUG",
        })
        self.log = tmp / "gateway.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, config: str, tmp: Path) -> None:
        (tmp / "config.yaml").write_text(config)
        with self.log.open("ab") as out:
            subprocess.run([GATEWAY, "config", "import", str(tmp / "config.yaml")],
                           env=self.env, check=True, stdout=out, stderr=out)
        self.process = subprocess.Popen([GATEWAY, "serve"], env=self.env,
                                        stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if requests.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(self.log.read_text()[-2000:])

    def stop(self) -> str:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        return self.log.read_text(errors="replace")


def sts(served: Served, creds: Creds | None = None) -> Any:
    extra = {} if creds is None else {"aws_access_key_id": creds.access_key_id,
                                      "aws_secret_access_key": creds.secret,
                                      "aws_session_token": creds.token}
    if creds is None:
        extra = {"aws_access_key_id": "x", "aws_secret_access_key": "x"}
    return boto3.client("sts", endpoint_url=f"{served.url}/sts", region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}), **extra)


def saml_sign_in(served: Served, http: requests.Session) -> str:
    """The SAML browser flow; returns the SAMLResponse the IdP posted."""
    login = http.get(f"{served.url}/saml/login/demo-saml", timeout=20)
    fields = form_fields(login.text)
    picked = http.post(urlsplit(login.url)._replace(path="", query="").geturl()
                       + form_action(login.text), data={**fields, "user": "alice"}, timeout=20)
    posted = form_fields(picked.text)
    answer = http.post(form_action(picked.text), data=posted, allow_redirects=False, timeout=20)
    assert answer.status_code == 303, answer.text[:300]
    return posted["SAMLResponse"]


def console_credentials(served: Served, http: requests.Session) -> Creds:
    page = http.get(f"{served.url}/console", timeout=20).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    role = re.search(r'data-role-arn="([^"]+)"', page)
    assert token and role, page[:500]
    shown = http.post(f"{served.url}/console/credentials", timeout=20,
                      data={"csrf_token": token.group(1), "role_arn": html.unescape(role.group(1))})
    found = dict(CREDENTIALS.findall(shown.text))
    return Creds(found["access-key-id"], found["secret-access-key"],
                 html.unescape(found["session-token"]))


def oidc_sign_in(served: Served, http: requests.Session) -> str:
    """The OpenID browser flow; returns the authorization code the IdP sent back."""
    start = http.get(f"{served.url}/oidc/demo-oidc/login", allow_redirects=False, timeout=20)
    location = start.headers["Location"]
    query = dict(parse_qsl(urlsplit(location).query))
    fields = {k: v for k, v in query.items() if k not in ("response_type",
                                                          "code_challenge_method")}
    approved = http.post(location.split("?", 1)[0], data={**fields, "login": "alice"},
                         allow_redirects=False, timeout=20)
    callback = approved.headers["Location"]
    done = http.get(callback, allow_redirects=False, timeout=20)
    assert done.status_code == 303, done.text[:300]
    return dict(parse_qsl(urlsplit(callback).query))["code"]


def use(served: Served, creds: Creds) -> None:
    """GetCallerIdentity signed and presigned, and an authorization question."""
    assert sts(served, creds).get_caller_identity()["Arn"]
    request = AWSRequest(method="GET", url=f"{served.url}/sts",
                         params={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    SigV4QueryAuth(Credentials(creds.access_key_id, creds.secret, creds.token), "sts",
                   "us-east-1", expires=60).add_auth(request)
    assert requests.get(request.prepare().url, timeout=20).status_code == 200
    forwarded = AWSRequest(method="GET", url="http://objects.example.com/b/k")
    SigV4Auth(Credentials(creds.access_key_id, creds.secret, creds.token), "s3",
              "us-east-1").add_auth(forwarded)
    prepared = forwarded.prepare()
    question = {"method": "GET", "path": "/b/k", "query": "",
                "headers": [[k, v] for k, v in prepared.headers.items()]
                + [["Host", "objects.example.com"]],
                "service": "s3", "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"}
    answer = requests.post(f"{served.url}/api/v1/authorize", json=question, timeout=20)
    assert answer.status_code == 200, answer.text[:300]


def test_sign_in_exchange_and_use_leave_no_secret_in_the_logs(
    tmp_path: Path, redis_server: RedisServer,
) -> None:
    served = Served(tmp_path, redis_server.url)
    text = resources.files("gateway").joinpath("demo_config.yaml").read_text()
    text, emulators = emulator_pkg.demo_config(text)
    text, idp = saml_idp.demo_config(text, served.url)
    secrets: dict[str, str] = {"master key": MASTER_KEY}
    for name, pair in (("oidc", emulator_pkg.OIDC_CLIENT), ("google", emulator_pkg.GOOGLE_CLIENT),
                       ("facebook", emulator_pkg.FACEBOOK_APP),
                       ("amazon", emulator_pkg.AMAZON_CLIENT)):
        secrets[f"{name} client secret"] = pair[1]
    issued: list[Creds] = []
    try:
        served.start(text, tmp_path)
        # SAML: browser sign-in, console credentials, AssumeRoleWithSAML.
        browser = requests.Session()
        secrets["SAML response (browser)"] = saml_sign_in(served, browser)
        issued.append(console_credentials(served, browser))
        assertion = idp.idp.response_b64("alice")
        secrets["SAML response (STS)"] = assertion
        issued.append(Creds.of(sts(served).assume_role_with_saml(
            RoleArn="arn:aws:iam::111111111111:role/ReadOnly",
            PrincipalArn="arn:aws:iam::111111111111:saml-provider/demo-saml",
            SAMLAssertion=assertion)["Credentials"]))
        # OpenID: browser sign-in, token exchange, AssumeRoleWithWebIdentity.
        oidc_browser = requests.Session()
        secrets["authorization code"] = oidc_sign_in(served, oidc_browser)
        issued.append(console_credentials(served, oidc_browser))
        alice = DEMO_USERS[0]
        id_token = emulators.oidc.id_token(alice, emulator_pkg.OIDC_CLIENT[0])
        secrets["ID token (exchange)"] = id_token
        exchanged = requests.post(f"{served.url}/api/v1/token", timeout=20, data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": id_token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "audience": "arn:aws:iam::222222222222:role/engineering/Developer"})
        assert exchanged.status_code == 200, exchanged.text
        issued.append(Creds.of(exchanged.json()["credentials"]))
        web_token = emulators.oidc.id_token(alice, emulator_pkg.OIDC_CLIENT[0])
        secrets["ID token (STS)"] = web_token
        issued.append(Creds.of(sts(served).assume_role_with_web_identity(
            RoleArn="arn:aws:iam::222222222222:role/engineering/Developer",
            RoleSessionName="alice", WebIdentityToken=web_token)["Credentials"]))
        # Every credential used; then refusals, which log the most.
        for creds in issued:
            use(served, creds)
        forged = web_token[:-8] + ("A" * 8 if not web_token.endswith("A" * 8) else "B" * 8)
        secrets["forged ID token"] = forged
        refused = requests.post(f"{served.url}/sts", timeout=20, data={
            "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
            "RoleArn": "arn:aws:iam::222222222222:role/engineering/Developer",
            "RoleSessionName": "alice", "WebIdentityToken": forged})
        assert "InvalidIdentityToken" in refused.text
        wrong = Creds(issued[0].access_key_id, "w" * 40, issued[0].token)
        assert requests.post(f"{served.url}/sts", timeout=20, data={
            "Action": "GetCallerIdentity", "Version": "2011-06-15"}).status_code == 403
        try:
            sts(served, wrong).get_caller_identity()
        except Exception as exc:  # botocore ClientError: SignatureDoesNotMatch
            assert "SignatureDoesNotMatch" in str(exc)
    finally:
        log = served.stop()
        idp.stop()
        emulators.stop()
    for n, creds in enumerate(issued):
        secrets[f"secret access key {n}"] = creds.secret
        secrets[f"session token {n}"] = creds.token
    for name in [k for k in secrets if k.startswith(("SAML response", "ID token"))]:
        if name.startswith("SAML"):  # the signature values inside the posted XML, too
            xml = base64.b64decode(secrets[name]).decode()
            for n, value in enumerate(re.findall(r"SignatureValue>([^<]+)<", xml)):
                secrets[f"{name} signature {n}"] = re.sub(r"\s", "", value)
        else:
            secrets[f"{name} signature"] = secrets[name].rsplit(".", 1)[1]
    # The scan means something only if the log is the serving process's, at DEBUG: its
    # outbound call that carried the client secret and the code is there (not the body).
    assert "Booting worker" in log and '"POST /token HTTP/1.1" 200' in log, log[-2000:]
    leaks = {name: piece for name, secret in secrets.items() for piece in pieces(secret)
             if piece in log}
    assert not leaks, leaks
