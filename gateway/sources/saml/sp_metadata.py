"""The gateway's own SP metadata: entity id, ACS, SLO, NameID formats, current and next
certificates for signing and encryption, signed with the current key."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from lxml import etree

from gateway.sources.saml import ns, times, xmldsig
from gateway.sources.saml.sp import ServiceProvider
from gateway.sources.saml.sp_keys import SpKeys

VALIDITY = timedelta(days=7)
CACHE_DURATION = "PT6H"
NAME_ID_FORMATS = (ns.NAMEID_PERSISTENT, ns.NAMEID_EMAIL, ns.NAMEID_TRANSIENT,
                   ns.NAMEID_UNSPECIFIED)
ENCRYPTION_METHODS = (ns.AES256_GCM, ns.AES128_GCM, ns.AES256_CBC, ns.AES128_CBC,
                      ns.RSA_OAEP_MGF1P)


def _md(local: str) -> str:
    return ns.q(ns.MD, local)


def build(sp: ServiceProvider, keys: SpKeys, now: datetime) -> bytes:
    """Signed metadata XML, valid for a week from `now`."""
    kids = "".join(k.kid for k in keys.published)
    root = etree.Element(
        _md("EntityDescriptor"),
        nsmap={"md": ns.MD, "ds": ns.DS},
        entityID=sp.entity_id,
        ID="_" + hashlib.sha256(f"{sp.entity_id}{kids}".encode()).hexdigest()[:40],
        validUntil=times.format_instant(now + VALIDITY),
        cacheDuration=CACHE_DURATION,
    )
    descriptor = etree.SubElement(
        root, _md("SPSSODescriptor"),
        AuthnRequestsSigned="true", WantAssertionsSigned="true",
        protocolSupportEnumeration=ns.SAMLP,
    )
    for use in ("signing", "encryption"):
        for key in keys.published:
            key_descriptor = etree.SubElement(descriptor, _md("KeyDescriptor"), use=use)
            key_info = etree.SubElement(key_descriptor, ns.q(ns.DS, "KeyInfo"))
            etree.SubElement(key_info, ns.q(ns.DS, "KeyName")).text = key.kid
            x509_data = etree.SubElement(key_info, ns.q(ns.DS, "X509Data"))
            etree.SubElement(x509_data, ns.q(ns.DS, "X509Certificate")).text = (
                xmldsig.pem_body(key.certificate_pem)
            )
            if use == "encryption":
                for method in ENCRYPTION_METHODS:
                    etree.SubElement(key_descriptor, _md("EncryptionMethod"), Algorithm=method)
    for binding in (ns.BINDING_REDIRECT, ns.BINDING_POST):
        etree.SubElement(descriptor, _md("SingleLogoutService"), Binding=binding,
                         Location=sp.slo_url)
    for name_id_format in NAME_ID_FORMATS:
        etree.SubElement(descriptor, _md("NameIDFormat")).text = name_id_format
    etree.SubElement(
        descriptor, _md("AssertionConsumerService"),
        Binding=ns.BINDING_POST, Location=sp.acs_url, index="0", isDefault="true",
    )
    xmldsig.sign(root, keys.current.xmlsec_key, keys.current.certificate_pem)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
