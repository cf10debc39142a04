"""An SP, a fixture IdP (AD FS shaped) and an attacker, for validating crafted responses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.sources.saml import metadata, response, sp_keys, xmldsig
from gateway.sources.saml.providers import Idp, IdpPolicy
from gateway.sources.saml.sp import ServiceProvider
from gateway.store.snapshot import IdentityProvider
from tests.sources.saml import forge

SP = ServiceProvider(
    entity_id="https://gw.example.test/saml/metadata",
    acs_url="https://gw.example.test/saml/acs",
    slo_url="https://gw.example.test/saml/slo",
    metadata_url="https://gw.example.test/saml/metadata",
    clock_skew=90,
)
ADFS_ENTITY = "http://adfs.example.test/adfs/services/trust"
PROVIDER_ARN = "arn:aws:iam::111111111111:saml-provider/corp"


def provider_record(name: str = "corp", options: Mapping[str, Any] | None = None,
                    metadata_xml: str | None = None) -> IdentityProvider:
    return IdentityProvider(
        name=name, kind="saml", account_id="111111111111", arn=PROVIDER_ARN,
        federated_principal=PROVIDER_ARN, display_name="Corp AD FS", metadata_url=None,
        metadata_xml=metadata_xml or (forge.FIXTURES / "adfs" / "metadata.xml").read_text(),
        issuer=None, client_ids=(), client_secret=None, scopes=(), endpoints={},
        options=dict(options or {}), rules=(),
    )


def make_idp(**options: Any) -> Idp:
    record = provider_record(options=options)
    assert record.metadata_xml is not None
    parsed = metadata.parse(record.metadata_xml.encode(), now=datetime.now(UTC))
    return Idp(record, parsed, IdpPolicy.from_options(record.options))


@pytest.fixture(scope="session")
def sp_keys_pair() -> sp_keys.SpKeys:
    private_pem, cert_pem = sp_keys.generate("gw.example.test")
    key = sp_keys.SpKey("sp-test", cert_pem, private_pem, datetime.now(UTC),
                        xmldsig.private_key(private_pem, cert_pem))
    return sp_keys.SpKeys(key, key)


@pytest.fixture(scope="session")
def other_sp_keys() -> sp_keys.SpKeys:
    private_pem, cert_pem = sp_keys.generate("someone-else.test")
    key = sp_keys.SpKey("sp-other", cert_pem, private_pem, datetime.now(UTC),
                        xmldsig.private_key(private_pem, cert_pem))
    return sp_keys.SpKeys(key, key)


@pytest.fixture
def idp_signer() -> forge.Signer:
    return forge.Signer.fixture("adfs")


@pytest.fixture
def attacker() -> forge.Signer:
    return forge.Signer.fixture("attacker", "attacker")


@pytest.fixture
def spec() -> forge.Spec:
    return forge.Spec(issuer=ADFS_ENTITY, acs_url=SP.acs_url, audience=SP.entity_id)


Validate = Callable[..., response.Validated]


@pytest.fixture
def validate(sp_keys_pair: sp_keys.SpKeys) -> Validate:
    """Validate XML bytes as the ACS would, against the AD FS fixture IdP."""

    def run(xml: bytes, *, request_id: str | None = None, idp: Idp | None = None,
            check_in_response_to: bool = True, now: datetime | None = None,
            keys: sp_keys.SpKeys | None = None) -> response.Validated:
        envelope = response.open_response(xml)
        return response.validate(
            envelope, idp or make_idp(),
            response.Expected(SP, request_id=request_id,
                              check_in_response_to=check_in_response_to),
            decryption_keys=(keys or sp_keys_pair).decryption_keys,
            now=now or datetime.now(UTC),
        )

    return run
