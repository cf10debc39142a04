"""Strict validation of SAML responses: what is accepted, and every attack refused by name.

The attack corpus follows attacks.md §1 (S-01..S-41). Each crafted response is refused
with its reason code; none ever yields the attacker's identity.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from gateway.sources.saml import attributes, ns, sp_keys, xmlsafe
from gateway.sources.saml.errors import SamlRefusal
from tests.sources.saml import forge
from tests.sources.saml.conftest import ADFS_ENTITY, SP, Validate, make_idp


def refused(validate: Validate, xml: bytes, **kwargs: object) -> SamlRefusal:
    with pytest.raises(SamlRefusal) as caught:
        validate(xml, **kwargs)
    return caught.value


# ---------------------------------------------------------------- accepted


def test_a_signed_response_yields_the_asserted_identity(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    validated = validate(forge.text(forge.signed(spec, idp_signer)))
    assert validated.name_id == "alice@example.com"
    assert validated.issuer == ADFS_ENTITY
    assert validated.recipient == SP.acs_url
    assert validated.assertion_id == spec.assertion_id
    identity = attributes.to_identity(validated)
    assert identity.subject == "alice@example.com"
    assert identity.attributes["groups"] == ("engineering",)
    assert identity.session_name == "alice"
    assert identity.condition_keys["saml:aud"] == (SP.acs_url,)
    assert identity.condition_keys["saml:doc"] == ("111111111111/corp",)


@pytest.mark.parametrize(("response_signed", "assertion_signed"),
                         [(True, False), (False, True), (True, True)])
def test_either_signature_covering_the_assertion_is_enough(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer,
    response_signed: bool, assertion_signed: bool,
) -> None:
    root = forge.signed(spec, idp_signer, response=response_signed, assertion=assertion_signed)
    assert validate(forge.text(root)).name_id == "alice@example.com"


def test_a_solicited_response_must_answer_the_request(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    spec.in_response_to = "id-" + "a" * 40
    xml = forge.text(forge.signed(spec, idp_signer))
    assert validate(xml, request_id="id-" + "a" * 40).in_response_to == spec.in_response_to
    assert refused(validate, xml, request_id="id-" + "b" * 40).code == "in_response_to_mismatch"
    # Unsolicited expected (IdP-initiated): a response answering some request is refused.
    assert refused(validate, xml).code == "in_response_to_mismatch"


def test_inresponseto_inside_the_assertion_must_agree(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    root = forge.build(replace(spec, in_response_to="id-request-a"))
    data = root.find(f".//{ns.q(ns.SAML, 'SubjectConfirmationData')}")
    assert data is not None
    data.set("InResponseTo", "id-request-b")
    idp_signer.sign(root)
    assert refused(validate, forge.text(root), request_id="id-request-a").code == (
        "in_response_to_mismatch"
    )


def test_sts_validation_ignores_inresponseto(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    spec.in_response_to = "id-someone-elses-request"
    xml = forge.text(forge.signed(spec, idp_signer))
    assert validate(xml, check_in_response_to=False).name_id == "alice@example.com"


def test_rollover_any_signing_certificate_in_metadata_verifies(
    validate: Validate, spec: forge.Spec
) -> None:
    from gateway.sources.saml import metadata
    from gateway.sources.saml.providers import Idp, IdpPolicy
    from tests.sources.saml.conftest import provider_record

    xml_md = (forge.FIXTURES / "entra" / "metadata.xml").read_text()
    record = provider_record(metadata_xml=xml_md)
    parsed = metadata.parse(xml_md.encode(), now=datetime.now(UTC))
    assert len(parsed.signing_certificates) == 2
    idp = Idp(record, parsed, IdpPolicy())
    spec.issuer = parsed.entity_id
    for file in ("signing", "signing-next"):
        root = forge.signed(spec, forge.Signer.fixture("entra", file))
        assert validate(forge.text(root), idp=idp).issuer == parsed.entity_id


# ---------------------------------------------------------------- signature attacks


@pytest.mark.parametrize("name", sorted(forge.XSW))
def test_signature_wrapping_is_refused(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer, name: str
) -> None:
    # XSW1-2 target a signed Response, XSW3-8 a signed Assertion.
    response_signed = name in ("xsw1", "xsw2")
    root = forge.signed(spec, idp_signer, response=response_signed,
                        assertion=not response_signed)
    xml = forge.XSW[name](root)
    assert forge.EVIL.encode() in xml
    error = refused(validate, xml)
    assert error.code in {"assertion_count", "signature_invalid", "malformed"}, error.code
    assert error.status in (400, 403)


@pytest.mark.parametrize("name", sorted(forge.XSW))
def test_signature_wrapping_is_refused_even_without_the_schema(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer, name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Defence in depth: the schema stops most wrapping; the structural checks alone too."""
    from gateway.sources.saml import response as response_module

    monkeypatch.setattr(response_module.schema, "validate", lambda root, **kw: None)
    response_signed = name in ("xsw1", "xsw2")
    root = forge.signed(spec, idp_signer, response=response_signed,
                        assertion=not response_signed)
    error = refused(validate, forge.XSW[name](root))
    assert error.code in {"assertion_count", "signature_invalid"}, error.code


def test_signature_stripped_is_refused(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    error = refused(validate, forge.signature_stripped(forge.signed(spec, idp_signer)))
    assert error.code == "signature_missing"
    assert "unsigned assertions are never accepted" in error.message


def test_response_signature_stripped_is_refused(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    root = forge.signed(spec, idp_signer, assertion=False)
    assert refused(validate, forge.response_signature_stripped(root)).code == (
        "signature_missing"
    )


def test_edits_after_signing_are_refused(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    for response_signed, assertion_signed in ((True, False), (False, True)):
        root = forge.signed(spec, idp_signer, response=response_signed,
                            assertion=assertion_signed)
        assert refused(validate, forge.tampered(root)).code == "signature_invalid"


def test_signed_by_another_key_is_refused(
    validate: Validate, spec: forge.Spec, attacker: forge.Signer
) -> None:
    error = refused(validate, forge.text(forge.signed(spec, attacker)))
    assert error.code == "signature_invalid"


def test_keyinfo_certificate_substitution_is_refused(
    validate: Validate, spec: forge.Spec, attacker: forge.Signer, idp_signer: forge.Signer
) -> None:
    """S-13: the attacker signs and puts a certificate in KeyInfo: the IdP's, or its own."""
    for claimed in (idp_signer.certificate_pem, attacker.certificate_pem):
        root = forge.build(spec)
        attacker.sign(forge.assertion_of(root), certificate_pem=claimed)
        attacker.sign(root, certificate_pem=claimed)
        assert refused(validate, forge.text(root)).code == "signature_invalid"


def test_comment_injected_nameid_is_refused(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    """S-16: exclusive c14n drops comments, so the signature stays valid; the comment must
    not truncate the identity to alice@example.com: the response is refused."""
    spec.name_id = "alice@example.com.evil.test"
    xml = forge.comment_injected(forge.text(forge.signed(spec, idp_signer)))
    assert b"<!---->" in xml
    error = refused(validate, xml)
    assert error.code == "comment_injection"


def test_sha1_is_refused_unless_allowed(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    xml = forge.text(forge.signed(spec, idp_signer, algorithm=ns.RSA_SHA1, digest=ns.SHA1))
    assert refused(validate, xml).code == "weak_signature_alg"
    assert validate(xml, idp=make_idp(allow_sha1=True)).name_id == "alice@example.com"
    # A SHA-256 signature over a SHA-1 digest is still SHA-1.
    xml = forge.text(forge.signed(spec, idp_signer, digest=ns.SHA1))
    assert refused(validate, xml).code == "weak_signature_alg"


def _rewrite_signed_info(root: etree._Element, change: str) -> bytes:
    signature = root.find(ns.SIGNATURE)
    assert signature is not None
    info = signature.find(ns.q(ns.DS, "SignedInfo"))
    assert info is not None
    if change == "xslt":
        transforms = info.find(f".//{ns.q(ns.DS, 'Transforms')}")
        assert transforms is not None
        etree.SubElement(transforms, ns.q(ns.DS, "Transform"),
                         Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116")
    elif change == "hmac":
        method = info.find(ns.q(ns.DS, "SignatureMethod"))
        assert method is not None
        method.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")
        etree.SubElement(method, ns.q(ns.DS, "HMACOutputLength")).text = "0"
    elif change == "external_uri":
        reference = info.find(ns.q(ns.DS, "Reference"))
        assert reference is not None
        reference.set("URI", "http://127.0.0.1:9/steal")
    elif change == "two_references":
        reference = info.find(ns.q(ns.DS, "Reference"))
        assert reference is not None
        info.append(copy.deepcopy(reference))
    return forge.text(root)


@pytest.mark.parametrize(("change", "code"), [
    ("xslt", "signature_invalid"),
    ("hmac", "weak_signature_alg"),
    ("external_uri", "signature_invalid"),
    ("two_references", "signature_invalid"),
])
def test_signature_profile_violations_are_refused_before_any_crypto(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer, change: str, code: str
) -> None:
    """S-14, S-20..S-22: HMAC, XSLT, external or extra references."""
    root = forge.signed(spec, idp_signer, assertion=False)
    assert refused(validate, _rewrite_signed_info(root, change)).code == code


# ---------------------------------------------------------------- XML parser attacks


@pytest.mark.parametrize(("prolog", "entity"), [
    (forge.XXE, "x"),
    (forge.BILLION_LAUGHS, "j"),
    (forge.EXTERNAL_DTD, None),
], ids=["xxe", "billion_laughs", "external_dtd"])
def test_doctypes_and_entities_are_refused(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer, prolog: bytes,
    entity: str | None,
) -> None:
    """S-09, S-10, S-17..S-19: any DOCTYPE is refused before parsing, fast."""
    xml = forge.with_prolog(prolog, forge.text(forge.signed(spec, idp_signer)), entity)
    started = datetime.now(UTC)
    error = refused(validate, xml)
    assert (error.code, error.status) == ("malformed", 400)
    assert "DOCTYPE" in error.message
    assert datetime.now(UTC) - started < timedelta(seconds=1)


def test_processing_instructions_are_refused(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    xml = forge.text(forge.signed(spec, idp_signer))
    xml = xml.replace(b"<saml:Issuer>", b"<?evil x?><saml:Issuer>", 1)
    assert refused(validate, xml).code == "malformed"


def test_deflate_bombs_stop_at_the_limit() -> None:
    """S-38: inflation is bounded (the Redirect binding's DEFLATE)."""
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(b"\0" * (50 * 1024 * 1024)) + compressor.flush()
    with pytest.raises(SamlRefusal) as caught:
        xmlsafe.inflate(bomb)
    assert caught.value.status == 400


def test_oversized_and_non_base64_input_is_refused() -> None:
    with pytest.raises(SamlRefusal):
        xmlsafe.b64decode("A" * (xmlsafe.MAX_ENCODED + 4))
    with pytest.raises(SamlRefusal):
        xmlsafe.b64decode("not*base64")


def test_not_a_response_is_refused(validate: Validate) -> None:
    assert refused(validate, b"<foo/>").code == "malformed"
    assert refused(validate, b"<samlp:Response xmlns:samlp='urn:oasis:names:tc:SAML:2.0"
                             b":protocol'/>").code == "malformed"  # schema


# ---------------------------------------------------------------- semantic checks


@pytest.mark.parametrize(("change", "code"), [
    ({"not_on_or_after": timedelta(minutes=-10)}, "expired"),
    ({"scd_not_on_or_after": timedelta(minutes=-10)}, "expired"),
    ({"session_not_on_or_after": timedelta(minutes=-10)}, "expired"),
    ({"issue_offset": timedelta(hours=-23)}, "expired"),
    ({"not_before": timedelta(minutes=10)}, "not_yet_valid"),
    ({"issue_offset": timedelta(minutes=10)}, "not_yet_valid"),
    ({"audience": "https://other-sp.example.test/metadata"}, "audience_mismatch"),
    ({"conditions": False}, "audience_mismatch"),
    ({"audience_restriction": False}, "audience_mismatch"),
    ({"recipient": "https://evil.example/acs"}, "recipient_mismatch"),
    ({"recipient": None}, "recipient_mismatch"),
    ({"destination": "https://evil.example/acs"}, "destination_mismatch"),
    ({"destination": None}, "destination_mismatch"),
    ({"issuer": "https://other-idp.example.test"}, "issuer_mismatch"),
    ({"response_issuer": "https://other-idp.example.test"}, "issuer_mismatch"),
    ({"scd_not_on_or_after": None}, "subject_confirmation"),
    ({"method": "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches"}, "subject_confirmation"),
    ({"method": "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"}, "subject_confirmation"),
    ({"status": "urn:oasis:names:tc:SAML:2.0:status:Responder"}, "idp_status"),
])
def test_signed_but_wrong_responses_are_refused(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer,
    change: dict[str, object], code: str,
) -> None:
    """S-23..S-35: all signed by the trusted IdP, all refused with the reason named."""
    error = refused(validate, forge.text(forge.signed(replace(spec, **change), idp_signer)))
    assert error.code == code, (error.code, error.message)


def test_clock_skew_is_honoured(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    within = replace(spec, not_before=timedelta(seconds=60))  # skew is 90 s
    assert validate(forge.text(forge.signed(within, idp_signer))).name_id
    beyond = replace(spec, not_before=timedelta(seconds=150))
    assert refused(validate, forge.text(forge.signed(beyond, idp_signer))).code == (
        "not_yet_valid"
    )


def test_two_assertions_are_refused(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    """S-31: one signed assertion plus a second one (signed or not)."""
    root = forge.signed(spec, idp_signer, response=False)
    second = copy.deepcopy(forge.assertion_of(root))
    second.set("ID", "_second")
    root.append(second)
    assert refused(validate, forge.text(root)).code == "assertion_count"


def test_assertions_in_advice_are_refused(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    root = forge.build(spec)
    assertion = forge.assertion_of(root)
    evil = copy.deepcopy(assertion)
    evil.set("ID", "_advice")
    conditions = assertion.find(ns.q(ns.SAML, "Conditions"))
    assert conditions is not None
    advice = etree.Element(ns.q(ns.SAML, "Advice"))
    advice.append(evil)
    conditions.addnext(advice)
    idp_signer.sign(assertion)
    assert refused(validate, forge.text(root)).code == "assertion_count"


def test_duplicate_ids_are_refused(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    root = forge.signed(spec, idp_signer, response=False)
    root.set("ID", spec.assertion_id)  # the Reference could now resolve to either element
    # The schema (xs:ID) catches it first; the gateway's own check stands behind it.
    assert refused(validate, forge.text(root)).code in {"malformed", "signature_invalid"}


def test_required_signatures_follow_the_providers_policy(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    only_assertion = forge.text(forge.signed(spec, idp_signer, response=False))
    only_response = forge.text(forge.signed(spec, idp_signer, assertion=False))
    strict_response = make_idp(require_signed_response=True)
    strict_assertion = make_idp(require_signed_assertion=True)
    assert refused(validate, only_assertion, idp=strict_response).code == "signature_missing"
    assert refused(validate, only_response, idp=strict_assertion).code == "signature_missing"
    assert validate(only_response, idp=strict_response).name_id
    assert validate(only_assertion, idp=strict_assertion).name_id


# ---------------------------------------------------------------- encryption


@pytest.mark.parametrize("algorithm", [ns.AES256_GCM, ns.AES128_GCM, ns.AES256_CBC])
def test_encrypted_assertions_are_decrypted_with_the_sp_key(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer,
    sp_keys_pair: sp_keys.SpKeys, algorithm: str,
) -> None:
    from gateway.sources.saml import xmlenc

    root = forge.build(spec)
    idp_signer.sign(forge.assertion_of(root))
    xmlenc.encrypt_assertion(forge.assertion_of(root), sp_keys_pair.current.certificate_pem,
                             algorithm=algorithm)
    idp_signer.sign(root)
    xml = forge.text(root)
    assert b"EncryptedAssertion" in xml and b"alice@example.com" not in xml
    assert validate(xml).name_id == "alice@example.com"


def test_encrypted_assertion_under_the_wrong_key_is_refused(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer,
    other_sp_keys: sp_keys.SpKeys,
) -> None:
    root = forge.signed(spec, idp_signer, encrypt_to=other_sp_keys.current.certificate_pem)
    error = refused(validate, forge.text(root))
    assert error.code == "decryption_failed"
    assert error.message == "The encrypted assertion could not be decrypted."


def test_weak_encryption_algorithms_are_refused(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer,
    sp_keys_pair: sp_keys.SpKeys,
) -> None:
    """S-36: RSA PKCS#1 v1.5 key transport is refused before decrypting anything."""
    root = forge.signed(spec, idp_signer, response=False,
                        encrypt_to=sp_keys_pair.current.certificate_pem)
    for method in root.iter(ns.q(ns.XENC, "EncryptionMethod")):
        if method.get("Algorithm") == ns.RSA_OAEP_MGF1P:
            method.set("Algorithm", "http://www.w3.org/2001/04/xmlenc#rsa-1_5")
    assert refused(validate, forge.text(root)).code == "decryption_failed"


def test_unsigned_encrypted_assertions_are_refused(
    validate: Validate, spec: forge.Spec, attacker: forge.Signer,
    sp_keys_pair: sp_keys.SpKeys,
) -> None:
    """Anyone can encrypt to our public key: the decrypted assertion still needs the IdP."""
    root = forge.signed(spec, attacker, response=False, assertion=False,
                        encrypt_to=sp_keys_pair.current.certificate_pem)
    assert refused(validate, forge.text(root)).code == "signature_missing"


# ---------------------------------------------------------------- refusals never leak


def test_refusal_messages_never_echo_the_document(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    spec.name_id = "<script>alert(1)</script>"
    spec.audience = "https://other.example/<b>"
    error = refused(validate, forge.text(forge.signed(spec, idp_signer)))
    assert "<script>" not in error.message and "<b>" not in error.message


def test_a_doctype_after_a_padded_prolog_or_inside_cdata_is_refused(
    validate: Validate, spec: forge.Spec, idp_signer: forge.Signer
) -> None:
    """S-10: parser-differential tricks hide the DOCTYPE past the first bytes."""
    xml = forge.text(forge.signed(spec, idp_signer))
    padded = b"<?xml version='1.0'?>\n<!--" + b" " * 8000 + b"-->\n<!DOCTYPE r>\n" + xml
    assert refused(validate, padded).code == "malformed"
    sandwich = xml.replace(b"<saml:Issuer>", b"<saml:Issuer><![CDATA[<!DOCTYPE x]]>", 1)
    assert refused(validate, sandwich).code == "malformed"
