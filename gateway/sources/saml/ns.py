"""XML namespaces and algorithm identifiers the SAML code speaks, in one place."""

from __future__ import annotations

from typing import Final

SAMLP: Final = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML: Final = "urn:oasis:names:tc:SAML:2.0:assertion"
MD: Final = "urn:oasis:names:tc:SAML:2.0:metadata"
DS: Final = "http://www.w3.org/2000/09/xmldsig#"
XENC: Final = "http://www.w3.org/2001/04/xmlenc#"
XENC11: Final = "http://www.w3.org/2009/xmlenc11#"
XS: Final = "http://www.w3.org/2001/XMLSchema"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"

PREFIXES: Final = {"samlp": SAMLP, "saml": SAML, "md": MD, "ds": DS, "xenc": XENC}


def q(namespace: str, local: str) -> str:
    """Clark notation `{namespace}local`, as lxml names elements."""
    return f"{{{namespace}}}{local}"


RESPONSE: Final = q(SAMLP, "Response")
LOGOUT_REQUEST: Final = q(SAMLP, "LogoutRequest")
LOGOUT_RESPONSE: Final = q(SAMLP, "LogoutResponse")
ASSERTION: Final = q(SAML, "Assertion")
ENCRYPTED_ASSERTION: Final = q(SAML, "EncryptedAssertion")
ISSUER: Final = q(SAML, "Issuer")
SIGNATURE: Final = q(DS, "Signature")
ENCRYPTED_DATA: Final = q(XENC, "EncryptedData")
ENTITY_DESCRIPTOR: Final = q(MD, "EntityDescriptor")
ENTITIES_DESCRIPTOR: Final = q(MD, "EntitiesDescriptor")

# Bindings and formats.
BINDING_REDIRECT: Final = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST: Final = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
STATUS_SUCCESS: Final = "urn:oasis:names:tc:SAML:2.0:status:Success"
CM_BEARER: Final = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
NAMEID_ENTITY: Final = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
NAMEID_PERSISTENT: Final = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_TRANSIENT: Final = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
NAMEID_EMAIL: Final = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_UNSPECIFIED: Final = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
NAMEID_PREFIX_20: Final = "urn:oasis:names:tc:SAML:2.0:nameid-format:"

# XML Signature algorithms.
RSA_SHA1: Final = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
RSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA384: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
RSA_SHA512: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
ECDSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ECDSA_SHA384: Final = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
ECDSA_SHA512: Final = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
SHA1: Final = "http://www.w3.org/2000/09/xmldsig#sha1"
SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA384: Final = "http://www.w3.org/2001/04/xmldsig-more#sha384"
SHA512: Final = "http://www.w3.org/2001/04/xmlenc#sha512"
EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_COMMENTS: Final = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
ENVELOPED: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

# XML Encryption algorithms.
AES128_CBC: Final = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
AES192_CBC: Final = "http://www.w3.org/2001/04/xmlenc#aes192-cbc"
AES256_CBC: Final = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
AES128_GCM: Final = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
AES192_GCM: Final = "http://www.w3.org/2009/xmlenc11#aes192-gcm"
AES256_GCM: Final = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
RSA_OAEP_MGF1P: Final = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
RSA_OAEP_11: Final = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
