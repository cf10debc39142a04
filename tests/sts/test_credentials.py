"""Minting credentials and opening session tokens."""

from __future__ import annotations

import base64
import json
import random
import re
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.sts.credentials import (
    MAX_TOKEN_CHARS,
    MalformedAccessKeyId,
    MalformedToken,
    SessionClaims,
    TamperedToken,
    TokenKeyMismatch,
    UnknownKey,
    derive_secret_access_key,
    kid_of,
    mint,
    new_access_key_id,
    open_session_token,
    packed_policy_size_percent,
)
from gateway.sts.errors import InvalidClientTokenId, PackedPolicyTooLarge
from gateway.sts.keyring import Key, Keyring

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = int(T0.timestamp())
RING = Keyring(Key("KEYA", bytes(range(32)), T0))


def claims(**overrides: object) -> SessionClaims:
    values: dict[str, object] = {
        "account": "123456789012",
        "role_arn": "arn:aws:iam::123456789012:role/teams/Developer",
        "role_id": "AROA" + "ABCDEFGHIJKLMNOPQ",
        "session_name": "alice@example.com",
        "issued_at": NOW,
        "expires_at": NOW + 3600,
    }
    values.update(overrides)
    return SessionClaims(**values)  # type: ignore[arg-type]


def full_policy(size: int = 2048) -> str:
    """A realistic session policy padded to exactly `size` characters."""
    statements = []
    for i in range(40):
        statements.append({
            "Sid": f"Read{i}",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::team-bucket-{i}/*"],
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": f"team-{i}"}},
        })
        text = json.dumps({"Version": "2012-10-17", "Statement": statements})
        if len(text) > size:
            statements.pop()
            break
    text = json.dumps({"Version": "2012-10-17", "Statement": statements})
    return text + " " * (size - len(text))


def random_policy(size: int = 2048, seed: int = 7) -> str:
    """Incompressible printable text: the worst case for the token's size."""
    rng = random.Random(seed)
    return "".join(rng.choice(string.printable[:94]) for _ in range(size))


# --- access key ids and secrets ---------------------------------------------------------


def test_access_key_id_layout() -> None:
    akid = new_access_key_id("KEYA")
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", akid)
    assert akid[4:8] == "KEYA"
    assert kid_of(akid) == "KEYA"


@pytest.mark.parametrize(
    "akid", ["AKIAKEYAAAAAAAAAAAAA", "ASIAKEYA", "ASIAKEYAAAAAAAAAAAA1", "asiakeyaaaaaaaaaaaaa", ""]
)
def test_foreign_access_key_ids_carry_no_kid(akid: str) -> None:
    assert kid_of(akid) is None
    with pytest.raises(MalformedAccessKeyId):
        derive_secret_access_key(RING, akid)


def test_minted_credentials_look_like_aws_temporary_credentials() -> None:
    creds = mint(RING, claims())
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", creds.access_key_id)
    assert kid_of(creds.access_key_id) == "KEYA"
    assert re.fullmatch(r"[A-Za-z0-9/+]{40}", creds.secret_access_key)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", creds.session_token)
    assert creds.expiration == T0 + timedelta(hours=1)
    assert creds.secret_access_key not in repr(creds)
    assert creds.session_token not in repr(creds)


def test_secret_is_derived_from_the_access_key_id() -> None:
    creds = mint(RING, claims())
    assert derive_secret_access_key(RING, creds.access_key_id) == creds.secret_access_key
    other = mint(RING, claims())
    assert other.access_key_id != creds.access_key_id
    assert other.secret_access_key != creds.secret_access_key


def test_secret_depends_on_the_key() -> None:
    creds = mint(RING, claims())
    impostor = Keyring(Key("KEYA", bytes(32), T0))
    assert derive_secret_access_key(impostor, creds.access_key_id) != creds.secret_access_key


def test_unknown_kid() -> None:
    creds = mint(Keyring(Key("KEYB", bytes(32), T0)), claims())
    with pytest.raises(UnknownKey):
        derive_secret_access_key(RING, creds.access_key_id)
    with pytest.raises(UnknownKey):
        open_session_token(RING, creds.access_key_id, creds.session_token)


# --- round trip -------------------------------------------------------------------------


def test_every_claim_round_trips() -> None:
    full = claims(
        source_identity="alice",
        policy=full_policy(),
        policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",),
        tags=(("Team", "Platform"), ("cost-center", "12345"), ("ünïcode", "välüe")),
        transitive_tag_keys=("Team",),
        chain_depth=2,
        provider="arn:aws:iam::123456789012:saml-provider/ADFS",
        subject="S-1-5-21-1234",
        mfa=True,
    )
    creds = mint(RING, full)
    assert open_session_token(RING, creds.access_key_id, creds.session_token) == full


def test_minimal_claims_round_trip_with_defaults() -> None:
    minimal = claims()
    opened = open_session_token(RING, *_pair(mint(RING, minimal)))
    assert opened == minimal
    assert opened.policy is None and opened.tags == () and opened.mfa is False


_text = st.text(max_size=40)


@settings(max_examples=50, deadline=None)
@given(
    session_name=st.text(min_size=1, max_size=64),
    source_identity=st.none() | _text,
    policy=st.none() | st.text(min_size=1, max_size=300),
    tags=st.lists(st.tuples(_text, _text), max_size=5).map(tuple),
    transitive=st.lists(_text, max_size=3).map(tuple),
    depth=st.integers(0, 5),
    mfa=st.booleans(),
    lifetime=st.integers(1, 12 * 3600),
)
def test_any_claims_round_trip(
    session_name: str,
    source_identity: str | None,
    policy: str | None,
    tags: tuple[tuple[str, str], ...],
    transitive: tuple[str, ...],
    depth: int,
    mfa: bool,
    lifetime: int,
) -> None:
    original = claims(
        session_name=session_name, source_identity=source_identity, policy=policy, tags=tags,
        transitive_tag_keys=transitive, chain_depth=depth, mfa=mfa, expires_at=NOW + lifetime,
    )
    assert open_session_token(RING, *_pair(mint(RING, original))) == original


def test_claims_derive_the_session_identity() -> None:
    c = claims()
    assert c.role_name == "Developer"
    assert c.partition == "aws"
    assert c.arn == "arn:aws:sts::123456789012:assumed-role/Developer/alice@example.com"
    assert c.user_id == "AROAABCDEFGHIJKLMNOPQ:alice@example.com"
    assert c.issue_time == T0
    assert c.expired(T0 + timedelta(seconds=3599)) is False
    assert c.expired(T0 + timedelta(seconds=3600)) is True


def test_session_ids_are_random() -> None:
    assert claims().session_id != claims().session_id


# --- size -------------------------------------------------------------------------------


def test_token_with_a_full_2048_character_policy_stays_well_under_4kb() -> None:
    policy = full_policy()
    assert len(policy) == 2048
    creds = mint(RING, claims(policy=policy, tags=(("team", "platform"),), source_identity="a"))
    assert len(creds.session_token) < 2048


def test_token_with_an_incompressible_2048_character_policy_stays_under_4kb() -> None:
    creds = mint(RING, claims(policy=random_policy(), source_identity="alice",
                              provider="https://accounts.google.com", subject="1" * 21))
    assert len(creds.session_token) < 3500


def test_biggest_mintable_session_still_fits_in_4kb() -> None:
    # Fill policies and tags up to the packed limit (100 %), with long names elsewhere.
    tags: list[tuple[str, str]] = []
    rng = random.Random(3)
    session = claims(policy=random_policy(1000), session_name="s" * 64,
                     source_identity="i" * 64, subject="x" * 255)
    while True:
        key = "".join(rng.choice(string.ascii_letters) for _ in range(20))
        candidate = claims(**{**_fields(session), "tags": (*tags, (key, key * 3))})
        percent = packed_policy_size_percent(candidate)
        if percent is not None and percent > 100:
            break
        tags.append((key, key * 3))
        session = candidate
    assert len(mint(RING, session).session_token) < 4096


# --- packed policy size -------------------------------------------------------------------


def test_packed_size_absent_without_policies_or_tags() -> None:
    assert packed_policy_size_percent(claims()) is None
    assert packed_policy_size_percent(claims(source_identity="x", mfa=True)) is None


def test_packed_size_grows_with_the_policy() -> None:
    small = packed_policy_size_percent(claims(policy='{"Version":"2012-10-17"}'))
    large = packed_policy_size_percent(claims(policy=full_policy()))
    worst = packed_policy_size_percent(claims(policy=random_policy()))
    assert small is not None and large is not None and worst is not None
    assert 1 <= small < large < worst <= 100


def test_packed_size_counts_tags_and_policy_arns() -> None:
    assert packed_policy_size_percent(claims(tags=(("a", "b"),))) == 1
    arns = tuple(f"arn:aws:iam::123456789012:policy/p{i}" for i in range(10))
    percent = packed_policy_size_percent(claims(policy_arns=arns))
    assert percent is not None and percent > 1


def test_too_large_a_session_is_refused_with_aws_message() -> None:
    rng = random.Random(5)
    tags = tuple(
        ("".join(rng.choices(string.ascii_letters, k=128)),
         "".join(rng.choices(string.ascii_letters, k=256)))
        for _ in range(50)
    )
    big = claims(tags=tags)
    percent = packed_policy_size_percent(big)
    assert percent is not None and percent > 100
    with pytest.raises(PackedPolicyTooLarge) as err:
        mint(RING, big)
    assert err.value.message == (
        f"Packed size of session tags consumes {percent}% of allotted space."
    )
    assert err.value.status == 400


def test_lifetime_beyond_twelve_hours_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="12 h"):
        mint(RING, claims(expires_at=NOW + 12 * 3600 + 1))
    with pytest.raises(ValueError):
        mint(RING, claims(expires_at=NOW))


# --- tampering ----------------------------------------------------------------------------


def _pair(creds: object) -> tuple[str, str]:
    return creds.access_key_id, creds.session_token  # type: ignore[attr-defined]


def _fields(c: SessionClaims) -> dict[str, object]:
    return {name: getattr(c, name) for name in c.__dataclass_fields__}


def _raw(token: str) -> bytearray:
    return bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def _token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


CREDS = mint(RING, claims(policy='{"Version":"2012-10-17"}'))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_flipped_bit_is_refused(data: st.DataObject) -> None:
    raw = _raw(CREDS.session_token)
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises((TamperedToken, MalformedToken, TokenKeyMismatch, UnknownKey)):
        open_session_token(RING, CREDS.access_key_id, _token(bytes(raw)))


def test_flipped_ciphertext_is_tampered() -> None:
    raw = _raw(CREDS.session_token)
    raw[-1] ^= 1
    with pytest.raises(TamperedToken) as err:
        open_session_token(RING, CREDS.access_key_id, _token(bytes(raw)))
    assert err.value.code == "InvalidClientTokenId"
    assert err.value.message == "The security token included in the request is invalid"


def test_token_paired_with_another_access_key_id_is_refused() -> None:
    other = mint(RING, claims())
    with pytest.raises(TamperedToken):
        open_session_token(RING, other.access_key_id, CREDS.session_token)


def test_token_naming_another_kid_is_refused() -> None:
    ring = RING.rotate(T0, Key("KEYB", bytes([9]) * 32, T0))
    newer = mint(ring, claims())
    assert kid_of(newer.access_key_id) == "KEYB"
    with pytest.raises(TokenKeyMismatch):
        open_session_token(ring, CREDS.access_key_id, newer.session_token)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + "=",  # padding added
        lambda t: t.replace("-", "+").replace("_", "/") if ("-" in t or "_" in t) else t + "+",
        lambda t: t[:-1],  # truncated by one character
        lambda t: t[:20],  # truncated hard
        lambda t: "",
        lambda t: t + " ",
        lambda t: "A" * (MAX_TOKEN_CHARS + 4),
        lambda t: _token(b"\x02" + _raw(t)[1:]),  # unknown version
    ],
)
def test_reencoded_or_cut_tokens_are_refused(mangle: object) -> None:
    token = mangle(CREDS.session_token)  # type: ignore[operator]
    with pytest.raises(InvalidClientTokenId):
        open_session_token(RING, CREDS.access_key_id, token)


def test_non_canonical_base64_tail_is_refused() -> None:
    # A token whose last character has unused low bits: flipping one decodes to the same
    # bytes, so only the canonical-encoding check tells the two apart.
    creds = next(c for c in (mint(RING, claims()) for _ in range(50)) if len(c.session_token) % 4)
    token = creds.session_token
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    twin = token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]
    assert _raw(twin) == _raw(token)
    with pytest.raises(MalformedToken):
        open_session_token(RING, creds.access_key_id, twin)
    assert open_session_token(RING, creds.access_key_id, token).account == "123456789012"


@given(st.text(max_size=300))
def test_garbage_is_always_a_typed_refusal(token: str) -> None:
    with pytest.raises(InvalidClientTokenId):
        open_session_token(RING, CREDS.access_key_id, token)


def test_tokens_from_a_retired_key_stop_opening() -> None:
    ring = RING.rotate(T0).retire(T0 + timedelta(hours=13))
    with pytest.raises(UnknownKey):
        open_session_token(ring, *_pair(CREDS))


def test_tokens_from_the_previous_key_keep_opening_after_rotation() -> None:
    ring = RING.rotate(T0 + timedelta(minutes=5))
    assert open_session_token(ring, *_pair(CREDS)).account == "123456789012"
    assert derive_secret_access_key(ring, CREDS.access_key_id) == CREDS.secret_access_key
