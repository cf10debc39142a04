"""POST /api/v1/token (RFC 8693) over raw HTTP, its rate limits and CORS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from gateway import create_app
from gateway.devtools.emulators import (
    AMAZON_CLIENT,
    DEMO_USERS,
    FACEBOOK_APP,
    GOOGLE_CLIENT,
    OIDC_CLIENT,
    Emulators,
)
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.store import audit
from gateway.store.config_io import import_config
from tests.conftest import LiveServer
from tests.sources.oidc.world import (
    AMAZON_READER,
    CLOSED,
    FACEBOOK_READER,
    GOOGLE_READER,
    OIDC_BUILDER,
    OIDC_READER,
    world_yaml,
)

ALICE, BOB, MALLORY = DEMO_USERS
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
APP_ORIGIN = "https://app.example.com"


def exchange(server: LiveServer, token: str, token_type: str = ID_TOKEN,
             headers: dict[str, str] | None = None, **extra: str) -> requests.Response:
    data = {"grant_type": GRANT, "subject_token": token, "subject_token_type": token_type}
    data.update(extra)
    return requests.post(f"{server.url}/api/v1/token", data=data, headers=headers, timeout=20)


def test_named_role_gives_rfc8693_fields_and_credential_process_credentials(
    gateway: LiveServer, emulators: Emulators
) -> None:
    token = emulators.oidc.id_token(ALICE, OIDC_CLIENT[0])
    response = exchange(gateway, token, audience=OIDC_READER, duration_seconds="1800")
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["issued_token_type"] == "urn:federation-gateway:token-type:aws-credentials"
    assert body["token_type"] == "N_A"
    assert 1790 <= body["expires_in"] <= 1800
    creds = body["credentials"]
    assert set(creds) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken",
                          "Expiration"}
    assert creds["Version"] == 1 and body["access_token"] == creds["SessionToken"]
    assert body["role_arn"] == OIDC_READER
    client = boto3.client("sts", endpoint_url=f"{gateway.url}/sts", region_name="us-east-1",
                          aws_access_key_id=creds["AccessKeyId"],
                          aws_secret_access_key=creds["SecretAccessKey"],
                          aws_session_token=creds["SessionToken"])
    assert client.get_caller_identity()["Arn"].startswith(
        "arn:aws:sts::111111111111:assumed-role/OidcReader/")


def test_mapping_rules_choose_when_one_role_is_allowed(
    gateway: LiveServer, emulators: Emulators
) -> None:
    for token, token_type, extra, role in (
        (emulators.google.id_token(ALICE, GOOGLE_CLIENT[0]), ID_TOKEN, {}, GOOGLE_READER),
        (emulators.facebook.issue_token(ALICE, FACEBOOK_APP[0]), ACCESS_TOKEN,
         {"provider_id": "graph.facebook.com"}, FACEBOOK_READER),
        (emulators.amazon.issue_token(ALICE, AMAZON_CLIENT[0]), ACCESS_TOKEN,
         {"provider_id": "www.amazon.com"}, AMAZON_READER),
        (emulators.oidc.id_token(BOB, OIDC_CLIENT[0], groups=["engineering"]), ID_TOKEN, {},
         OIDC_READER),
    ):
        response = exchange(gateway, token, token_type, **extra)
        assert response.status_code == 200, response.text
        assert response.json()["role_arn"] == role


def test_ambiguous_mapping_lists_the_allowed_roles(
    gateway: LiveServer, emulators: Emulators, rt: Runtime
) -> None:
    response = exchange(gateway, emulators.oidc.id_token(ALICE, OIDC_CLIENT[0]))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_target"
    assert body["allowed_roles"] == sorted([OIDC_READER, OIDC_BUILDER])
    refusal = audit.recent(rt.engine, audit.AuditFilter(event_type="credentials.refused"), 1)[0]
    assert refusal.detail["action"] == "TokenExchange" and refusal.subject == ALICE.sub


def test_no_matching_rule_is_a_clear_error(gateway: LiveServer, emulators: Emulators) -> None:
    token = emulators.oidc.id_token(BOB, OIDC_CLIENT[0])  # sales: no rule
    body = exchange(gateway, token).json()
    assert body["error"] == "invalid_target"
    assert "No mapping rule matched" in body["error_description"]


def test_rfc6749_errors(gateway: LiveServer, emulators: Emulators, rt: Runtime) -> None:
    good = emulators.oidc.id_token(ALICE, OIDC_CLIENT[0])
    cases: list[tuple[dict[str, Any], str, int]] = [
        ({"grant_type": "password"}, "unsupported_grant_type", 400),
        ({"subject_token": ""}, "invalid_request", 400),
        ({"subject_token_type": "urn:x"}, "invalid_request", 400),
        ({"subject_token": good + "x"}, "invalid_grant", 400),
        ({"subject_token": emulators.oidc.id_token(ALICE, "other-client")}, "invalid_grant", 400),
        ({"audience": "not-an-arn"}, "invalid_target", 400),
        ({"audience": CLOSED}, "invalid_target", 400),
        ({"audience": OIDC_READER, "resource": OIDC_BUILDER}, "invalid_request", 400),
        ({"audience": OIDC_READER, "duration_seconds": "60"}, "invalid_request", 400),
        ({"audience": OIDC_READER, "actor_token": "x"}, "invalid_request", 400),
    ]
    for extra, error, status in cases:
        data = {"grant_type": GRANT, "subject_token": good, "subject_token_type": ID_TOKEN}
        data.update(extra)
        response = requests.post(f"{gateway.url}/api/v1/token", data=data, timeout=20)
        assert (response.status_code, response.json()["error"]) == (status, error), extra
        assert response.headers["Content-Type"].startswith("application/json")
    json_body = requests.post(f"{gateway.url}/api/v1/token", json={"grant_type": GRANT},
                              timeout=20)
    assert json_body.json()["error"] == "invalid_request"
    refused = audit.recent(rt.engine, audit.AuditFilter(event_type="credentials.refused"), 50)
    assert len([e for e in refused if e.detail["action"] == "TokenExchange"]) >= len(cases)


def test_cors_only_for_configured_origins(
    settings: Settings, emulators: Emulators
) -> None:
    app = create_app(settings)
    rt: Runtime = app.extensions["gateway"]
    text = world_yaml(emulators, provider_options={"test-oidc": {"cors_origins": [APP_ORIGIN]}})
    import_config(rt.engine, text, actor="test")
    rt.config.bump()
    server = LiveServer(app)
    try:
        pre = requests.options(f"{server.url}/api/v1/token", timeout=10, headers={
            "Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 204
        assert pre.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
        assert "POST" in pre.headers["Access-Control-Allow-Methods"]
        evil = requests.options(f"{server.url}/api/v1/token", timeout=10,
                                headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in evil.headers
        token = emulators.oidc.id_token(ALICE, OIDC_CLIENT[0])
        ok = exchange(server, token, headers={"Origin": APP_ORIGIN}, audience=OIDC_READER)
        assert ok.status_code == 200 and ok.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
        bad = exchange(server, token, headers={"Origin": "https://evil.example"},
                       audience=OIDC_READER)
        assert bad.status_code == 403 and "Access-Control-Allow-Origin" not in bad.headers
    finally:
        server.stop()


@pytest.fixture
def limited(settings: Settings, emulators: Emulators) -> Iterator[LiveServer]:
    app = create_app(settings)
    rt: Runtime = app.extensions["gateway"]
    from gateway.web import ratelimit

    installed: ratelimit.RateLimits = app.extensions[ratelimit.EXTENSION]
    parse = ratelimit.Rate.parse
    installed.rates.update({
        "token:address": parse("5/minute"), "token:subject": parse("3/minute"),
        "sts:address": parse("6/minute"), "sts:subject": parse("3/minute"),
    })
    import_config(rt.engine, world_yaml(emulators), actor="test")
    rt.config.bump()
    server = LiveServer(app)
    yield server
    server.stop()


def test_token_endpoint_limits_per_subject_then_per_address(
    limited: LiveServer, emulators: Emulators
) -> None:
    alice = emulators.oidc.id_token(ALICE, OIDC_CLIENT[0])
    statuses = [exchange(limited, alice, audience=OIDC_READER).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    throttled = exchange(limited, alice, audience=OIDC_READER)
    assert throttled.json()["error"] == "slow_down"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    # Forged tokens naming Bob never use up Bob's allowance, but do use up the address's.
    bob = emulators.oidc.id_token(BOB, OIDC_CLIENT[0], groups=["engineering"])
    assert exchange(limited, bob, audience=OIDC_READER).status_code == 429  # address: 5 used


def test_assume_role_with_web_identity_limits_per_subject_and_address(
    limited: LiveServer, emulators: Emulators
) -> None:
    from tests.sources.oidc.test_web_identity_sts import assume, refused

    alice = emulators.oidc.id_token(ALICE, OIDC_CLIENT[0])
    for _ in range(3):
        assume(limited, alice)
    code, message, status = refused(limited, alice)
    assert (code, message, status) == ("Throttling", "Rate exceeded", 400)
    raw = requests.post(f"{limited.url}/sts", timeout=10, data={
        "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": OIDC_READER,
        "RoleSessionName": "x1", "WebIdentityToken": "forged"})
    assert raw.status_code == 400 and "<Code>" in raw.text
    for _ in range(3):
        raw = requests.post(f"{limited.url}/sts", timeout=10, data={
            "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
            "RoleArn": OIDC_READER, "RoleSessionName": "x1", "WebIdentityToken": "forged"})
    assert "<Code>Throttling</Code>" in raw.text and int(raw.headers["Retry-After"]) >= 1


def test_percent_encoded_action_is_still_rate_limited(
    limited: LiveServer, emulators: Emulators
) -> None:
    body = ("Action=%41ssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + OIDC_READER
            + "&RoleSessionName=xx&WebIdentityToken=forged")
    answers = [requests.post(f"{limited.url}/sts", data=body, timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded"}).text for _ in range(7)]
    assert "<Code>InvalidIdentityToken</Code>" in answers[0]
    assert "<Code>Throttling</Code>" in answers[-1]
