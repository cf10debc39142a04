"""AssumeRoleWithSAML through boto3 against a live gateway, with responses from the demo IdP."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from gateway.store import audit
from tests.sources.saml import forge
from tests.web.saml_support import (
    ADMIN,
    DEMO_PROVIDER_ARN,
    READONLY_DEV,
    READONLY_PROD,
    World,
    demo_signer,
    spec_for,
    world_with_redis,
)


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world_with_redis(tmp_path_factory.mktemp("saml-sts")) as running:
        yield running


def sts(w: World) -> Any:
    # Unsigned, like the AWS CLI's assume-role-with-saml; client-side checks off.
    config = Config(signature_version=UNSIGNED, retries={"max_attempts": 1},
                    parameter_validation=False)
    return boto3.client("sts", endpoint_url=f"{w.url}/sts", region_name="us-east-1",
                        config=config)


def error_of(w: World, **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        sts(w).assume_role_with_saml(**kwargs)
    err = caught.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_assume_role_with_saml_returns_working_credentials_and_aws_fields(w: World) -> None:
    assertion = w.idp.idp.response_b64("alice")
    result = sts(w).assume_role_with_saml(
        RoleArn=READONLY_DEV, PrincipalArn=DEMO_PROVIDER_ARN, SAMLAssertion=assertion,
    )
    issuer = w.idp.idp.entity_id
    assert result["Subject"] == "alice@example.com"
    assert result["SubjectType"] == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    assert result["Issuer"] == issuer
    assert result["Audience"] == f"{w.url}/saml/acs"
    expected = base64.b64encode(
        hashlib.sha1(f"{issuer}111111111111/demo-saml".encode()).digest()
    ).decode()
    assert result["NameQualifier"] == expected
    assert result["AssumedRoleUser"]["Arn"] == (
        "arn:aws:sts::222222222222:assumed-role/ReadOnly/alice@example.com"
    )
    creds = result["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    who = boto3.client(
        "sts", endpoint_url=f"{w.url}/sts", region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    ).get_caller_identity()
    assert who["Account"] == "222222222222"
    event = audit.recent(w.rt.engine, audit.AuditFilter(
        event_type="credentials.issued", access_key_id=creds["AccessKeyId"]), limit=1)[0]
    assert event.detail and event.detail["action"] == "AssumeRoleWithSAML"


def test_session_duration_follows_the_asserted_bound(w: World) -> None:
    import datetime as dt

    result = sts(w).assume_role_with_saml(
        RoleArn=READONLY_PROD, PrincipalArn=DEMO_PROVIDER_ARN,
        SAMLAssertion=w.idp.idp.response_b64("bob"),
    )
    lifetime = result["Credentials"]["Expiration"] - dt.datetime.now(dt.UTC)
    # SessionDuration 3600 from the IdP: never more than an hour.
    assert dt.timedelta(minutes=58) < lifetime <= dt.timedelta(hours=1)


def test_a_replayed_assertion_is_refused(w: World) -> None:
    assertion = w.idp.idp.response_b64("alice")
    sts(w).assume_role_with_saml(RoleArn=READONLY_DEV, PrincipalArn=DEMO_PROVIDER_ARN,
                                 SAMLAssertion=assertion)
    code, message, status = error_of(w, RoleArn=READONLY_DEV, PrincipalArn=DEMO_PROVIDER_ARN,
                                     SAMLAssertion=assertion)
    assert (code, status) == ("InvalidIdentityToken", 400)
    assert "already used" in message


def test_an_assertion_used_at_the_acs_cannot_be_reused_on_sts(w: World) -> None:
    from tests.web.saml_support import Browser

    assertion = w.idp.idp.response_b64("alice")
    assert Browser(w).post(f"{w.url}/saml/acs", {"SAMLResponse": assertion}).status_code == 303
    code, _, _ = error_of(w, RoleArn=READONLY_DEV, PrincipalArn=DEMO_PROVIDER_ARN,
                          SAMLAssertion=assertion)
    assert code == "InvalidIdentityToken"


@pytest.mark.parametrize(("changes", "code", "status"), [
    ({"not_on_or_after": timedelta(minutes=-10)}, "ExpiredTokenException", 400),
    ({"recipient": "https://signin.aws.amazon.com/saml"}, "InvalidIdentityToken", 400),
    ({"audience": "urn:amazon:webservices"}, "InvalidIdentityToken", 400),
    ({"status": "urn:oasis:names:tc:SAML:2.0:status:Requester"}, "IDPRejectedClaim", 403),
])
def test_invalid_assertions_get_the_aws_errors(
    w: World, changes: dict[str, object], code: str, status: int
) -> None:
    attributes = {
        "https://aws.amazon.com/SAML/Attributes/RoleSessionName": ["alice"],
        "https://aws.amazon.com/SAML/Attributes/Role": [f"{READONLY_DEV},{DEMO_PROVIDER_ARN}"],
    }
    xml = forge.signed(spec_for(w, attributes=attributes, **changes), demo_signer())
    got = error_of(w, RoleArn=READONLY_DEV, PrincipalArn=DEMO_PROVIDER_ARN,
                   SAMLAssertion=forge.b64(xml))
    assert (got[0], got[2]) == (code, status), got


def test_forged_signature_and_unknown_provider_are_invalid_tokens(w: World) -> None:
    forged = forge.b64(forge.signed(spec_for(w), forge.Signer.fixture("attacker", "attacker")))
    assert error_of(w, RoleArn=READONLY_DEV, PrincipalArn=DEMO_PROVIDER_ARN,
                    SAMLAssertion=forged)[0] == "InvalidIdentityToken"
    genuine = w.idp.idp.response_b64("alice")
    code, message, _ = error_of(
        w, RoleArn=READONLY_DEV, SAMLAssertion=genuine,
        PrincipalArn="arn:aws:iam::111111111111:saml-provider/not-configured",
    )
    assert code == "InvalidIdentityToken" and "No SAML provider" in message
    refused = audit.recent(w.rt.engine, audit.AuditFilter(event_type="credentials.refused"),
                           limit=1)[0]
    assert refused.detail and str(refused.detail["why"]).startswith("saml:unknown_provider")


def test_role_session_name_is_required_and_checked_like_aws(w: World) -> None:
    xml = forge.signed(spec_for(w, attributes={"email": ["alice@example.com"]}), demo_signer())
    code, message, _ = error_of(w, RoleArn=READONLY_PROD, PrincipalArn=DEMO_PROVIDER_ARN,
                                SAMLAssertion=forge.b64(xml))
    assert (code, message) == ("InvalidIdentityToken",
                               "RoleSessionName is required in AuthnResponse")
    bad = forge.signed(spec_for(w, attributes={
        "https://aws.amazon.com/SAML/Attributes/RoleSessionName": ["a b"]}), demo_signer())
    code, message, _ = error_of(w, RoleArn=READONLY_PROD, PrincipalArn=DEMO_PROVIDER_ARN,
                                SAMLAssertion=forge.b64(bad))
    assert code == "InvalidIdentityToken" and "must match" in message


def test_a_role_that_is_not_configured_is_access_denied(w: World) -> None:
    xml = forge.signed(spec_for(w, attributes={
        "https://aws.amazon.com/SAML/Attributes/RoleSessionName": ["mallory"],
    }), demo_signer())
    code, _, status = error_of(w, RoleArn="arn:aws:iam::111111111111:role/Nope",
                               PrincipalArn=DEMO_PROVIDER_ARN, SAMLAssertion=forge.b64(xml))
    assert (code, status) == ("AccessDenied", 403)


def test_an_oversized_assertion_is_a_validation_error(w: World) -> None:
    code, _, status = error_of(w, RoleArn=ADMIN, PrincipalArn=DEMO_PROVIDER_ARN,
                               SAMLAssertion="A" * 100_004)
    assert status == 400 and code in ("ValidationError", "InvalidIdentityToken")


def test_a_role_the_idp_did_not_assert_is_refused_even_if_its_trust_allows(w: World) -> None:
    # carol has no mapped or asserted role, though READONLY_DEV trusts the whole provider.
    code, message, status = error_of(
        w, RoleArn=READONLY_DEV, PrincipalArn=DEMO_PROVIDER_ARN,
        SAMLAssertion=w.idp.idp.response_b64("carol"),
    )
    assert (code, status) == ("AccessDenied", 403)
    assert message == "Not authorized to perform sts:AssumeRoleWithSAML"
