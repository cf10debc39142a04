"""IdP metadata: parsing real-world shapes, signatures on metadata, refresh from a URL
honouring cacheDuration and validUntil, keeping the last good copy."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from gateway.sources.saml import metadata, ns
from gateway.sources.saml.errors import SamlRefusal
from gateway.sources.saml.providers import Registry
from gateway.sources.saml.times import format_instant
from gateway.state.keys import Keys
from gateway.store.snapshot import IdentityProvider
from tests.conftest import RedisServer
from tests.sources.saml import forge
from tests.sources.saml.conftest import provider_record

NOW = datetime.now(UTC)


def fixture_metadata(name: str) -> bytes:
    return (forge.FIXTURES / name / "metadata.xml").read_bytes()


@pytest.mark.parametrize(("name", "entity_id", "certs"), [
    ("adfs", "http://adfs.example.test/adfs/services/trust", 1),
    ("entra", "https://sts.windows.net/8f1e0b6c-0000-4000-8000-00000000e417/", 2),
    ("okta", "http://www.okta.com/exk1fixture0example7", 1),
])
def test_real_world_shaped_metadata_parses(name: str, entity_id: str, certs: int) -> None:
    parsed = metadata.parse(fixture_metadata(name), now=NOW)
    assert parsed.entity_id == entity_id
    assert len(parsed.signing_certificates) == certs == len(parsed.signing_keys)
    sso = parsed.endpoint("sso", ns.BINDING_REDIRECT)
    assert sso is not None and sso.location.startswith("https://")
    assert parsed.endpoint("slo", ns.BINDING_REDIRECT) is not None
    assert all(expiry > NOW + timedelta(days=365) for expiry in parsed.certificate_expiries)


def _with(xml: bytes, **root_attributes: str) -> bytes:
    root = etree.fromstring(xml)
    for key, value in root_attributes.items():
        root.set(key, value)
    return bytes(etree.tostring(root))


def test_expired_metadata_is_refused_and_cache_duration_read() -> None:
    xml = fixture_metadata("okta")
    with pytest.raises(SamlRefusal) as caught:
        metadata.parse(_with(xml, validUntil=format_instant(NOW - timedelta(minutes=1))),
                       now=NOW)
    assert "expired" in caught.value.message
    parsed = metadata.parse(_with(xml, validUntil=format_instant(NOW + timedelta(days=1)),
                                  cacheDuration="PT2H30M"), now=NOW)
    assert parsed.cache_duration == timedelta(hours=2, minutes=30)
    assert parsed.valid_until is not None


def test_metadata_without_a_single_idp_or_signing_key_is_refused() -> None:
    with pytest.raises(SamlRefusal, match="exactly one identity provider"):
        metadata.parse(b"<md:EntitiesDescriptor xmlns:md='urn:oasis:names:tc:SAML:2.0:metadata'"
                       b"/>", now=NOW)
    root = etree.fromstring(fixture_metadata("okta"))
    for key in root.iter(ns.q(ns.MD, "KeyDescriptor")):
        key.getparent().remove(key)
    with pytest.raises(SamlRefusal, match="no signing certificate"):
        metadata.parse(etree.tostring(root), now=NOW)
    with pytest.raises(SamlRefusal):
        metadata.parse(forge.XXE + fixture_metadata("okta"), now=NOW)


def _signed_metadata(name: str, signer: forge.Signer) -> bytes:
    root = etree.fromstring(fixture_metadata(name))
    signer.sign(root)
    return bytes(etree.tostring(root))


def test_metadata_signature_is_required_when_a_signing_certificate_is_configured() -> None:
    adfs = forge.Signer.fixture("adfs")
    signed = _signed_metadata("okta", adfs)
    assert metadata.parse(signed, trusted_signers=[adfs.certificate_pem], now=NOW).entity_id
    attacker = forge.Signer.fixture("attacker", "attacker")
    with pytest.raises(SamlRefusal, match="does not verify"):
        metadata.parse(signed, trusted_signers=[attacker.certificate_pem], now=NOW)
    with pytest.raises(SamlRefusal, match="not signed"):
        metadata.parse(fixture_metadata("okta"), trusted_signers=[adfs.certificate_pem], now=NOW)
    tampered = signed.replace(b"example.okta.com/app", b"evil.example/app", 1)
    with pytest.raises(SamlRefusal):
        metadata.parse(tampered, trusted_signers=[adfs.certificate_pem], now=NOW)


class FakeFetch:
    """Metadata served from a URL: the body can change, or the server can be down."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.down = False
        self.calls = 0

    def __call__(self, url: str) -> bytes:
        self.calls += 1
        if self.down:
            raise OSError("connection refused")
        return self.body


URL = "https://idp.example.test/metadata"


def url_provider() -> IdentityProvider:
    return replace(provider_record(), metadata_xml=None, metadata_url=URL)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def test_url_metadata_is_cached_refreshed_after_cache_duration_and_kept_when_down(
    redis_server: RedisServer,
) -> None:
    okta = fixture_metadata("okta")
    fetch = FakeFetch(_with(okta, cacheDuration="PT10M"))
    registry = Registry(redis_server.client(), Keys("t:"), fetch=fetch)
    provider = url_provider()
    first = registry.get(provider, NOW)
    assert first.entity_id == "http://www.okta.com/exk1fixture0example7"
    registry.get(provider, NOW + timedelta(minutes=9))
    assert fetch.calls == 1
    # Past cacheDuration: served at once from the cache, refreshed in the background.
    fetch.body = _with(okta, cacheDuration="PT10M", entityID="http://www.okta.com/rotated")
    stale = registry.get(provider, NOW + timedelta(minutes=11))
    assert stale.entity_id == first.entity_id
    rotated = "http://www.okta.com/rotated"
    wait_for(lambda: registry.get(provider, NOW + timedelta(minutes=11)).entity_id == rotated)
    # The IdP goes down: the last good copy keeps serving.
    fetch.down = True
    later = NOW + timedelta(minutes=30)
    assert registry.get(provider, later).entity_id == "http://www.okta.com/rotated"
    time.sleep(0.2)
    assert registry.get(provider, later).entity_id == "http://www.okta.com/rotated"


def test_a_new_process_uses_the_last_good_copy_from_redis(redis_server: RedisServer) -> None:
    fetch = FakeFetch(fixture_metadata("okta"))
    Registry(redis_server.client(), Keys("t:"), fetch=fetch).get(url_provider(), NOW)
    fetch.down = True
    fresh = Registry(redis_server.client(), Keys("t:"), fetch=fetch)
    assert fresh.get(url_provider(), NOW).entity_id.startswith("http://www.okta.com/")
    empty = Registry(redis_server.client(), Keys("other:"), fetch=fetch)
    with pytest.raises(SamlRefusal) as caught:
        empty.get(url_provider(), NOW)
    assert caught.value.status == 503
    assert "could not be fetched" in caught.value.message


def test_metadata_past_valid_until_is_never_used(redis_server: RedisServer) -> None:
    valid_until = NOW + timedelta(hours=1)
    fetch = FakeFetch(_with(fixture_metadata("okta"), validUntil=format_instant(valid_until)))
    registry = Registry(redis_server.client(), Keys("t:"), fetch=fetch)
    assert registry.get(url_provider(), NOW)
    with pytest.raises(SamlRefusal, match="expired"):
        registry.get(url_provider(), valid_until + timedelta(minutes=1))
