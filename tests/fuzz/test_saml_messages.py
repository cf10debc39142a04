"""SAML responses and metadata (gateway.sources.saml): any message is accepted or refused
with `SamlRefusal` (metadata: `MetadataError`), nothing else escapes.

Three depths: bytes that are not even XML; responses the trusted IdP signed itself but
filled with unusual values (a misconfigured or compromised IdP, attribute text from
users); and signed responses mutated after signing, which must never yield an identity
other than the one signed.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

from hypothesis import event, given
from hypothesis import strategies as st
from lxml import etree

from gateway.sources.saml import (
    attributes,
    bindings,
    metadata,
    ns,
    response,
    sp_keys,
    xmldsig,
    xmlsafe,
)
from gateway.sources.saml.errors import SamlRefusal
from tests.fuzz.mutate import paths
from tests.fuzz.strategies import AWKWARD, WORD, often
from tests.sources.saml import forge
from tests.sources.saml.conftest import ADFS_ENTITY, SP, make_idp

IDP = make_idp()
SIGNER = forge.Signer.fixture("adfs")
_private, _cert = sp_keys.generate("gw.example.test")
_KEY = sp_keys.SpKey("sp-fuzz", _cert, _private, datetime.now(UTC),
                     xmldsig.private_key(_private, _cert))
KEYS = sp_keys.SpKeys(_KEY, _KEY)
METADATA = (forge.FIXTURES / "adfs" / "metadata.xml").read_bytes()

text_values = st.one_of(WORD, st.text(st.sampled_from(AWKWARD), max_size=12),
                        st.sampled_from(["", " ", "arn:aws:iam::111111111111:role/Admin,"
                                         "arn:aws:iam::111111111111:saml-provider/corp",
                                         "99999999999", "-1", "PT1H", "<x/>", "]]>"]))


def _validate(xml: bytes, **expected: Any) -> response.Validated:
    envelope = response.open_response(xml)
    return response.validate(envelope, IDP, response.Expected(SP, **expected),
                             decryption_keys=KEYS.decryption_keys, now=datetime.now(UTC))


def _xml_safe(value: str) -> str:
    # lxml refuses to hold what XML cannot carry; an IdP cannot send it either.
    return "".join(c for c in value if c in "\t\n\r" or (" " <= c <= "\ud7ff")
                   or ("\ue000" <= c <= "\ufffd") or c >= "\U00010000")


offsets = st.none() | st.integers(-10**6, 10**6).map(lambda s: timedelta(seconds=s))
specs = st.builds(
    lambda **changes: replace(forge.Spec(issuer=ADFS_ENTITY, acs_url=SP.acs_url,
                                         audience=SP.entity_id), **changes),
    name_id=often("alice@example.com", text_values.map(_xml_safe)),
    name_id_format=st.sampled_from([ns.NAMEID_EMAIL, "urn:x", ""]),
    method=often(ns.CM_BEARER, st.sampled_from(
        ["urn:oasis:names:tc:SAML:2.0:cm:holder-of-key", "x"])),
    not_on_or_after=often(timedelta(minutes=5), offsets),
    scd_not_on_or_after=often(timedelta(minutes=5), offsets),
    session_not_on_or_after=often(timedelta(hours=8), offsets),
    issue_offset=often(timedelta(0), st.integers(-10**5, 10**5).map(
        lambda s: timedelta(seconds=s))),
    attributes=st.dictionaries(
        st.sampled_from([attributes.AWS_ROLE, attributes.AWS_SESSION_NAME,
                         attributes.AWS_SESSION_DURATION, attributes.AWS_SOURCE_IDENTITY,
                         attributes.AWS_TRANSITIVE, attributes.AWS_PRINCIPAL_TAG + "team",
                         "email", "groups", "http://schemas.xmlsoap.org/claims/Group"])
        | WORD.map(_xml_safe).filter(bool),
        st.lists(text_values.map(_xml_safe), max_size=3), max_size=5),
)


@given(spec=specs)
def test_any_response_the_idp_signs_is_accepted_or_refused(spec: forge.Spec) -> None:
    xml = forge.text(forge.signed(spec, SIGNER))
    try:
        validated = _validate(xml)
    except SamlRefusal as exc:
        event(f"refused: {exc.code}")
        assert exc.code and exc.message
        return
    event("accepted")
    assert validated.name_id == spec.name_id.strip()
    for strict in (False, True):
        try:
            identity = attributes.to_identity(validated, strict_aws=strict)
        except SamlRefusal as exc:
            assert strict and exc.code
            continue
        assert identity.subject == validated.name_id


_SIGNED = forge.text(forge.signed(forge.Spec(issuer=ADFS_ENTITY, acs_url=SP.acs_url,
                                             audience=SP.entity_id,
                                             not_on_or_after=timedelta(days=1),
                                             scd_not_on_or_after=timedelta(days=1)),
                                  SIGNER))


@st.composite
def mutated_tree(draw: st.DrawFn, xml: bytes) -> bytes:
    """A signed message with 1-3 edits to its elements, attributes or text."""
    root = etree.fromstring(xml)
    for _ in range(draw(st.integers(1, 3))):
        nodes = list(root.iter(etree.Element))  # elements only: comments hold no children
        node = draw(st.sampled_from(nodes))
        action = draw(st.sampled_from(["text", "attr", "drop", "copy", "move", "comment",
                                       "wrap"]))
        parent = node.getparent()
        if action == "text":
            node.text = _xml_safe(draw(text_values))
        elif action == "attr":
            names = [*node.attrib, "ID", "Destination", "Recipient", "InResponseTo"]
            node.set(draw(st.sampled_from(names)), _xml_safe(draw(text_values)))
        elif action == "drop" and parent is not None:
            parent.remove(node)
        elif action == "copy" and parent is not None:
            parent.insert(draw(st.integers(0, len(parent))), etree.fromstring(
                etree.tostring(node)))
        elif action == "move" and parent is not None:
            target = draw(st.sampled_from([n for n in nodes if n is not node
                                           and node not in n.iterancestors()]))
            target.append(node)
        elif action == "comment":
            node.insert(0, etree.Comment("x"))
        elif action == "wrap" and parent is not None:
            wrapper = etree.SubElement(parent, f"{{{ns.SAMLP}}}Extensions")
            wrapper.append(etree.fromstring(etree.tostring(node)))
    return bytes(etree.tostring(root))


@given(xml=mutated_tree(_SIGNED))
def test_a_signed_response_changed_after_signing_never_yields_another_identity(
    xml: bytes,
) -> None:
    try:
        validated = _validate(xml)
    except SamlRefusal as exc:
        event(f"refused: {exc.code}")
        assert exc.code
        return
    event("accepted")
    # Only edits the signatures do not cover (whitespace-equivalent, or ignored) pass.
    assert validated.name_id == "alice@example.com"
    assert validated.issuer == ADFS_ENTITY
    identity = attributes.to_identity(validated)
    assert identity.subject == "alice@example.com"


@given(data=st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from([b"<", b">", b"/", b"<samlp:Response ", b"xmlns:samlp=\"" +
                              ns.SAMLP.encode() + b"\"", b"<!DOCTYPE x [<!ENTITY a 'b'>]>",
                              b"<?xml version='1.0'?>", b"&a;", b"<![CDATA[", b"]]>", b"\x00",
                              b"<!--", b"-->", b"<?pi x?>", b"\xff\xfe"]), max_size=20)
    .map(b"".join)))
def test_any_bytes_open_as_a_response_or_are_refused(data: bytes) -> None:
    for attempt in (lambda: response.open_response(data),
                    lambda: xmlsafe.b64decode(data),
                    lambda: xmlsafe.inflate(data),
                    lambda: response.open_response(xmlsafe.inflate(zlib.compress(data)[2:-4]))):
        try:
            attempt()
        except SamlRefusal as exc:
            assert exc.code


@given(query=st.lists(st.sampled_from([
    "SAMLRequest=", "SAMLResponse=", "RelayState=", "SigAlg=", "Signature=", "&", "=",
    quote_plus(base64.b64encode(zlib.compress(b"<x/>")[2:-4]).decode()),
    quote_plus(ns.RSA_SHA256), quote_plus(ns.RSA_SHA1), "%", "%zz", "+", "AAAA",
]) | WORD, max_size=10).map("".join), require=st.booleans())
def test_any_redirect_binding_query_is_read_or_refused(query: str, require: bool) -> None:
    try:
        bindings.read_redirect(query, certificates=IDP.metadata.signing_certificates,
                               allow_sha1=False, require_signature=require)
    except SamlRefusal as exc:
        assert exc.code


@given(xml=mutated_tree(METADATA) | st.binary(max_size=200))
def test_any_metadata_parses_or_is_a_metadata_error(xml: bytes) -> None:
    try:
        parsed = metadata.parse(xml, now=datetime.now(UTC))
    except metadata.MetadataError as exc:
        assert exc.message
        return
    assert parsed.signing_certificates


def test_the_fixtures_parse_unchanged() -> None:
    """The fuzzers start from valid messages (else they test nothing but refusals)."""
    assert _validate(_SIGNED).name_id == "alice@example.com"
    assert metadata.parse(METADATA, now=datetime.now(UTC)).entity_id == ADFS_ENTITY
    assert paths({"a": [1]}) == [(), ("a",), ("a", 0)]
