"""Temporary credentials: mint them, derive their secret, open their session token.

Access key id: `ASIA` + kid (4) + 12 random characters, all from [A-Z2-7], so the
kid is read from the id itself. Secret access key: HMAC-SHA256 of the access key
id under the kid's secret subkey, 40 base64 characters. Session token: an
AES-256-GCM envelope under the kid's sealing subkey, bound to the access key id
through the associated data; its plaintext is the session's claims as compact
JSON with short names, raw-deflated with a fixed dictionary. Nothing here reads
a database: any process holding the keyring verifies any credential.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import secrets
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag

from gateway.iam.arn import parse_role_arn, session_arn
from gateway.sts.errors import InvalidClientTokenId, PackedPolicyTooLarge
from gateway.sts.keyring import KID_LENGTH, MAX_CREDENTIAL_LIFETIME, Keyring, Subkeys

ACCESS_KEY_PREFIX = "ASIA"
ACCESS_KEY_LENGTH = 20
SECRET_KEY_LENGTH = 40
TOKEN_VERSION = 1

# Packed size: policies and tags deflated (same dictionary as the token) against this
# budget. It bounds what those fields add to a session token, keeping tokens < 4 KB.
PACKED_LIMIT_BYTES = 2048
# Nothing we seal is larger than this; a bigger token is refused before any crypto.
MAX_TOKEN_CHARS = 8192
_MAX_PLAINTEXT = 64 * 1024

_ACCESS_KEY = re.compile(f"{ACCESS_KEY_PREFIX}[A-Z2-7]{{{ACCESS_KEY_LENGTH - 4}}}")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_HEADER_LENGTH = 1 + KID_LENGTH
_NONCE_LENGTH = 12
_TAG_LENGTH = 16

# A preset deflate dictionary: the words session claims and IAM policies are made of.
# Part of token format version 1: changing it needs a new TOKEN_VERSION.
_ZDICT = (
    b'"Condition":{"StringLike":{"StringNotEquals":{"Bool":{"aws:MultiFactorAuthPresent":'
    b'"true"}"NumericLessThan":{"DateGreaterThan":{"IpAddress":{"aws:SourceIp":'
    b'"aws:PrincipalTag/"aws:RequestTag/"aws:ResourceTag/"aws:TagKeys"aws:username}'
    b'"NotAction":"NotResource":"Principal":{"AWS":"Federated":"Service":'
    b'"arn:aws:s3:::"arn:aws:dynamodb:us-east-1:"arn:aws:sqs:"arn:aws:sns:"arn:aws:kms:'
    b'"arn:aws:iam::aws:policy/ReadOnlyAccess","arn:aws:iam::aws:policy/'
    b'"s3:GetObject","s3:PutObject","s3:ListBucket","s3:DeleteObject","s3:*",'
    b'"ec2:Describe*","dynamodb:GetItem","dynamodb:Query","sts:AssumeRole","sts:TagSession"'
    b'{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Deny","Effect":"Allow",'
    b'"Action":["Resource":["Resource":"*"}]}'
    b'{"a":"123456789012","r":"arn:aws:iam::123456789012:role/","ri":"AROA","n":"",'
    b'"i":17,"e":17,"id":"","si":"","p":"","pa":["","t":[["",""]],"tt":["","c":1,'
    b'"pv":"arn:aws:iam::123456789012:saml-provider/","pv":"https://","sb":"","m":1}'
)


# --- errors: all answered as InvalidClientTokenId, told apart for logs and audit -----------


class MalformedAccessKeyId(InvalidClientTokenId):
    """Not an `ASIA…` id of this gateway's layout."""


class UnknownKey(InvalidClientTokenId):
    """The kid in the access key id is not (or no longer) in the keyring."""


class MissingSessionToken(InvalidClientTokenId):
    """Temporary credentials used without their session token."""


class MalformedToken(InvalidClientTokenId):
    """Not a session token: bad encoding, length or version."""


class TokenKeyMismatch(InvalidClientTokenId):
    """The token names a different kid than the access key id."""


class TamperedToken(InvalidClientTokenId):
    """The envelope does not authenticate: altered, or sealed for another access key id."""


# --- claims -----------------------------------------------------------------------


def new_session_id() -> str:
    """A random id correlating one session's audit events."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """Everything a role session is: sealed into its token, recovered on every request.

    Times are integer epoch seconds. `tags` keep the caller's key case and order.
    """

    account: str
    role_arn: str
    role_id: str
    session_name: str
    issued_at: int
    expires_at: int
    source_identity: str | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    chain_depth: int = 0
    provider: str | None = None
    subject: str | None = None
    mfa: bool = False
    session_id: str = field(default_factory=new_session_id)

    @property
    def role_name(self) -> str:
        ref = parse_role_arn(self.role_arn)
        return ref.name if ref else self.role_arn.rsplit("/", 1)[-1]

    @property
    def partition(self) -> str:
        ref = parse_role_arn(self.role_arn)
        return ref.partition if ref else "aws"

    @property
    def arn(self) -> str:
        """`arn:aws:sts::<account>:assumed-role/<role>/<session>`."""
        return session_arn(self.account, self.role_name, self.session_name, self.partition)

    @property
    def user_id(self) -> str:
        """`<role id>:<session name>`, GetCallerIdentity's `UserId`."""
        return f"{self.role_id}:{self.session_name}"

    @property
    def expiration(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)

    @property
    def issue_time(self) -> datetime:
        """`aws:TokenIssueTime`."""
        return datetime.fromtimestamp(self.issued_at, UTC)

    def expired(self, now: datetime) -> bool:
        return now.timestamp() >= self.expires_at


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a client receives; `expiration` is aware UTC."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime


# --- access key ids and secrets -----------------------------------------------------


def new_access_key_id(kid: str) -> str:
    """`ASIA` + kid + 12 random characters of [A-Z2-7] (60 bits)."""
    tail = base64.b32encode(os.urandom(10)).decode("ascii")[: ACCESS_KEY_LENGTH - 4 - KID_LENGTH]
    return ACCESS_KEY_PREFIX + kid + tail


def kid_of(access_key_id: str) -> str | None:
    """The kid an access key id of ours carries, or None if it is not one of ours."""
    if len(access_key_id) != ACCESS_KEY_LENGTH or not _ACCESS_KEY.fullmatch(access_key_id):
        return None
    return access_key_id[4 : 4 + KID_LENGTH]


def derive_secret_access_key(keyring: Keyring, access_key_id: str) -> str:
    """The secret of `access_key_id`; typed `InvalidClientTokenId` errors if it is not ours."""
    _, subkeys = _subkeys_for(keyring, access_key_id)
    return _secret(subkeys, access_key_id)


def _secret(subkeys: Subkeys, access_key_id: str) -> str:
    digest = subkeys.secret.digest(access_key_id.encode("ascii"))
    return base64.b64encode(digest).decode("ascii")[:SECRET_KEY_LENGTH]


def _subkeys_for(keyring: Keyring, access_key_id: str) -> tuple[str, Subkeys]:
    kid = kid_of(access_key_id)
    if kid is None:
        raise MalformedAccessKeyId(detail="access key id is not a temporary key of this gateway")
    subkeys = keyring.subkeys(kid)
    if subkeys is None:
        raise UnknownKey(detail=f"kid {kid} is not in the keyring")
    return kid, subkeys


# --- minting and opening ------------------------------------------------------------


def mint(keyring: Keyring, claims: SessionClaims) -> Credentials:
    """New credentials for `claims` under the active key.

    Raises `PackedPolicyTooLarge` when policies and tags exceed the packed budget, and
    ValueError for claims no caller should build (lifetime beyond 12 h, expiry first).
    """
    lifetime = claims.expires_at - claims.issued_at
    if not 0 < lifetime <= MAX_CREDENTIAL_LIFETIME.total_seconds():
        raise ValueError(f"credential lifetime must be 1 s .. 12 h, got {lifetime} s")
    if claims.chain_depth < 0:
        raise ValueError("chain_depth must not be negative")
    percent = packed_policy_size_percent(claims)
    if percent is not None and percent > 100:
        raise PackedPolicyTooLarge(_packed_message(claims, percent))
    kid = keyring.active.kid
    subkeys = keyring.subkeys(kid)
    assert subkeys is not None  # the active key is always in its own keyring
    access_key_id = new_access_key_id(kid)
    header = bytes([TOKEN_VERSION]) + kid.encode("ascii")
    nonce = os.urandom(_NONCE_LENGTH)
    sealed = subkeys.seal.encrypt(
        nonce, _deflate(_encode_claims(claims)), header + access_key_id.encode("ascii")
    )
    token = base64.urlsafe_b64encode(header + nonce + sealed).rstrip(b"=").decode("ascii")
    return Credentials(
        access_key_id=access_key_id,
        secret_access_key=_secret(subkeys, access_key_id),
        session_token=token,
        expiration=claims.expiration,
    )


def open_session_token(keyring: Keyring, access_key_id: str, token: str) -> SessionClaims:
    """The claims sealed in `token` for `access_key_id`. Does not look at the clock.

    Every failure is a subclass of `InvalidClientTokenId`: `MalformedAccessKeyId`,
    `UnknownKey`, `MalformedToken`, `TokenKeyMismatch`, `TamperedToken`.
    """
    kid, subkeys = _subkeys_for(keyring, access_key_id)
    raw = _decode_token(token)
    if raw[0] != TOKEN_VERSION:
        raise MalformedToken(detail=f"unknown token version {raw[0]}")
    header = raw[:_HEADER_LENGTH]
    if header[1:] != kid.encode("ascii"):
        raise TokenKeyMismatch(detail="token kid differs from the access key id's kid")
    nonce = raw[_HEADER_LENGTH : _HEADER_LENGTH + _NONCE_LENGTH]
    try:
        plain = subkeys.seal.decrypt(
            nonce, raw[_HEADER_LENGTH + _NONCE_LENGTH :], header + access_key_id.encode("ascii")
        )
    except InvalidTag:
        raise TamperedToken(detail="token does not authenticate for this access key id") from None
    try:
        return _decode_claims(_inflate(plain))
    except (ValueError, TypeError, KeyError, zlib.error) as exc:
        # Authentic but unreadable: written by an incompatible build with the same version.
        raise MalformedToken(detail=f"sealed claims unreadable: {type(exc).__name__}") from None


def _decode_token(token: str) -> bytes:
    """Strict unpadded base64url: one encoding per token, so no re-encoded variants pass."""
    if not 0 < len(token) <= MAX_TOKEN_CHARS or not _TOKEN_CHARS.fullmatch(token):
        raise MalformedToken(detail="session token is not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        raise MalformedToken(detail="session token is not base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
        raise MalformedToken(detail="session token is not canonically encoded")
    if len(raw) < _HEADER_LENGTH + _NONCE_LENGTH + _TAG_LENGTH:
        raise MalformedToken(detail="session token too short")
    return raw


# --- claims serialization -------------------------------------------------------------


def _encode_claims(c: SessionClaims) -> bytes:
    doc: dict[str, Any] = {
        "a": c.account,
        "r": c.role_arn,
        "ri": c.role_id,
        "n": c.session_name,
        "i": c.issued_at,
        "e": c.expires_at,
        "id": c.session_id,
    }
    optional: dict[str, Any] = {
        "si": c.source_identity,
        "p": c.policy,
        "pa": list(c.policy_arns),
        "t": [list(t) for t in c.tags],
        "tt": list(c.transitive_tag_keys),
        "c": c.chain_depth,
        "pv": c.provider,
        "sb": c.subject,
        "m": int(c.mfa),
    }
    doc.update((k, v) for k, v in optional.items() if v)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _decode_claims(data: bytes) -> SessionClaims:
    doc = json.loads(data.decode("utf-8"))  # str input skips json's encoding sniffing
    if not isinstance(doc, dict):
        raise TypeError("claims are not an object")
    get = doc.get
    return SessionClaims(
        account=_str(doc["a"]),
        role_arn=_str(doc["r"]),
        role_id=_str(doc["ri"]),
        session_name=_str(doc["n"]),
        issued_at=_int(doc["i"]),
        expires_at=_int(doc["e"]),
        session_id=_str(doc["id"]),
        source_identity=_opt_str(get("si")),
        policy=_opt_str(get("p")),
        policy_arns=_strings(get("pa")),
        tags=tuple(_tag(t) for t in _list(get("t"))) if "t" in doc else (),
        transitive_tag_keys=_strings(get("tt")),
        chain_depth=_int(get("c", 0)),
        provider=_opt_str(get("pv")),
        subject=_opt_str(get("sb")),
        mfa=get("m") == 1,
    )


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("expected an integer")
    return value


def _strings(value: object) -> tuple[str, ...]:
    return () if value is None else tuple(_str(item) for item in _list(value))


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError("expected a list")
    return value


def _tag(value: object) -> tuple[str, str]:
    pair = _list(value)
    if len(pair) != 2:
        raise ValueError("a tag is a [key, value] pair")
    return _str(pair[0]), _str(pair[1])


def _deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _ZDICT)
    return packer.compress(data) + packer.flush()


def _inflate(data: bytes) -> bytes:
    unpacker = zlib.decompressobj(-15, zdict=_ZDICT)
    out = unpacker.decompress(data, _MAX_PLAINTEXT)
    if not unpacker.eof or unpacker.unconsumed_tail or unpacker.unused_data:
        raise ValueError("sealed claims are not one complete deflate stream")
    return out


# --- packed policy size ---------------------------------------------------------------


def packed_policy_size_percent(claims: SessionClaims) -> int | None:
    """`PackedPolicySize`: session policies and tags, deflated, as a percentage of the budget.

    None when the session carries neither (AWS then omits the field). Above 100 the
    session cannot be minted (`PackedPolicyTooLarge`).
    """
    if not (claims.policy or claims.policy_arns or claims.tags):
        return None
    packed = json.dumps(
        [claims.policy or "", list(claims.policy_arns), [list(t) for t in claims.tags]],
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
    return max(1, math.ceil(100 * len(_deflate(packed)) / PACKED_LIMIT_BYTES))


def _packed_message(claims: SessionClaims, percent: int) -> str:
    parts = []
    if claims.policy or claims.policy_arns:
        parts.append("session policies")
    if claims.tags:
        parts.append("session tags")
    return f"Packed size of {' and '.join(parts)} consumes {percent}% of allotted space."
