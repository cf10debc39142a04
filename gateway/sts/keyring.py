"""Sealing and derivation keys: the keyring, wrapping under the master key, retirement.

A `Key` is 32 random bytes named by a four-character kid from the access-key-id
alphabet, so an access key id can carry its kid (see `credentials`). The
`Keyring` is immutable: one active key seals new credentials, older keys keep
opening what they sealed until it has all expired. Subkeys for each purpose are
derived once per kid with HKDF when the keyring is built, never per request.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.settings import decode_master_key
from gateway.sts.hmac256 import HmacSha256

KID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
KID_LENGTH = 4
KEY_BYTES = 32

# The longest credential this gateway mints (MaxSessionDuration tops out at 12 h) and the
# clock skew allowed between gateway processes: a key that stopped sealing longer ago
# than both together can no longer have a live credential.
MAX_CREDENTIAL_LIFETIME = timedelta(hours=12)
CLOCK_SKEW = timedelta(minutes=15)

_KID = re.compile(f"[{KID_ALPHABET}]{{{KID_LENGTH}}}")
_WRAP_VERSION = b"\x01"
_WRAP_AAD = b"gateway/keyring/wrap/v1:"
_HKDF_SALT = b"gateway/sts/keyring/v1"


class KeyringError(Exception):
    """A key or keyring that cannot be used as given (programming or operator error)."""


class KeyUnwrapError(KeyringError):
    """A wrapped key did not open under this master key and kid."""


@dataclass(frozen=True, slots=True)
class Key:
    """One keyring entry. `not_after_use` is when it stopped being the active key."""

    kid: str
    secret: bytes = field(repr=False)
    created_at: datetime
    not_after_use: datetime | None = None

    def __post_init__(self) -> None:
        if not _KID.fullmatch(self.kid):
            raise KeyringError(f"kid must be {KID_LENGTH} characters of [A-Z2-7], got {self.kid!r}")
        if len(self.secret) != KEY_BYTES:
            raise KeyringError(f"key {self.kid} must be {KEY_BYTES} bytes")

    @classmethod
    def generate(cls, now: datetime, *, avoid: Iterable[str] = ()) -> Key:
        """A fresh random key whose kid differs from every kid in `avoid`."""
        taken = set(avoid)
        while True:
            kid = "".join(secrets.choice(KID_ALPHABET) for _ in range(KID_LENGTH))
            if kid not in taken:
                return cls(kid, secrets.token_bytes(KEY_BYTES), now)

    def retirable(self, now: datetime) -> bool:
        """Whether every credential this key sealed has expired, skew included."""
        if self.not_after_use is None:
            return False
        return now > self.not_after_use + MAX_CREDENTIAL_LIFETIME + CLOCK_SKEW


@dataclass(frozen=True, slots=True)
class Subkeys:
    """What a kid is used for, each derived separately so no key serves two purposes."""

    seal: AESGCM = field(repr=False)
    secret: HmacSha256 = field(repr=False)


def derive_subkeys(key: Key) -> Subkeys:
    """HKDF-SHA256 subkeys of `key`: an AES-256-GCM sealing key and an HMAC key."""

    def hkdf(purpose: bytes) -> bytes:
        info = purpose + b":" + key.kid.encode("ascii")
        return HKDF(hashes.SHA256(), KEY_BYTES, _HKDF_SALT, info).derive(key.secret)

    return Subkeys(seal=AESGCM(hkdf(b"seal")), secret=HmacSha256(hkdf(b"secret-access-key")))


class Keyring:
    """The active key plus older keys that still open what they sealed. Immutable."""

    __slots__ = ("_keys", "_subkeys")

    def __init__(self, active: Key, older: Iterable[Key] = ()) -> None:
        if active.not_after_use is not None:
            raise KeyringError(f"active key {active.kid} has not_after_use set")
        keys = (active, *older)
        kids = [k.kid for k in keys]
        if len(set(kids)) != len(kids):
            raise KeyringError(f"duplicate kid in keyring: {sorted(kids)}")
        self._keys = keys
        self._subkeys = {k.kid: derive_subkeys(k) for k in keys}

    @classmethod
    def generate(cls, now: datetime) -> Keyring:
        """A keyring with one new key."""
        return cls(Key.generate(now))

    @property
    def active(self) -> Key:
        return self._keys[0]

    @property
    def keys(self) -> tuple[Key, ...]:
        """Every key, the active one first."""
        return self._keys

    def get(self, kid: str) -> Key | None:
        """The key named `kid`, or None."""
        for key in self._keys:
            if key.kid == kid:
                return key
        return None

    def __contains__(self, kid: object) -> bool:
        return kid in self._subkeys

    def subkeys(self, kid: str) -> Subkeys | None:
        """The derived subkeys of `kid` (computed when the keyring was built), or None."""
        return self._subkeys.get(kid)

    def rotate(self, now: datetime, new_key: Key | None = None) -> Keyring:
        """A keyring whose active key is `new_key` (default: a new random one)."""
        if new_key is None:
            new_key = Key.generate(now, avoid=self._subkeys)
        old = replace(self.active, not_after_use=now)
        return Keyring(new_key, (old, *self._keys[1:]))

    def retire(self, now: datetime) -> Keyring:
        """A keyring without the keys whose credentials have all expired."""
        return Keyring(self.active, (k for k in self._keys[1:] if not k.retirable(now)))


# --- wrapping under the master key ----------------------------------------------------


def wrap_key(master_key: bytes, key: Key) -> bytes:
    """`key.secret` sealed with AES-256-GCM under the master key, the kid as associated data."""
    nonce = os.urandom(12)
    sealed = _master(master_key).encrypt(nonce, key.secret, _WRAP_AAD + key.kid.encode("ascii"))
    return _WRAP_VERSION + nonce + sealed


def unwrap_key(master_key: bytes, blob: bytes, kid: str) -> bytes:
    """The secret `wrap_key` sealed for `kid`; `KeyUnwrapError` if it does not open."""
    if len(blob) != 1 + 12 + KEY_BYTES + 16 or blob[:1] != _WRAP_VERSION:
        raise KeyUnwrapError(f"wrapped key {kid} is not a version-1 blob")
    try:
        return _master(master_key).decrypt(blob[1:13], blob[13:], _WRAP_AAD + kid.encode())
    except InvalidTag:
        raise KeyUnwrapError(
            f"wrapped key {kid} does not open under this master key (wrong key or tampered row)"
        ) from None


def _master(master_key: bytes) -> AESGCM:
    if len(master_key) != KEY_BYTES:
        raise KeyringError(f"the master key must be {KEY_BYTES} bytes")
    return AESGCM(master_key)


def load_master_key(value_or_path: str | os.PathLike[str]) -> bytes:
    """A master key given as base64/hex text, or the path of a file holding such text."""
    if isinstance(value_or_path, str):
        try:
            return decode_master_key(value_or_path)
        except ValueError:
            pass
    path = Path(value_or_path)
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyringError(
            "the master key is neither 32 bytes as base64/hex nor a readable key file"
            f" ({type(exc).__name__})"
        ) from None
    try:
        return decode_master_key(text)
    except ValueError as exc:
        raise KeyringError(f"master key file {path}: {exc}") from None


def create_master_key_file(path: str | os.PathLike[str]) -> bytes:
    """Write a new random master key (hex) to `path` with mode 0600; never overwrites."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    # O_EXCL: two processes racing cannot both create it with different keys.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
    return key
