"""AssumeRoleWithWebIdentity on /sts through boto3, for every provider kind, and every
token attack from the issue refused with AWS's error and an audit event."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from gateway.devtools.emulators import (
    AMAZON_CLIENT,
    DEMO_USERS,
    FACEBOOK_APP,
    GOOGLE_CLIENT,
    OIDC_CLIENT,
    OTHER_AMAZON_CLIENT,
    OTHER_FACEBOOK_APP,
    OTHER_OIDC_CLIENT,
    Emulators,
    SigningKey,
)
from gateway.runtime import Runtime
from gateway.sources import outbound
from gateway.sources.oidc import http, jwks
from gateway.store import audit
from tests.conftest import LiveServer
from tests.sources.oidc.world import (
    AMAZON_READER,
    CLOSED,
    FACEBOOK_READER,
    GOOGLE_READER,
    OIDC_READER,
)

ALICE, BOB, MALLORY = DEMO_USERS


def sts(server: LiveServer) -> Any:
    config = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=20,
                    parameter_validation=False, signature_version=botocore_unsigned())
    return boto3.client("sts", endpoint_url=f"{server.url}/sts", region_name="us-east-1",
                        config=config, aws_access_key_id="x", aws_secret_access_key="y")


def botocore_unsigned() -> Any:
    from botocore import UNSIGNED

    return UNSIGNED


def assume(server: LiveServer, token: str, role: str = OIDC_READER, **kwargs: Any) -> Any:
    return sts(server).assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="app-session", WebIdentityToken=token, **kwargs
    )


def refused(server: LiveServer, token: str, role: str = OIDC_READER,
            **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        assume(server, token, role, **kwargs)
    err = caught.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def last_refusal(rt: Runtime) -> audit.AuditEvent:
    events = audit.recent(rt.engine, audit.AuditFilter(event_type="credentials.refused"), 1)
    assert events, "the refusal was not audited"
    return events[0]


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# ------------------------------------------------------------------ each provider works


def test_oidc_id_token_gives_credentials_with_aws_fields(
    gateway: LiveServer, emulators: Emulators, rt: Runtime
) -> None:
    token = emulators.oidc.id_token(ALICE, OIDC_CLIENT[0])
    result = assume(gateway, token, DurationSeconds=3600)
    assert result["SubjectFromWebIdentityToken"] == ALICE.sub
    assert result["Provider"] == emulators.oidc.issuer
    assert result["Audience"] == OIDC_CLIENT[0]
    assert result["AssumedRoleUser"]["Arn"] == (
        "arn:aws:sts::111111111111:assumed-role/OidcReader/app-session"
    )
    assert result["Credentials"]["AccessKeyId"].startswith("ASIA")
    issued = audit.recent(rt.engine, audit.AuditFilter(event_type="credentials.issued"), 1)[0]
    assert issued.subject == ALICE.sub and issued.provider == emulators.oidc.issuer


def test_google_id_token_uses_azp_for_the_aud_condition(
    gateway: LiveServer, emulators: Emulators
) -> None:
    token = emulators.google.id_token(ALICE, GOOGLE_CLIENT[0])
    result = assume(gateway, token, GOOGLE_READER)
    assert result["SubjectFromWebIdentityToken"] == ALICE.sub
    assert result["Audience"] == GOOGLE_CLIENT[0]


def test_facebook_access_token_with_provider_id(
    gateway: LiveServer, emulators: Emulators
) -> None:
    token = emulators.facebook.issue_token(ALICE, FACEBOOK_APP[0])
    result = assume(gateway, token, FACEBOOK_READER, ProviderId="graph.facebook.com")
    assert result["SubjectFromWebIdentityToken"] == ALICE.facebook_id
    assert result["Provider"] == "graph.facebook.com"
    assert result["Audience"] == FACEBOOK_APP[0]


def test_facebook_limited_login_id_token(gateway: LiveServer, emulators: Emulators) -> None:
    token = emulators.facebook.limited_login_token(ALICE, FACEBOOK_APP[0])
    result = assume(gateway, token, FACEBOOK_READER)
    assert result["SubjectFromWebIdentityToken"] == ALICE.facebook_id
    assert result["Provider"] == "graph.facebook.com"


def test_amazon_access_token_with_provider_id(gateway: LiveServer, emulators: Emulators) -> None:
    token = emulators.amazon.issue_token(ALICE, AMAZON_CLIENT[0])
    result = assume(gateway, token, AMAZON_READER, ProviderId="www.amazon.com")
    assert result["SubjectFromWebIdentityToken"] == ALICE.amazon_id
    assert result["Provider"] == "www.amazon.com"
    assert result["Audience"] == AMAZON_CLIENT[0]


def test_the_sdk_web_identity_credential_provider_works_unmodified(
    gateway: LiveServer, emulators: Emulators, tmp_path: Path
) -> None:
    """AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN + AWS_ENDPOINT_URL_STS, in a fresh process."""
    token_file = tmp_path / "token"
    token_file.write_text(emulators.oidc.id_token(ALICE, OIDC_CLIENT[0]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file), "AWS_ROLE_ARN": OIDC_READER,
        "AWS_ROLE_SESSION_NAME": "sdk-session", "AWS_ENDPOINT_URL_STS": f"{gateway.url}/sts",
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
    })
    script = (
        "import boto3; c = boto3.Session().get_credentials().get_frozen_credentials();"
        "print(c.access_key[:4], c.token is not None);"
        "print(boto3.client('sts').get_caller_identity()['Arn'])"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first, arn = out.stdout.split("\n")[:2]
    assert first == "ASIA True"
    assert arn == "arn:aws:sts::111111111111:assumed-role/OidcReader/sdk-session"


# ------------------------------------------------------------------ attacks


def mint(emulators: Emulators, **overrides: Any) -> str:
    return emulators.oidc.id_token(ALICE, OIDC_CLIENT[0], **overrides)


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(header)}.{b64(claims)}.{b64(signature) if signature else ''}"


def test_alg_none_is_refused_even_when_discovery_lists_it(
    gateway: LiveServer, emulators: Emulators, rt: Runtime
) -> None:
    emulators.oidc.tweaks["algs"] = ["RS256", "none"]
    claims = emulators.oidc.claims_for(ALICE, OIDC_CLIENT[0], None)
    for token in (forge({"alg": "none", "typ": "JWT"}, claims),
                  forge({"alg": "none"}, claims) + "x",
                  forge({"alg": "None"}, claims, b"sig")):
        code, message, status = refused(gateway, token)
        assert (code, status) == ("InvalidIdentityToken", 400), message
    assert "algorithm is not allowed" in message
    assert last_refusal(rt).error_code == "InvalidIdentityToken"


def test_hs256_signed_with_the_providers_public_key_is_refused(
    gateway: LiveServer, emulators: Emulators, rt: Runtime
) -> None:
    import hashlib
    import hmac

    public_pem = emulators.oidc.key.key.as_pem(private=False)
    claims = emulators.oidc.claims_for(ALICE, OIDC_CLIENT[0], None)
    header = {"alg": "HS256", "kid": emulators.oidc.key.kid}
    signing_input = f"{b64(header)}.{b64(claims)}".encode()
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    code, message, _ = refused(gateway, forge(header, claims, signature))
    assert code == "InvalidIdentityToken" and "algorithm is not allowed" in message
    assert last_refusal(rt).detail["why"] == "alg='HS256'"


def count_jwks_fetches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    fetched: list[str] = []
    original = http.get_json

    def spy(url: str, **kwargs: Any) -> http.Reply:
        fetched.append(url)
        return original(url, **kwargs)

    monkeypatch.setattr(http, "get_json", spy)
    return fetched


def test_unknown_kid_refetches_the_key_set_at_most_once_per_interval(
    gateway: LiveServer, emulators: Emulators, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    assume(gateway, mint(emulators))  # the key set is now cached
    fetched = count_jwks_fetches(monkeypatch)
    stranger = SigningKey()
    for n in range(5):
        token = stranger.sign(emulators.oidc.claims_for(ALICE, OIDC_CLIENT[0], None),
                              {"kid": f"random-{n}"})
        code, message, _ = refused(gateway, token)
        assert code == "InvalidIdentityToken"
        assert message == "The token was not signed by a key the identity provider publishes."
    assert [u for u in fetched if u.endswith("/jwks")] == [], "refetched inside the interval"
    monkeypatch.setattr(jwks, "MIN_REFETCH", 0.0)
    refused(gateway, stranger.sign(emulators.oidc.claims_for(ALICE, OIDC_CLIENT[0], None)))
    assert len([u for u in fetched if u.endswith("/jwks")]) == 1
    assert last_refusal(rt).error_code == "InvalidIdentityToken"


def test_rotated_provider_key_is_found_by_one_refetch(
    gateway: LiveServer, emulators: Emulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    assume(gateway, mint(emulators))
    old = emulators.oidc.key
    emulators.oidc.key = SigningKey()
    try:
        monkeypatch.setattr(jwks, "MIN_REFETCH", 0.0)
        assert assume(gateway, mint(emulators))["Credentials"]["AccessKeyId"]
    finally:
        emulators.oidc.key = old


def test_kid_path_injection_is_only_an_unknown_kid(
    gateway: LiveServer, emulators: Emulators, rt: Runtime
) -> None:
    for kid in ("../../../../dev/null", "/etc/passwd", "x' OR '1'='1", "a" * 300):
        token = SigningKey(kid=kid).sign(emulators.oidc.claims_for(ALICE, OIDC_CLIENT[0], None))
        code, _, status = refused(gateway, token)
        assert (code, status) == ("InvalidIdentityToken", 400)
    assert last_refusal(rt).error_code == "InvalidIdentityToken"


def test_jku_x5u_and_embedded_jwk_headers_are_never_followed(
    gateway: LiveServer, emulators: Emulators, rt: Runtime
) -> None:
    attacker = SigningKey(kid=emulators.oidc.key.kid)  # same kid, attacker's key
    hits: list[str] = []
    with socket.socket() as trap:
        trap.bind(("127.0.0.1", 0))
        trap.listen()
        trap.settimeout(0.2)
        url = f"http://127.0.0.1:{trap.getsockname()[1]}/jwks"
        public = attacker.jwks()["keys"][0]
        claims = emulators.oidc.claims_for(ALICE, OIDC_CLIENT[0], None)
        for header in ({"jku": url}, {"x5u": url}, {"jwk": public}):
            code, message, _ = refused(gateway, attacker.sign(claims, header))
            assert code == "InvalidIdentityToken"
            assert message == "The token's signature is not valid."
        try:
            trap.accept()
            hits.append("connected")
        except TimeoutError:
            pass
    assert hits == [], "the gateway fetched a URL named by the token"
    assert last_refusal(rt).error_code == "InvalidIdentityToken"


def test_expired_token_is_expired_token_exception(
    gateway: LiveServer, emulators: Emulators, rt: Runtime
) -> None:
    past = int(time.time()) - 7200
    code, message, status = refused(gateway, mint(emulators, iat=past, exp=past + 3600))
    assert (code, status) == ("ExpiredTokenException", 400)
    assert message.startswith("Token expired: current date/time ")
    assert last_refusal(rt).error_code == "ExpiredTokenException"


def test_token_issued_in_the_future_is_refused(
    gateway: LiveServer, emulators: Emulators, rt: Runtime
) -> None:
    future = int(time.time()) + 3600
    code, message, _ = refused(gateway, mint(emulators, iat=future, exp=future + 3600))
    assert code == "InvalidIdentityToken" and "future" in message
    assert last_refusal(rt).error_code == "InvalidIdentityToken"


def test_token_too_old_is_refused(gateway: LiveServer, emulators: Emulators) -> None:
    long_ago = int(time.time()) - 3 * 86400
    code, message, _ = refused(gateway, mint(emulators, iat=long_ago, exp=long_ago + 10**6))
    assert code == "ExpiredTokenException" and message.startswith("Token too old")


def test_unknown_issuer_is_refused(gateway: LiveServer, emulators: Emulators, rt: Runtime) -> None:
    code, message, _ = refused(gateway, mint(emulators, iss="https://evil.example"))
    assert code == "InvalidIdentityToken"
    assert message == "No OpenIDConnect provider found in your account for https://evil.example"
    assert last_refusal(rt).error_code == "InvalidIdentityToken"


def test_token_of_one_provider_cannot_claim_to_be_another(
    gateway: LiveServer, emulators: Emulators
) -> None:
    """Signed by the generic provider's key but naming Google as issuer: wrong key set."""
    token = mint(emulators, iss="https://accounts.google.com", aud=GOOGLE_CLIENT[0],
                 azp=GOOGLE_CLIENT[0])
    code, _, _ = refused(gateway, token, GOOGLE_READER)
    assert code == "InvalidIdentityToken"


def test_wrong_audience_is_refused(gateway: LiveServer, emulators: Emulators, rt: Runtime) -> None:
    code, message, _ = refused(gateway, mint(emulators, aud=OTHER_OIDC_CLIENT[0]))
    assert (code, message) == ("InvalidIdentityToken", "Incorrect token audience")
    assert last_refusal(rt).error_code == "InvalidIdentityToken"


def test_azp_of_another_client_is_refused_even_with_our_aud(
    gateway: LiveServer, emulators: Emulators, rt: Runtime
) -> None:
    """authlib 1.9 skips the aud check when azp is present; both are checked here."""
    code, message, _ = refused(gateway, mint(emulators, azp=OTHER_OIDC_CLIENT[0]))
    assert (code, message) == ("InvalidIdentityToken", "Incorrect token audience")
    code, _, _ = refused(gateway, mint(emulators, aud=[OIDC_CLIENT[0], OTHER_OIDC_CLIENT[0]]))
    assert code == "InvalidIdentityToken"  # two audiences and no azp
    code, _, _ = refused(gateway, mint(emulators, aud=OTHER_OIDC_CLIENT[0], azp=OIDC_CLIENT[0]))
    assert code == "InvalidIdentityToken"
    assert last_refusal(rt).error_code == "InvalidIdentityToken"


def test_tampered_claims_break_the_signature(gateway: LiveServer, emulators: Emulators) -> None:
    header, _, signature = mint(emulators).split(".")
    claims = emulators.oidc.claims_for(BOB, OIDC_CLIENT[0], None)
    code, message, _ = refused(gateway, f"{header}.{b64(claims)}.{signature}")
    assert (code, message) == ("InvalidIdentityToken", "The token's signature is not valid.")


def test_token_from_another_facebook_app_is_refused(
    gateway: LiveServer, emulators: Emulators, rt: Runtime
) -> None:
    token = emulators.facebook.issue_token(ALICE, OTHER_FACEBOOK_APP[0])
    code, message, _ = refused(gateway, token, FACEBOOK_READER, ProviderId="graph.facebook.com")
    assert (code, message) == ("InvalidIdentityToken", "Incorrect token audience")
    assert last_refusal(rt).error_code == "InvalidIdentityToken"
    limited = emulators.facebook.limited_login_token(ALICE, OTHER_FACEBOOK_APP[0])
    assert refused(gateway, limited, FACEBOOK_READER)[0] == "InvalidIdentityToken"


def test_revoked_facebook_token_is_rejected_by_the_provider(
    gateway: LiveServer, emulators: Emulators, rt: Runtime
) -> None:
    token = emulators.facebook.issue_token(ALICE, FACEBOOK_APP[0])
    emulators.facebook.revoke(token)
    code, message, status = refused(gateway, token, FACEBOOK_READER,
                                    ProviderId="graph.facebook.com")
    assert (code, status) == ("IDPRejectedClaim", 403)
    assert message.startswith("graph.facebook.com: ")
    assert last_refusal(rt).error_code == "IDPRejectedClaim"


def test_expired_facebook_token_is_expired(gateway: LiveServer, emulators: Emulators) -> None:
    token = emulators.facebook.issue_token(ALICE, FACEBOOK_APP[0], lifetime=-10)
    code, _, _ = refused(gateway, token, FACEBOOK_READER, ProviderId="graph.facebook.com")
    assert code == "ExpiredTokenException"


def test_amazon_token_for_another_client_is_refused(
    gateway: LiveServer, emulators: Emulators, rt: Runtime
) -> None:
    token = emulators.amazon.issue_token(ALICE, OTHER_AMAZON_CLIENT[0])
    code, message, _ = refused(gateway, token, AMAZON_READER, ProviderId="www.amazon.com")
    assert (code, message) == ("InvalidIdentityToken", "Incorrect token audience")
    assert last_refusal(rt).error_code == "InvalidIdentityToken"


def test_unknown_amazon_token_is_rejected_by_the_provider(
    gateway: LiveServer, rt: Runtime
) -> None:
    code, message, _ = refused(gateway, "Atza|not-a-token", AMAZON_READER,
                               ProviderId="www.amazon.com")
    assert code == "IDPRejectedClaim" and message.startswith("www.amazon.com: ")
    assert last_refusal(rt).error_code == "IDPRejectedClaim"


def test_unsupported_provider_id_is_refused(gateway: LiveServer, emulators: Emulators) -> None:
    code, _, _ = refused(gateway, mint(emulators), ProviderId="accounts.google.com")
    assert code == "InvalidParameterValue"


def test_trust_policy_still_decides(gateway: LiveServer, emulators: Emulators,
                                    rt: Runtime) -> None:
    code, message, status = refused(gateway, mint(emulators), CLOSED)
    assert (code, status) == ("AccessDenied", 403)
    assert message == "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    assert last_refusal(rt).error_code == "AccessDenied"


def test_garbage_tokens_are_invalid_not_errors(gateway: LiveServer) -> None:
    for token in ("not-a-jwt", "a.b.c", "....", "e30.e30.", "x" * 30000,
                  forge({"alg": "RS256", "crit": ["exp"]}, {"iss": "x"}, b"s")):
        code, _, status = refused(gateway, token)
        assert (code, status) in {("InvalidIdentityToken", 400), ("ValidationError", 400)}, token


class BlackHole:
    """A port that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def test_unreachable_provider_is_idp_communication_error_without_hanging(
    gateway: LiveServer, emulators: Emulators, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.store.config_io import import_config
    from tests.sources.oidc.world import world_yaml

    monkeypatch.setattr(outbound, "TIMEOUT", 0.5)
    hole = BlackHole()
    try:
        text = world_yaml(emulators).replace(
            f"{emulators.google.base_url}/jwks", f"{hole.url}/jwks"
        ).replace(f"{emulators.amazon.base_url}/auth/o2/tokeninfo", "http://127.0.0.1:9/x")
        import_config(rt.engine, text, actor="test")
        rt.config.bump()
        started = time.monotonic()
        code, _, status = refused(
            gateway, emulators.google.id_token(ALICE, GOOGLE_CLIENT[0]), GOOGLE_READER
        )
        assert time.monotonic() - started < 5
        assert (code, status) == ("IDPCommunicationError", 400)
        assert last_refusal(rt).error_code == "IDPCommunicationError"
        token = emulators.amazon.issue_token(ALICE, AMAZON_CLIENT[0])
        code, _, _ = refused(gateway, token, AMAZON_READER, ProviderId="www.amazon.com")
        assert code == "IDPCommunicationError"
    finally:
        hole.close()
