"""/api/v1/openapi.json: a valid OpenAPI 3.1 document, and live answers that match it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import requests
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.problems import Invalid
from gateway.settings import Settings
from gateway.sts.authorize import parse_authorize_request
from gateway.web.openapi import document
from tests.conftest import LiveServer
from tests.sts_world import ACCOUNT_A, first_credentials
from tests.web.authorize_support import ALLOW_A_SHARED, live_world, question

SPEC_URI = "urn:gateway:openapi"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return document()


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    live = live_world(settings)
    yield live
    live.stop()


def schema_check(spec: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    """Validate `instance` against `schema`, whose $refs point into the OpenAPI document."""
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    wrapped = {"$schema": "https://json-schema.org/draft/2020-12/schema",
               "$id": f"{SPEC_URI}#answer", "allOf": [_rebase(schema)]}
    validator = jsonschema.Draft202012Validator(
        wrapped, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(instance)


def _rebase(schema: Any) -> Any:
    """Local `#/components/…` refs made absolute against the document's URI."""
    if isinstance(schema, dict):
        return {k: (SPEC_URI + v if k == "$ref" and v.startswith("#") else _rebase(v))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema


def check_answer(spec: dict[str, Any], path: str, method: str, resp: requests.Response) -> None:
    """The status is documented for the operation and the body matches its schema."""
    operation = spec["paths"][path][method]
    documented = operation["responses"]
    assert str(resp.status_code) in documented, f"{resp.status_code} is not documented"
    content_type = resp.headers["Content-Type"].split(";")[0]
    content = documented[str(resp.status_code)]["content"]
    assert content_type in content, f"{content_type} not documented for {resp.status_code}"
    schema_check(spec, content[content_type]["schema"], resp.json())


def test_the_document_is_valid_openapi_3_1(server: LiveServer, spec: dict[str, Any]) -> None:
    served = requests.get(f"{server.url}/api/v1/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "application/json"
    assert served.json() == spec
    assert spec["openapi"].startswith("3.1.")
    validate_spec(spec)
    assert "/api/v1/authorize" in spec["paths"]


def test_the_request_examples_are_valid_and_accepted(spec: dict[str, Any]) -> None:
    body = spec["paths"]["/api/v1/authorize"]["post"]["requestBody"]["content"][
        "application/json"]
    for name, example in body["examples"].items():
        schema_check(spec, body["schema"], example["value"])
        parse_authorize_request(example["value"])  # the server accepts it too
    responses = spec["paths"]["/api/v1/authorize"]["post"]["responses"]["200"]["content"][
        "application/json"]
    for example in responses["examples"].values():
        schema_check(spec, responses["schema"], example["value"])


def test_the_request_schema_refuses_what_the_server_refuses(spec: dict[str, Any]) -> None:
    body_schema = spec["paths"]["/api/v1/authorize"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    good = {"method": "GET", "path": "/b/k", "headers": [["Host", "h"]], "service": "s3",
            "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"}
    schema_check(spec, body_schema, good)
    parse_authorize_request(good)
    for bad in (
        {**good, "action": "s3:*"},
        {**good, "headers": [["Host"]]},
        {**good, "body": "", "body_sha256": "0" * 64},
        {**good, "resource_account": "12"},
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "service"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            schema_check(spec, body_schema, bad)
        with pytest.raises(Invalid):
            parse_authorize_request(bad)


def test_live_answers_match_their_schemas(server: LiveServer, spec: dict[str, Any]) -> None:
    url = f"{server.url}/api/v1/authorize"
    alice = first_credentials(server.app)
    same_account = {"resource": "arn:aws:s3:::a-bucket/x", "resource_account": ACCOUNT_A}
    answers = {
        "allow": requests.post(url, json=question(alice, **same_account), timeout=10),
        "deny": requests.post(url, json=question(alice), timeout=10),
        "cross-account allow": requests.post(
            url, json=question(alice, resource_policy=ALLOW_A_SHARED), timeout=10),
        "invalid": requests.post(url, json={"method": "GET"}, timeout=10),
        "bad json": requests.post(url, data=b"{", timeout=10),
        "unsigned": requests.post(url, json={**question(alice), "headers": [["Host", "h"]]},
                                  timeout=10),
        "bad signature": requests.post(url, json=question(alice, secret="z" * 40), timeout=10),
        "too large": requests.post(url, data=b"x" * 600_000, timeout=10),
        "body": requests.post(url, json=question(
            alice, method="POST", data=b"a=b", **same_account), timeout=10),
    }
    statuses = {name: resp.status_code for name, resp in answers.items()}
    assert statuses == {"allow": 200, "deny": 200, "cross-account allow": 200, "invalid": 400,
                        "bad json": 400, "unsigned": 401, "bad signature": 403,
                        "too large": 413, "body": 200}
    for name, resp in answers.items():
        try:
            check_answer(spec, "/api/v1/authorize", "post", resp)
        except jsonschema.ValidationError as exc:  # pragma: no cover - the failure message
            pytest.fail(f"{name}: {exc.message}")
    assert answers["deny"].json()["encoded_message"]
    assert "encoded_message" not in answers["allow"].json()
    assert base64.b64decode(question(alice, method="POST", data=b"a=b")["body"]) == b"a=b"


def test_a_wrong_answer_would_be_caught(spec: dict[str, Any]) -> None:
    """The checks above can fail: a deny without its message, an allow with one."""
    schema = {"$ref": "#/components/schemas/AuthorizeResponse"}
    principal = {"arn": "arn:aws:sts::111111111111:assumed-role/R/s", "account": "111111111111",
                 "user_id": "AROAX:s", "role_arn": "arn:aws:iam::111111111111:role/R",
                 "session_name": "s", "source_identity": None, "tags": {},
                 "expiration": "2024-01-01T00:00:00Z"}
    explanation = {"reason": "no_allow", "summary": "x"}
    schema_check(spec, schema, {"decision": "deny", "principal": principal,
                                "explanation": explanation, "encoded_message": "m"})
    for wrong in (
        {"decision": "deny", "principal": principal, "explanation": explanation},
        {"decision": "allow", "principal": principal, "explanation": explanation,
         "encoded_message": "m"},
        {"decision": "maybe", "principal": principal, "explanation": explanation},
        {"decision": "allow", "principal": {**principal, "account": "1"},
         "explanation": explanation},
    ):
        with pytest.raises(jsonschema.ValidationError):
            schema_check(spec, schema, wrong)


def test_token_exchange_errors_match_the_documented_shape(
    server: LiveServer, spec: dict[str, Any]
) -> None:
    answers = [
        requests.post(f"{server.url}/api/v1/token", data={"grant_type": "password"}),
        requests.post(f"{server.url}/api/v1/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": "garbage",
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}),
    ]
    for answer in answers:
        assert answer.status_code == 400
        check_answer(spec, "/api/v1/token", "post", answer)
