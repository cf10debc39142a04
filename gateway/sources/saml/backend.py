"""A pysaml2 crypto backend on the `xmlsec` Python binding: no xmlsec1 process, no temp files.

pysaml2 hands backends file names (its configuration speaks in key_file/cert_file);
this backend also accepts PEM text in their place, and caches parsed keys by value.
Signatures made here follow the same profile the gateway demands of IdPs.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import xmlsec
from lxml import etree
from saml2.sigver import CryptoBackend, DecryptError, EncryptError, SignatureError

from gateway.sources.saml import ns, xmldsig, xmlenc, xmlsafe

_lock = threading.Lock()
_keys: dict[tuple[str, str], xmlsec.Key] = {}


def _material(file_or_pem: str | bytes) -> bytes:
    if isinstance(file_or_pem, bytes):
        return file_or_pem
    if "-----BEGIN" in file_or_pem:
        return file_or_pem.encode()
    return Path(file_or_pem).read_bytes()


def load_key(file_or_pem: str | bytes, kind: str) -> xmlsec.Key:
    """A private key ("private") or a certificate's public key ("cert"), cached."""
    text = _material(file_or_pem)
    cache_key = (kind, text.decode("ascii", "replace"))
    with _lock:
        cached = _keys.get(cache_key)
    if cached is not None:
        return cached
    key = xmldsig.private_key(text) if kind == "private" else xmldsig.certificate_key(text.decode())
    with _lock:
        _keys[cache_key] = key
    return key


def _bytes(document: Any) -> bytes:
    """pysaml2 passes documents as str, bytes or message objects."""
    if isinstance(document, bytes):
        return document
    return str(document).encode()


def _tag(node_name: str) -> str:
    namespace, _, local = node_name.rpartition(":")
    return ns.q(namespace, local)


def _find(root: etree._Element, node_name: str, node_id: str | None) -> etree._Element:
    tag = _tag(node_name)
    for element in root.iter(tag):
        if node_id is None or element.get("ID") == node_id:
            return element
    raise SignatureError(f"no {node_name} with ID {node_id!r}")


class XmlsecBindingBackend(CryptoBackend):  # type: ignore[misc]
    """Sign, verify, encrypt and decrypt in process for pysaml2's SecurityContext."""

    @property
    def version(self) -> str:
        version = getattr(xmlsec, "get_libxmlsec_version", lambda: (0, 0, 0))()
        return ".".join(str(n) for n in version)

    def sign_statement(
        self, statement: Any, node_name: str, key_file: str, node_id: str | None
    ) -> str:
        root = xmlsafe.parse(_bytes(statement))
        element = _find(root, node_name, node_id)
        signature = element.find(ns.SIGNATURE)
        if signature is None:
            raise SignatureError(f"{node_name} {node_id} has no signature template")
        try:
            xmldsig.sign_existing(element, signature, load_key(key_file, "private"))
        except xmlsec.Error as exc:
            raise SignatureError(str(exc)) from exc
        return str(etree.tostring(root, encoding="unicode"))

    def validate_signature(
        self, signedtext: Any, cert_file: str, cert_type: str, node_name: str, node_id: str | None
    ) -> bool:
        if cert_type != "pem":
            raise SignatureError("only PEM certificates are supported")
        root = xmlsafe.parse(_bytes(signedtext))
        element = _find(root, node_name, node_id)
        signature = element.find(ns.SIGNATURE)
        if signature is None:
            return False
        xmldsig.check_profile(signature, element, allow_sha1=True)
        return xmldsig.verify(element, signature, [load_key(cert_file, "cert")])

    def encrypt(self, text: str, recv_key: str, template: str, key_type: str,
                xpath: str = "") -> str:
        raise EncryptError("only assertion encryption is supported by this backend")

    def encrypt_assertion(
        self, statement: Any, enc_key: str, template: Any, key_type: str = "aes256-gcm",
        node_xpath: str | None = None, node_id: str | None = None,
    ) -> str:
        from saml2 import SamlBase
        from saml2.sigver import pre_encrypt_assertion

        if isinstance(statement, SamlBase):
            statement = pre_encrypt_assertion(statement)
        root = xmlsafe.parse(_bytes(statement))
        holder = root.find(f".//{ns.ENCRYPTED_ASSERTION}")
        assertion = holder.find(ns.ASSERTION) if holder is not None else None
        if holder is None or assertion is None:
            raise EncryptError("no assertion to encrypt")
        parent = holder.getparent()
        assert parent is not None
        parent.replace(holder, assertion)
        algorithm = {
            "aes128-gcm": ns.AES128_GCM, "aes256-gcm": ns.AES256_GCM,
            "aes128-cbc": ns.AES128_CBC, "aes256-cbc": ns.AES256_CBC,
        }.get(key_type, ns.AES256_GCM)  # 3DES and other legacy choices become AES-256-GCM
        try:
            xmlenc.encrypt_assertion(assertion, _material(enc_key).decode(), algorithm=algorithm)
        except xmlsec.Error as exc:
            raise EncryptError(str(exc)) from exc
        return str(etree.tostring(root, encoding="unicode"))

    def decrypt(self, enctext: Any, key_file: str) -> str:
        root = xmlsafe.parse(_bytes(enctext))
        key = load_key(key_file, "private")
        found = False
        for holder in list(root.iter(ns.ENCRYPTED_ASSERTION)):
            found = True
            try:
                assertion = xmlenc.decrypt_assertion(holder, [key])
            except Exception as exc:
                raise DecryptError(str(exc)) from exc
            # pysaml2 expects xmlsec1's output: the assertion still inside EncryptedAssertion.
            wrapper = etree.Element(ns.ENCRYPTED_ASSERTION, nsmap={"saml": ns.SAML})
            parent = assertion.getparent()
            assert parent is not None
            parent.replace(assertion, wrapper)
            wrapper.append(assertion)
        if not found:
            raise DecryptError("nothing to decrypt")
        return str(etree.tostring(root, encoding="unicode"))
