"""pysaml2's protocol checks as the gateway runs them (gateway/sources/saml/protocol.py).

The gateway trims pysaml2's cost without changing its verdicts: a subclass whose
`get_identity` skips a never-emitted DEBUG serialization, a memo in front of its
timestamp parser, and the standard library's C parser for the gateway's own
serialization. Each is held here to pysaml2's own behaviour.
"""

from __future__ import annotations

import time

import pytest
from lxml import etree

from gateway.sources.saml import protocol
from gateway.sources.saml.errors import SamlRefusal
from tests.sources.saml import forge
from tests.sources.saml.conftest import SP


def _check(xml: bytes, verified: frozenset[str]) -> object:
    return protocol.check(
        xml, verified_ids=verified, entity_id=SP.entity_id, acs_url=SP.acs_url,
        request_id=None, clock_skew=SP.clock_skew, require_signed_response=False,
        require_signed_assertion=False,
    )


def test_the_identity_read_is_pysaml2s_own(spec: forge.Spec, idp_signer: forge.Signer) -> None:
    from saml2.response import AuthnResponse

    spec.attributes = {
        "https://aws.amazon.com/SAML/Attributes/RoleSessionName": ["alice"],
        "urn:oid:0.9.2342.19200300.100.1.3": ["alice@example.com"],  # mail, by OID
        "groups": ["engineering", "admins"],
    }
    xml = forge.text(forge.signed(spec, idp_signer))
    result = _check(xml, frozenset({spec.response_id, spec.assertion_id}))
    ours = result.get_identity()  # type: ignore[attr-defined]
    assert ours == AuthnResponse.get_identity(result)
    assert ours["mail"] == ["alice@example.com"]
    assert ours["groups"] == ["engineering", "admins"]


@pytest.mark.parametrize("text", [
    "2026-11-27T09:00:00Z",
    "2026-11-27T09:00:00.1234567Z",  # AD FS writes seven fractional digits
    "2026-11-27T09:00:00.123Z",
    "",
])
def test_remembered_timestamps_equal_pysaml2s_parse(text: str) -> None:
    protocol._pysaml2()  # installs the memo
    from saml2 import response, time_util

    memo = time_util.str_to_time
    assert response.str_to_time is memo
    original = memo.__wrapped__  # type: ignore[attr-defined]
    assert memo(text) == original(text)
    assert memo(text) == original(text)  # and again, from the memo
    if text:
        assert isinstance(memo(text), time.struct_time)


def test_an_unreadable_timestamp_still_fails_every_time() -> None:
    protocol._pysaml2()
    from saml2 import time_util

    for _ in range(2):  # a failure is not remembered as an answer
        with pytest.raises(AttributeError):
            time_util.str_to_time("next tuesday")


def test_a_doctype_reaching_pysaml2_is_refused(spec: forge.Spec,
                                               idp_signer: forge.Signer) -> None:
    # The protocol check parses without defusedxml because its input is the gateway's own
    # serialization; a DOCTYPE there (entity expansion) must still never be parsed.
    root = forge.signed(spec, idp_signer)
    body = etree.tostring(root)
    bomb = (b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            + body.replace(b"alice@example.com", b"&b;", 1))
    with pytest.raises(SamlRefusal) as caught:
        _check(bomb, frozenset({spec.response_id, spec.assertion_id}))
    assert caught.value.code == "protocol"


def test_comments_outside_the_assertion_still_pass(spec: forge.Spec,
                                                   idp_signer: forge.Signer) -> None:
    root = forge.signed(spec, idp_signer)
    root.insert(1, etree.Comment(" a comment an IdP left in the response "))
    result = _check(etree.tostring(root), frozenset({spec.response_id, spec.assertion_id}))
    assert result.name_id.text == "alice@example.com"  # type: ignore[attr-defined]
