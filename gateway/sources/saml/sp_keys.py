"""The service provider's own key pairs, kept durably in the database.

Generated once (never per request), the private key sealed with AES-256-GCM under
the master key. Two are published at any time: the *current* pair signs requests
and metadata and decrypts, the *next* pair is in metadata early so IdPs already
trust it when `rotate` promotes it. Retired pairs keep decrypting for a grace
period, because an IdP encrypts to whatever certificate it last fetched.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.engine import Engine

from gateway.sources.saml import xmldsig
from gateway.store.db import lock_config, session_factory, transaction
from gateway.store.models import SamlSpKey
from gateway.store.types import utcnow

KEY_BITS = 3072
CERT_LIFETIME = timedelta(days=3 * 365)
DECRYPT_GRACE = timedelta(days=30)
_AAD = b"gateway-saml-sp-key:v1:"


@dataclass(frozen=True)
class SpKey:
    """One key pair; the private half only in memory, as xmlsec and PEM."""

    kid: str
    certificate_pem: str
    private_pem: bytes = field(repr=False)
    not_after: datetime
    xmlsec_key: xmlsec.Key = field(repr=False, compare=False)


@dataclass(frozen=True)
class SpKeys:
    current: SpKey
    next: SpKey
    retired: tuple[SpKey, ...] = ()

    @property
    def published(self) -> tuple[SpKey, ...]:
        """What metadata lists, current first."""
        return (self.current, self.next)

    @property
    def decryption_keys(self) -> list[xmlsec.Key]:
        return [k.xmlsec_key for k in (self.current, self.next, *self.retired)]


def generate(common_name: str, now: datetime | None = None) -> tuple[bytes, str]:
    """A new RSA key (PKCS#8 PEM) and its self-signed certificate (PEM)."""
    now = now or utcnow()
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME)
        .sign(key, hashes.SHA256())
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def wrap(master_key: bytes, kid: str, private_pem: bytes) -> bytes:
    nonce = os.urandom(12)
    return b"\x01" + nonce + AESGCM(master_key).encrypt(nonce, private_pem, _AAD + kid.encode())


def unwrap(master_key: bytes, kid: str, blob: bytes) -> bytes:
    if blob[:1] != b"\x01":
        raise ValueError(f"SAML SP key {kid} is not a version-1 blob")
    return AESGCM(master_key).decrypt(blob[1:13], blob[13:], _AAD + kid.encode())


def _insert(engine_session: object, master_key: bytes, common_name: str, *,
            active: bool, now: datetime) -> None:
    from sqlalchemy.orm import Session

    assert isinstance(engine_session, Session)
    kid = f"sp-{now:%Y%m%d}-{secrets.token_hex(4)}"
    private_pem, cert_pem = generate(common_name, now)
    engine_session.add(SamlSpKey(
        kid=kid, wrapped_key=wrap(master_key, kid, private_pem), certificate=cert_pem,
        created_at=now, activated_at=now if active else None, retired_at=None,
    ))


def ensure(engine: Engine, master_key: bytes, common_name: str) -> None:
    """Create the current and next pairs unless they exist (first start, any worker)."""
    with transaction(engine) as session:
        lock_config(session)
        rows = session.scalars(select(SamlSpKey).where(SamlSpKey.retired_at.is_(None))).all()
        now = utcnow()
        if not any(r.activated_at is not None for r in rows):
            _insert(session, master_key, common_name, active=True, now=now)
        if not any(r.activated_at is None for r in rows):
            _insert(session, master_key, common_name, active=False, now=now)


def rotate(engine: Engine, master_key: bytes, common_name: str) -> str:
    """Promote next to current, retire the old current, publish a new next; returns the new kid."""
    ensure(engine, master_key, common_name)
    now = utcnow()
    with transaction(engine) as session:
        lock_config(session)
        rows = session.scalars(select(SamlSpKey).where(SamlSpKey.retired_at.is_(None))).all()
        for row in rows:
            if row.activated_at is not None:
                row.retired_at = now
        pending = sorted((r for r in rows if r.activated_at is None), key=lambda r: r.created_at)
        promoted = pending[-1]
        promoted.activated_at = now
        _insert(session, master_key, common_name, active=False, now=now)
        return promoted.kid


def load(engine: Engine, master_key: bytes, common_name: str) -> SpKeys:
    """The published pairs and those still decrypting, unwrapped; creates them on first use."""
    ensure(engine, master_key, common_name)
    now = utcnow()
    with session_factory(engine)() as session:
        rows = session.scalars(select(SamlSpKey).order_by(SamlSpKey.created_at.desc())).all()
    live = [r for r in rows if r.retired_at is None]
    current = next(r for r in live if r.activated_at is not None)
    upcoming = next(r for r in live if r.activated_at is None)
    retired = [r for r in rows if r.retired_at is not None and now - r.retired_at < DECRYPT_GRACE]
    return SpKeys(
        _key(master_key, current), _key(master_key, upcoming),
        tuple(_key(master_key, r) for r in retired),
    )


def _key(master_key: bytes, row: SamlSpKey) -> SpKey:
    private_pem = unwrap(master_key, row.kid, row.wrapped_key)
    cert = x509.load_pem_x509_certificate(row.certificate.encode())
    return SpKey(
        kid=row.kid,
        certificate_pem=row.certificate,
        private_pem=private_pem,
        not_after=cert.not_valid_after_utc,
        xmlsec_key=xmldsig.private_key(private_pem, row.certificate),
    )
