"""Temporary credentials: mint them, derive their secret, open their session token.

Access key id: `ASIA` + kid (4) + 12 random characters, all from [A-Z2-7], so the
kid is read from the id itself. Secret access key: HMAC-SHA256 of the access key
id under the kid's secret subkey, 40 base64 characters. Session token: an
AES-256-GCM envelope under the kid's sealing subkey, bound to the access key id
through the associated data; its plaintext is the session's claims as a compact
JSON array (the session policy after it), raw-deflated with a fixed dictionary.
Nothing here reads a database: any process holding the keyring verifies any
credential. docs/decisions/0004-credentials.md gives the layout and the reasons.
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
from functools import lru_cache

from cryptography.exceptions import InvalidTag

from gateway.iam.arn import parse_role_arn, session_arn
from gateway.sts.caches import PER_SESSION
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
    b'"arn:aws:iam::123456789012:saml-provider/","https://accounts.google.com",'
    b'["123456789012","arn:aws:iam::123456789012:role/","AROA'
    b'",17,17,"",null,[],[["",""]],[""],0,null,null,0]\n{"Version":"2012-10-17","Statement":[{'
)
_CLAIM_FIELDS = 15


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


# A process sees few role ARNs, each parsed once: `arn` is read several times for every
# credential issued and every authorized request.
_role_ref = lru_cache(maxsize=1024)(parse_role_arn)


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

    def __hash__(self) -> int:
        # Claims key several per-session caches on the hot path; the random session id
        # is as good a hash as all sixteen fields and far cheaper. Equality stays full.
        return hash(self.session_id)

    @property
    def role_name(self) -> str:
        ref = _role_ref(self.role_arn)
        return ref.name if ref else self.role_arn.rsplit("/", 1)[-1]

    @property
    def partition(self) -> str:
        ref = _role_ref(self.role_arn)
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


@lru_cache(maxsize=PER_SESSION)
def derive_secret_access_key(keyring: Keyring, access_key_id: str) -> str:
    """The secret of `access_key_id`; typed `InvalidClientTokenId` errors if it is not ours.

    Remembered per keyring (LRU) like opened tokens: a session signs many requests.
    """
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
    Tokens that opened are remembered per keyring (LRU), so a session's later
    requests skip the AEAD and parsing; a rotated keyring is a new object and
    starts empty. Failures are never cached.
    """
    return _open(keyring, access_key_id, token)


@lru_cache(maxsize=PER_SESSION)
def _open(keyring: Keyring, access_key_id: str, token: str) -> SessionClaims:
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
    except (ValueError, TypeError, zlib.error) as exc:
        # Authentic but unreadable: written by an incompatible build with the same version.
        raise MalformedToken(detail=f"sealed claims unreadable: {type(exc).__name__}") from None


def _decode_token(token: str) -> bytes:
    """Strict unpadded base64url: one encoding per token, so no re-encoded variants pass."""
    if not 0 < len(token) <= MAX_TOKEN_CHARS or not token.isascii():
        raise MalformedToken(detail="session token is not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        raise MalformedToken(detail="session token is not base64url") from None
    # The decoder skips stray characters and accepts `+/`, padding and unused bits: only
    # the exact re-encoding proves the token is the canonical form of these bytes.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
        raise MalformedToken(detail="session token is not canonically encoded")
    if len(raw) < _HEADER_LENGTH + _NONCE_LENGTH + _TAG_LENGTH:
        raise MalformedToken(detail="session token too short")
    return raw


# --- claims serialization -------------------------------------------------------------


def _encode_claims(c: SessionClaims) -> bytes:
    """A JSON array (positions are part of token version 1), then the policy after a newline.

    Positional and with the policy outside the JSON: opening is on the hot path, and an
    array of short strings parses about twice as fast as an object, while a policy kept
    as a JSON string would be escaped and unescaped quote by quote.
    """
    head = json.dumps(
        [
            c.account, c.role_arn, c.role_id, c.session_name, c.issued_at, c.expires_at,
            c.session_id, c.source_identity, list(c.policy_arns), [list(t) for t in c.tags],
            list(c.transitive_tag_keys), c.chain_depth, c.provider, c.subject, int(c.mfa),
        ],
        separators=(",", ":"),
    ).encode("ascii")
    if c.policy is None:
        return head
    return head + b"\n" + c.policy.encode("utf-8", "surrogatepass")


def _decode_claims(data: bytes) -> SessionClaims:
    head, newline, policy = data.partition(b"\n")  # compact JSON never holds a raw newline
    values = json.loads(head.decode("ascii"))
    if not isinstance(values, list) or len(values) < _CLAIM_FIELDS:
        raise ValueError("claims are not a version-1 array")
    (account, role_arn, role_id, session_name, issued_at, expires_at, session_id,
     source_identity, policy_arns, tags, transitive, chain_depth, provider, subject,
     mfa) = values[:_CLAIM_FIELDS]
    if not (isinstance(issued_at, int) and isinstance(expires_at, int)):
        raise TypeError("times are not integers")
    return SessionClaims(
        account=account,
        role_arn=role_arn,
        role_id=role_id,
        session_name=session_name,
        issued_at=issued_at,
        expires_at=expires_at,
        source_identity=source_identity,
        policy=policy.decode("utf-8", "surrogatepass") if newline else None,
        policy_arns=tuple(policy_arns),
        tags=tuple((key, value) for key, value in tags),
        transitive_tag_keys=tuple(transitive),
        chain_depth=chain_depth,
        provider=provider,
        subject=subject,
        mfa=mfa == 1,
        session_id=session_id,
    )


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
    ).encode("utf-8", "surrogatepass")
    return max(1, math.ceil(100 * len(_deflate(packed)) / PACKED_LIMIT_BYTES))


def _packed_message(claims: SessionClaims, percent: int) -> str:
    parts = []
    if claims.policy or claims.policy_arns:
        parts.append("session policies")
    if claims.tags:
        parts.append("session tags")
    return f"Packed size of {' and '.join(parts)} consumes {percent}% of allotted space."
