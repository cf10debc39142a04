"""Enveloped XML signatures on SAML elements, in process with the `xmlsec` binding.

`check_profile` enforces the SAML Core §5.4 signature profile and the algorithm
allow-list before any cryptography runs; `verify` checks one element's own
signature against keys the caller trusts (never a key carried in the message);
`sign` produces the same shape for the SP's own messages and the demo IdP.
"""

from __future__ import annotations

from collections.abc import Sequence

import xmlsec
from lxml import etree

from gateway.sources.saml import ns
from gateway.sources.saml.errors import SamlRefusal, bad_signature

SIGNATURE_METHODS = frozenset(
    {ns.RSA_SHA256, ns.RSA_SHA384, ns.RSA_SHA512, ns.ECDSA_SHA256, ns.ECDSA_SHA384,
     ns.ECDSA_SHA512}
)
DIGEST_METHODS = frozenset({ns.SHA256, ns.SHA384, ns.SHA512})
C14N_METHODS = frozenset({ns.EXC_C14N, ns.EXC_C14N_COMMENTS})
TRANSFORMS = frozenset({ns.ENVELOPED, ns.EXC_C14N, ns.EXC_C14N_COMMENTS})

_SIGN = {
    ns.RSA_SHA256: xmlsec.constants.TransformRsaSha256,
    ns.RSA_SHA384: xmlsec.constants.TransformRsaSha384,
    ns.RSA_SHA512: xmlsec.constants.TransformRsaSha512,
    ns.RSA_SHA1: xmlsec.constants.TransformRsaSha1,
}
_DIGEST = {
    ns.SHA256: xmlsec.constants.TransformSha256,
    ns.SHA384: xmlsec.constants.TransformSha384,
    ns.SHA512: xmlsec.constants.TransformSha512,
    ns.SHA1: xmlsec.constants.TransformSha1,
}
_DS = {"ds": ns.DS}


def _weak(message: str) -> SamlRefusal:
    return SamlRefusal("weak_signature_alg", message)


def check_profile(signature: etree._Element, parent: etree._Element, *, allow_sha1: bool) -> None:
    """Refuse a signature that is not a single enveloped reference to `parent` with allowed
    algorithms (XSW, SSRF through Reference URIs, XSLT/XPath transforms, ds:Object, SHA-1)."""
    if signature.getparent() is not parent:
        raise bad_signature(detail="signature is not a direct child of the signed element")
    signed_info = signature.findall("ds:SignedInfo", _DS)
    if len(signed_info) != 1:
        raise bad_signature(detail="not exactly one SignedInfo")
    info = signed_info[0]
    if signature.find("ds:Object", _DS) is not None:
        raise bad_signature(detail="ds:Object present")
    c14n = info.find("ds:CanonicalizationMethod", _DS)
    if c14n is None or c14n.get("Algorithm") not in C14N_METHODS:
        raise bad_signature(detail="canonicalization method not allowed")
    method = info.find("ds:SignatureMethod", _DS)
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm == ns.RSA_SHA1 and not allow_sha1:
        raise _weak("The response is signed with SHA-1, which this identity provider may not use.")
    if algorithm not in SIGNATURE_METHODS and algorithm != ns.RSA_SHA1:
        raise _weak("The response is signed with an algorithm this gateway does not accept.")
    if method is not None and len(method):
        raise bad_signature(detail="SignatureMethod has parameters (HMACOutputLength?)")
    references = info.findall("ds:Reference", _DS)
    if len(references) != 1:
        raise bad_signature(detail="not exactly one Reference")
    reference = references[0]
    element_id = parent.get("ID")
    if not element_id or reference.get("URI") != f"#{element_id}":
        raise bad_signature(detail="Reference does not point at the enveloping element")
    transforms = reference.findall("ds:Transforms/ds:Transform", _DS)
    names = [t.get("Algorithm") for t in transforms]
    if not 1 <= len(names) <= 2 or ns.ENVELOPED not in names or not set(names) <= TRANSFORMS:
        raise bad_signature(detail=f"transforms not allowed: {names!r}"[:200])
    for transform in transforms:
        # Only InclusiveNamespaces may parameterize exc-c14n; anything else is a smuggled transform.
        for child in transform:
            if not (isinstance(child.tag, str) and child.tag.endswith("}InclusiveNamespaces")):
                raise bad_signature(detail="unexpected transform parameters")
    digest = reference.find("ds:DigestMethod", _DS)
    digest_algorithm = digest.get("Algorithm") if digest is not None else None
    if digest_algorithm == ns.SHA1 and not allow_sha1:
        raise _weak("The response uses a SHA-1 digest, which this identity provider may not use.")
    if digest_algorithm not in DIGEST_METHODS and digest_algorithm != ns.SHA1:
        raise _weak("The response uses a digest algorithm this gateway does not accept.")


def _context() -> xmlsec.SignatureContext:
    ctx = xmlsec.SignatureContext()
    # The reference list covers its transforms and its DigestMethod.
    for transform in (
        xmlsec.constants.TransformEnveloped,
        xmlsec.constants.TransformExclC14N,
        xmlsec.constants.TransformExclC14NWithComments,
        *_DIGEST.values(),
    ):
        ctx.enable_reference_transform(transform)
    for transform in (
        xmlsec.constants.TransformExclC14N,
        xmlsec.constants.TransformExclC14NWithComments,
        *_SIGN.values(),
        xmlsec.constants.TransformEcdsaSha256,
        xmlsec.constants.TransformEcdsaSha384,
        xmlsec.constants.TransformEcdsaSha512,
    ):
        ctx.enable_signature_transform(transform)
    return ctx


def verify(element: etree._Element, signature: etree._Element, keys: Sequence[xmlsec.Key]) -> bool:
    """Whether `signature` (already profile-checked) is a valid signature over `element`
    by one of `keys`. The element's ID is the only one registered, so the Reference can
    resolve to nothing else."""
    for key in keys:
        ctx = _context()
        ctx.register_id(element, "ID")
        ctx.key = key
        try:
            ctx.verify(signature)
        except xmlsec.Error:
            continue
        return True
    return False


def sign(
    element: etree._Element,
    key: xmlsec.Key,
    certificate_pem: str | None,
    *,
    algorithm: str = ns.RSA_SHA256,
    digest: str = ns.SHA256,
) -> etree._Element:
    """Add an enveloped signature to `element` (after its Issuer, as the SAML schema wants)."""
    element_id = element.get("ID")
    if not element_id:
        raise ValueError("only elements with an ID attribute can be signed")
    signature = xmlsec.template.create(
        element, xmlsec.constants.TransformExclC14N, _SIGN[algorithm], ns="ds"
    )
    issuer = element.find(ns.ISSUER)
    if issuer is not None:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)
    ref = xmlsec.template.add_reference(signature, _DIGEST[digest], uri=f"#{element_id}")
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    if certificate_pem:
        key_info = xmlsec.template.ensure_key_info(signature)
        x509 = xmlsec.template.add_x509_data(key_info)
        cert = xmlsec.template.x509_data_add_certificate(x509)
        cert.text = pem_body(certificate_pem)
    ctx = xmlsec.SignatureContext()
    ctx.register_id(element, "ID")
    ctx.key = key
    ctx.sign(signature)
    return signature


def sign_existing(element: etree._Element, signature: etree._Element, key: xmlsec.Key) -> None:
    """Fill in a signature template someone else (pysaml2) placed in `element`."""
    ctx = xmlsec.SignatureContext()
    ctx.register_id(element, "ID")
    ctx.key = key
    ctx.sign(signature)


def pem_body(pem: str) -> str:
    """The base64 body of a PEM certificate, as metadata and KeyInfo carry it."""
    lines = [line.strip() for line in pem.strip().splitlines()]
    return "".join(line for line in lines if line and not line.startswith("-----"))


def certificate_pem(certificate: str) -> str:
    """A PEM certificate from PEM text or the bare base64 body metadata carries."""
    body = pem_body(certificate)
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n"


def certificate_key(certificate: str) -> xmlsec.Key:
    """An xmlsec verification key holding only the certificate's public key.

    A bare public key verifies a third faster than a certificate-backed key (no X.509
    copy per context); trust in the certificate comes from metadata, not from xmlsec.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(certificate_pem(certificate).encode())
    public = cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return xmlsec.Key.from_memory(public, xmlsec.constants.KeyDataFormatPem)


def private_key(pem: bytes, certificate_pem: str | None = None) -> xmlsec.Key:
    """An xmlsec signing/decryption key from a PEM private key."""
    key = xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem)
    if certificate_pem:
        key.load_cert_from_memory(certificate_pem.encode(), xmlsec.constants.KeyDataFormatCertPem)
    return key
