"""The HTTP-Redirect binding: DEFLATE + base64 in the query, signed over the query octets.

Signing follows SAML Bindings §3.4.4.1: the signature covers
`SAMLRequest=…[&RelayState=…]&SigAlg=…` exactly as sent, so verification uses the
raw, still URL-encoded values from the query string rather than decoded ones.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import quote, unquote_plus

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from gateway.sources.saml import ns, xmldsig, xmlsafe
from gateway.sources.saml.errors import SamlRefusal, malformed

_HASHES: dict[str, hashes.HashAlgorithm] = {
    ns.RSA_SHA256: hashes.SHA256(),
    ns.RSA_SHA384: hashes.SHA384(),
    ns.RSA_SHA512: hashes.SHA512(),
    ns.RSA_SHA1: hashes.SHA1(),  # noqa: S303 - only when an admin allowed SHA-1 for the IdP
    ns.ECDSA_SHA256: hashes.SHA256(),
    ns.ECDSA_SHA384: hashes.SHA384(),
    ns.ECDSA_SHA512: hashes.SHA512(),
}
MAX_QUERY_PARAM = 16 * 1024


def deflate_b64(xml: bytes) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode()


@lru_cache(maxsize=16)
def _private(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("the SP key must be RSA")
    return key


def redirect_url(
    location: str, kind: str, xml: bytes, *, relay_state: str | None, private_pem: bytes
) -> str:
    """`location` with a signed (RSA-SHA256) SAMLRequest/SAMLResponse query."""
    parts = [f"{kind}={quote(deflate_b64(xml), safe='')}"]
    if relay_state:
        parts.append(f"RelayState={quote(relay_state, safe='')}")
    parts.append(f"SigAlg={quote(ns.RSA_SHA256, safe='')}")
    signed = "&".join(parts)
    signature = _private(private_pem).sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    query = f"{signed}&Signature={quote(base64.b64encode(signature).decode(), safe='')}"
    return f"{location}{'&' if '?' in location else '?'}{query}"


def _raw_params(query_string: str) -> dict[str, str]:
    """First raw (still encoded) value of each parameter; duplicates are refused."""
    out: dict[str, str] = {}
    for pair in query_string.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if name in out and name in ("SAMLRequest", "SAMLResponse", "RelayState", "SigAlg",
                                    "Signature"):
            raise malformed("The SAML query has a repeated parameter.", name)
        out.setdefault(name, value)
    return out


@lru_cache(maxsize=64)
def _public(certificate_pem: str) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise TypeError("unsupported IdP key type")
    return key


def read_redirect(
    query_string: str, *, certificates: Sequence[str], allow_sha1: bool, require_signature: bool
) -> tuple[str, bytes, str | None]:
    """(kind, XML, RelayState) from a Redirect-binding query, its signature checked."""
    params = _raw_params(query_string)
    kind = "SAMLRequest" if "SAMLRequest" in params else "SAMLResponse"
    if kind not in params:
        raise malformed("The request carries no SAML message.")
    raw_message = params[kind]
    if len(raw_message) > MAX_QUERY_PARAM:
        raise malformed("The SAML message is too large.")
    relay = params.get("RelayState")
    if "Signature" in params:
        sig_alg = unquote_plus(params.get("SigAlg", ""))
        if sig_alg == ns.RSA_SHA1 and not allow_sha1:
            raise SamlRefusal("weak_signature_alg", "The message is signed with SHA-1, which this "
                              "identity provider may not use.")
        if sig_alg not in xmldsig.SIGNATURE_METHODS and sig_alg != ns.RSA_SHA1:
            raise SamlRefusal("weak_signature_alg", "The message is signed with an algorithm "
                              "this gateway does not accept.")
        signed = f"{kind}={raw_message}"
        if relay is not None:
            signed += f"&RelayState={relay}"
        signed += f"&SigAlg={params['SigAlg']}"
        signature = xmlsafe.b64decode(unquote_plus(params["Signature"]))
        if not _verify(signed.encode(), signature, sig_alg, certificates):
            raise SamlRefusal("signature_invalid", "The message signature is invalid.")
    elif require_signature:
        raise SamlRefusal("signature_missing", "The message is not signed; logout messages must "
                          "be signed by the identity provider.")
    xml = xmlsafe.inflate(xmlsafe.b64decode(unquote_plus(raw_message)))
    return kind, xml, unquote_plus(relay) if relay is not None else None


def _verify(data: bytes, signature: bytes, sig_alg: str, certificates: Sequence[str]) -> bool:
    algorithm = _HASHES[sig_alg]
    for certificate in certificates:
        key = _public(certificate)
        ecdsa = sig_alg.rsplit("#", 1)[-1].startswith("ecdsa")
        try:
            if isinstance(key, rsa.RSAPublicKey) and not ecdsa:
                key.verify(signature, data, padding.PKCS1v15(), algorithm)
            elif isinstance(key, ec.EllipticCurvePublicKey) and ecdsa:
                key.verify(signature, data, ec.ECDSA(algorithm))
            else:
                continue
        except InvalidSignature:
            continue
        return True
    return False
