"""XML Encryption of assertions (RSA-OAEP key transport, AES-GCM or AES-CBC content).

Decryption refuses algorithms outside the allow-list before touching the ciphertext
(no RSA PKCS#1 v1.5, no 3DES: attacks.md S-36), and every failure looks the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import xmlsec
from lxml import etree

from gateway.sources.saml import ns
from gateway.sources.saml.errors import SamlRefusal

CONTENT_ALGORITHMS = frozenset(
    {ns.AES128_GCM, ns.AES192_GCM, ns.AES256_GCM, ns.AES128_CBC, ns.AES192_CBC, ns.AES256_CBC}
)
KEY_TRANSPORT = frozenset({ns.RSA_OAEP_MGF1P, ns.RSA_OAEP_11})

_CONTENT = {
    ns.AES128_GCM: (xmlsec.constants.TransformAes128Gcm, 128),
    ns.AES256_GCM: (xmlsec.constants.TransformAes256Gcm, 256),
    ns.AES128_CBC: (xmlsec.constants.TransformAes128Cbc, 128),
    ns.AES256_CBC: (xmlsec.constants.TransformAes256Cbc, 256),
}
_X = {"xenc": ns.XENC, "ds": ns.DS}


def _refused(detail: str) -> SamlRefusal:
    # One message for every failure: no oracle for which step went wrong.
    return SamlRefusal("decryption_failed", "The encrypted assertion could not be decrypted.",
                       detail=detail)


def check_algorithms(encrypted: etree._Element) -> None:
    """Refuse an EncryptedAssertion whose algorithms are not on the allow-list."""
    data = encrypted.findall("xenc:EncryptedData", _X)
    if len(data) != 1:
        raise _refused("not exactly one EncryptedData")
    content = data[0].find("xenc:EncryptionMethod", _X)
    if content is None or content.get("Algorithm") not in CONTENT_ALGORITHMS:
        raise _refused("content encryption algorithm not allowed")
    keys = encrypted.findall(".//xenc:EncryptedKey", _X)
    if not keys:
        raise _refused("no EncryptedKey")
    for key in keys:
        method = key.find("xenc:EncryptionMethod", _X)
        if method is None or method.get("Algorithm") not in KEY_TRANSPORT:
            raise _refused("key transport algorithm not allowed")


def decrypt_assertion(encrypted: etree._Element, keys: Sequence[xmlsec.Key]) -> etree._Element:
    """Replace `encrypted` (an EncryptedAssertion) in its tree by the Assertion it holds."""
    check_algorithms(encrypted)
    for key in keys:
        candidate = _copy_in_place(encrypted)
        data = candidate.find("xenc:EncryptedData", _X)
        manager = xmlsec.KeysManager()
        manager.add_key(key)
        ctx = xmlsec.EncryptionContext(manager)
        try:
            decrypted = ctx.decrypt(data)
        except xmlsec.Error:
            candidate.getparent().replace(candidate, encrypted)
            continue
        if not isinstance(decrypted, etree._Element) or decrypted.tag != ns.ASSERTION:
            raise _refused("decrypted content is not one Assertion")
        if len(candidate) != 1:
            raise _refused("EncryptedAssertion holds more than the assertion")
        parent = candidate.getparent()
        assert parent is not None
        parent.replace(candidate, decrypted)
        return decrypted
    raise _refused("no SP key opens it")


def _copy_in_place(encrypted: etree._Element) -> etree._Element:
    """Swap a copy in, so a failed attempt leaves the original ciphertext for the next key."""
    from copy import deepcopy

    copy = deepcopy(encrypted)
    parent = encrypted.getparent()
    if parent is None:
        raise _refused("EncryptedAssertion has no parent")
    parent.replace(encrypted, copy)
    return copy


def encrypt_assertion(
    assertion: etree._Element,
    certificate_pem: str,
    *,
    algorithm: str = ns.AES256_GCM,
    key_transport: str = ns.RSA_OAEP_MGF1P,
) -> etree._Element:
    """Wrap `assertion` (in its tree) as an EncryptedAssertion for the holder of the certificate."""
    if key_transport != ns.RSA_OAEP_MGF1P:
        raise ValueError("only rsa-oaep-mgf1p key transport is produced")
    transform, bits = _CONTENT[algorithm]
    parent = assertion.getparent()
    if parent is None:
        raise ValueError("the assertion must sit inside a response")
    wrapper = etree.Element(ns.ENCRYPTED_ASSERTION, nsmap={"saml": ns.SAML})
    parent.replace(assertion, wrapper)
    wrapper.append(assertion)
    template = xmlsec.template.encrypted_data_create(
        wrapper, transform, type=xmlsec.constants.TypeEncElement, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(template)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(template, ns="ds")
    enc_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(enc_key)
    manager = xmlsec.KeysManager()
    from gateway.sources.saml.xmldsig import certificate_key

    manager.add_key(certificate_key(certificate_pem))
    ctx = xmlsec.EncryptionContext(manager)
    ctx.key = xmlsec.Key.generate(
        xmlsec.constants.KeyDataAes, bits, xmlsec.constants.KeyDataTypeSession
    )
    return ctx.encrypt_xml(template, assertion)
