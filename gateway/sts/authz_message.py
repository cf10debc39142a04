"""Encoded authorization failure messages, as AWS's `DecodeAuthorizationMessage` decodes.

A denial from the authorization API carries its full explanation sealed (AES-256-GCM
under the keyring's active sealing subkey) so the resource server can hand it to the
user without revealing policy details; only principals allowed
`sts:DecodeAuthorizationMessage` can read it through the STS.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import zlib
from typing import Any

from cryptography.exceptions import InvalidTag

from gateway.sts.errors import InvalidAuthorizationMessage
from gateway.sts.keyring import KID_LENGTH, Keyring

_AAD = b"gateway/authz-message/v1:"
_MAX_CHARS = 10240


def encode(keyring: Keyring, message: dict[str, Any]) -> str:
    """Seal `message` (JSON-able) under the active key."""
    kid = keyring.active.kid
    subkeys = keyring.subkeys(kid)
    assert subkeys is not None
    nonce = os.urandom(12)
    plain = zlib.compress(json.dumps(message, separators=(",", ":")).encode(), 9)
    sealed = subkeys.seal.encrypt(nonce, plain, _AAD + kid.encode())
    return base64.urlsafe_b64encode(kid.encode() + nonce + sealed).rstrip(b"=").decode()


def decode(keyring: Keyring, text: str) -> dict[str, Any]:
    """The message `encode` sealed; InvalidAuthorizationMessage for anything else."""
    invalid = InvalidAuthorizationMessage("The message is not a valid authorization message.")
    if not text or len(text) > _MAX_CHARS:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        kid = raw[:KID_LENGTH].decode("ascii")
        subkeys = keyring.subkeys(kid)
        if subkeys is None:
            raise invalid
        plain = subkeys.seal.decrypt(raw[KID_LENGTH:KID_LENGTH + 12], raw[KID_LENGTH + 12:],
                                     _AAD + kid.encode())
        decoded = json.loads(zlib.decompress(plain, bufsize=_MAX_CHARS))
    except (binascii.Error, ValueError, UnicodeDecodeError, InvalidTag, zlib.error):
        raise invalid from None
    if not isinstance(decoded, dict):
        raise invalid
    return decoded
