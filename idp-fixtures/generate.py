"""Regenerate the test-only IdP keys and metadata in this directory.

    .venv/bin/python idp-fixtures/generate.py

TEST ONLY: these private keys are public. Never configure a production gateway to
trust any certificate from this directory.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

HERE = Path(__file__).resolve().parent
LIFETIME = timedelta(days=20 * 365)

# name → (entity id, SSO URL, SLO URL, certificate subject)
IDPS = {
    "adfs": (
        "http://adfs.example.test/adfs/services/trust",
        "https://adfs.example.test/adfs/ls/",
        "https://adfs.example.test/adfs/ls/",
        "ADFS Signing - adfs.example.test",
    ),
    "entra": (
        "https://sts.windows.net/8f1e0b6c-0000-4000-8000-00000000e417/",
        "https://login.microsoftonline.com/8f1e0b6c-0000-4000-8000-00000000e417/saml2",
        "https://login.microsoftonline.com/8f1e0b6c-0000-4000-8000-00000000e417/saml2",
        "Microsoft Azure Federated SSO Certificate",
    ),
    "okta": (
        "http://www.okta.com/exk1fixture0example7",
        "https://example.okta.com/app/example_gateway_1/exk1fixture0example7/sso/saml",
        "https://example.okta.com/app/example_gateway_1/exk1fixture0example7/slo/saml",
        "example.okta.com",
    ),
}


def key_pair(directory: Path, name: str, subject: str) -> str:
    """Write <name>.key and <name>.crt (RSA 2048, 20 years); return the PEM certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    subject_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject_name)
        .issuer_name(subject_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + LIFETIME)
        .sign(key, hashes.SHA256())
    )
    (directory / f"{name}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    (directory / f"{name}.crt").write_text(pem)
    return pem


def body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def metadata(name: str, entity_id: str, sso: str, slo: str, certs: list[str]) -> str:
    keys = "\n".join(
        f"""    <KeyDescriptor use="signing">
      <KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#">
        <X509Data><X509Certificate>{body(c)}</X509Certificate></X509Data>
      </KeyInfo>
    </KeyDescriptor>"""
        for c in certs
    )
    # AD FS and Entra publish WS-Federation role descriptors next to the SAML one.
    wsfed = ""
    if name in ("adfs", "entra"):
        wsfed = f"""
  <RoleDescriptor xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
      xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706"
      xsi:type="fed:SecurityTokenServiceType"
      protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706">
    <fed:PassiveRequestorEndpoint><EndpointReference xmlns="http://www.w3.org/2005/08/addressing">
      <Address>{sso}</Address></EndpointReference></fed:PassiveRequestorEndpoint>
  </RoleDescriptor>"""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}"
    ID="_fixture-{name}">{wsfed}
  <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
{keys}
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{slo}"/>
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="{slo}"/>
    <NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>
    <NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</NameIDFormat>
    <NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</NameIDFormat>
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{sso}"/>
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="{sso}"/>
  </IDPSSODescriptor>
</EntityDescriptor>
"""


def main() -> None:
    key_pair(HERE / "demo", "idp", "Gateway demo IdP (TEST ONLY)")
    key_pair(HERE / "attacker", "attacker", "Not the IdP (TEST ONLY)")
    for name, (entity_id, sso, slo, subject) in IDPS.items():
        certs = [key_pair(HERE / name, "signing", subject)]
        if name == "entra":
            # Entra publishes the next certificate ahead of a rollover.
            certs.append(key_pair(HERE / name, "signing-next", subject))
        (HERE / name / "metadata.xml").write_text(metadata(name, entity_id, sso, slo, certs))


if __name__ == "__main__":
    main()
