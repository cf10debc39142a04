"""Identity provider metadata: entity id, signing certificates, endpoints, lifetime.

Parsed with the hardened parser and the metadata schema; when signing certificates
are configured for the metadata itself, its enveloped signature must verify with one
of them. Several IdP signing certificates may be listed at once (rollover): a
response verifies with any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import xmlsec
from cryptography import x509
from lxml import etree

from gateway.sources.saml import ns, times, xmldsig, xmlsafe
from gateway.sources.saml.errors import SamlRefusal

_MD = {"md": ns.MD, "ds": ns.DS}
MAX_METADATA = 5 * 1024 * 1024


class MetadataError(SamlRefusal):
    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__("metadata_invalid", message, status=503, detail=detail)


@dataclass(frozen=True)
class Endpoint:
    binding: str
    location: str
    response_location: str | None = None


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    signing_certificates: tuple[str, ...]  # PEM, in metadata order
    sso: tuple[Endpoint, ...]
    slo: tuple[Endpoint, ...]
    want_authn_requests_signed: bool
    name_id_formats: tuple[str, ...]
    valid_until: datetime | None
    cache_duration: timedelta | None
    certificate_expiries: tuple[datetime, ...]
    signing_keys: tuple[xmlsec.Key, ...] = field(repr=False, compare=False, default=())

    def endpoint(self, kind: str, binding: str) -> Endpoint | None:
        """The first SSO or SLO endpoint with `binding`."""
        for endpoint in self.sso if kind == "sso" else self.slo:
            if endpoint.binding == binding:
                return endpoint
        return None


def parse(xml: bytes, *, trusted_signers: Sequence[str] = (), now: datetime) -> IdpMetadata:
    """The one IdP this metadata describes; raises MetadataError saying what is wrong."""
    # No schema validation here: real AD FS and Entra metadata carry WS-Federation role
    # descriptors whose xsi:types the SAML schemas do not define.
    try:
        root = xmlsafe.parse(xml, limit=MAX_METADATA)
    except SamlRefusal as exc:
        raise MetadataError(f"The identity provider metadata is unreadable: {exc.message}",
                            exc.detail) from None
    if trusted_signers:
        _check_signature(root, trusted_signers)
    entities = [root] if root.tag == ns.ENTITY_DESCRIPTOR else list(
        root.iter(ns.ENTITY_DESCRIPTOR)
    )
    idps = [e for e in entities if e.find("md:IDPSSODescriptor", _MD) is not None]
    if len(idps) != 1:
        raise MetadataError(
            f"The metadata must describe exactly one identity provider; it describes {len(idps)}."
        )
    entity = idps[0]
    descriptor = entity.find("md:IDPSSODescriptor", _MD)
    assert descriptor is not None
    valid_until = _earliest(
        [times.parse_instant(e.get("validUntil")) for e in (root, entity, descriptor)]
    )
    if valid_until is not None and valid_until <= now:
        raise MetadataError("The identity provider metadata has expired (validUntil passed).")
    durations = [times.parse_duration(e.get("cacheDuration")) for e in (root, entity, descriptor)]
    cache_duration = min((d for d in durations if d), default=None)
    certificates: list[str] = []
    for key_descriptor in descriptor.findall("md:KeyDescriptor", _MD):
        if key_descriptor.get("use") not in (None, "signing"):
            continue
        for cert in key_descriptor.iterfind(".//ds:X509Certificate", _MD):
            if cert.text and cert.text.strip():
                pem = xmldsig.certificate_pem(cert.text)
                if pem not in certificates:
                    certificates.append(pem)
    if not certificates:
        raise MetadataError("The identity provider metadata lists no signing certificate.")
    try:
        keys = tuple(xmldsig.certificate_key(c) for c in certificates)
        expiries = tuple(
            x509.load_pem_x509_certificate(c.encode()).not_valid_after_utc for c in certificates
        )
    except (ValueError, xmlsec.Error) as exc:
        raise MetadataError("A signing certificate in the metadata is unreadable.",
                            str(exc)) from None
    return IdpMetadata(
        entity_id=entity.get("entityID", ""),
        signing_certificates=tuple(certificates),
        sso=_endpoints(descriptor, "SingleSignOnService"),
        slo=_endpoints(descriptor, "SingleLogoutService"),
        want_authn_requests_signed=descriptor.get("WantAuthnRequestsSigned") in ("true", "1"),
        name_id_formats=tuple(
            (e.text or "").strip() for e in descriptor.findall("md:NameIDFormat", _MD)
        ),
        valid_until=valid_until,
        cache_duration=cache_duration,
        certificate_expiries=expiries,
        signing_keys=keys,
    )


def _earliest(values: list[datetime | None]) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _endpoints(descriptor: etree._Element, name: str) -> tuple[Endpoint, ...]:
    return tuple(
        Endpoint(e.get("Binding", ""), e.get("Location", ""), e.get("ResponseLocation"))
        for e in descriptor.findall(f"md:{name}", _MD)
        if e.get("Location", "").startswith(("https://", "http://"))
    )


def _check_signature(root: etree._Element, trusted_signers: Sequence[str]) -> None:
    signature = root.find(ns.SIGNATURE)
    if signature is None:
        raise MetadataError("The metadata is not signed, but a metadata signing certificate "
                            "is configured for this identity provider.")
    try:
        xmldsig.check_profile(signature, root, allow_sha1=False)
        keys = [xmldsig.certificate_key(c) for c in trusted_signers]
    except (SamlRefusal, ValueError, xmlsec.Error) as exc:
        raise MetadataError("The metadata signature is not acceptable.", str(exc)) from None
    if not xmldsig.verify(root, signature, keys):
        raise MetadataError("The metadata signature does not verify with the configured "
                            "metadata signing certificate.")
