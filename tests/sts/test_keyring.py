"""Keyring: keys, rotation, retirement, wrapping under the master key, master key files."""

from __future__ import annotations

import base64
import hmac
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from gateway.sts.hmac256 import HmacSha256, hmac_sha256
from gateway.sts.keyring import (
    Key,
    Keyring,
    KeyringError,
    KeyUnwrapError,
    create_master_key_file,
    derive_subkeys,
    load_master_key,
    unwrap_key,
    wrap_key,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MASTER = bytes(range(32))


def test_generated_key_has_a_kid_from_the_access_key_alphabet() -> None:
    key = Key.generate(T0)
    assert len(key.kid) == 4
    assert set(key.kid) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert len(key.secret) == 32
    assert key.created_at == T0
    assert key.not_after_use is None
    assert key.secret.hex() not in repr(key)


@pytest.mark.parametrize("kid", ["ABC", "ABCDE", "abcd", "AB1D", "AB0D"])
def test_kid_outside_the_alphabet_is_refused(kid: str) -> None:
    with pytest.raises(KeyringError):
        Key(kid, bytes(32), T0)


def test_short_secret_is_refused() -> None:
    with pytest.raises(KeyringError):
        Key("AAAA", bytes(16), T0)


def test_generate_avoids_taken_kids(monkeypatch: pytest.MonkeyPatch) -> None:
    picks = iter("AAAA" "BBBB")
    monkeypatch.setattr("gateway.sts.keyring.secrets.choice", lambda _alphabet: next(picks))
    assert Key.generate(T0, avoid={"AAAA"}).kid == "BBBB"


def test_rotation_makes_a_new_active_key_and_keeps_the_old_one_verifying() -> None:
    ring = Keyring.generate(T0)
    old = ring.active
    later = T0 + timedelta(days=1)
    rotated = ring.rotate(later)
    assert rotated.active.kid != old.kid
    assert rotated.active.not_after_use is None
    previous = rotated.get(old.kid)
    assert previous is not None
    assert previous.not_after_use == later
    assert previous.secret == old.secret
    assert [k.kid for k in rotated.keys] == [rotated.active.kid, old.kid]
    assert old.kid in rotated
    assert ring.active is old  # the original keyring is unchanged


def test_retire_drops_a_key_only_after_its_longest_credential_and_skew() -> None:
    ring = Keyring.generate(T0).rotate(T0)
    old_kid = ring.keys[1].kid
    boundary = T0 + timedelta(hours=12, minutes=15)
    assert old_kid in ring.retire(boundary)
    assert old_kid not in ring.retire(boundary + timedelta(seconds=1))
    assert ring.retire(boundary + timedelta(days=9)).active is ring.active


def test_active_key_never_retires() -> None:
    ring = Keyring.generate(T0)
    assert ring.retire(T0 + timedelta(days=400)).active is ring.active


def test_keyring_refuses_duplicate_kids_and_a_retired_active_key() -> None:
    key = Key("AAAA", bytes(32), T0)
    with pytest.raises(KeyringError, match="duplicate"):
        Keyring(key, [Key("AAAA", bytes([1]) * 32, T0, T0)])
    with pytest.raises(KeyringError, match="not_after_use"):
        Keyring(Key("BBBB", bytes(32), T0, not_after_use=T0))


def test_lookup_by_kid() -> None:
    ring = Keyring.generate(T0)
    assert ring.get(ring.active.kid) is ring.active
    assert ring.get("ZZZZ" if ring.active.kid != "ZZZZ" else "YYYY") is None
    assert ring.subkeys("nope") is None


def test_subkeys_differ_per_purpose_and_per_kid() -> None:
    a = Key("AAAA", bytes(32), T0)
    b = Key("BBBB", bytes(32), T0)  # same secret, different kid
    sa, sb = derive_subkeys(a), derive_subkeys(b)
    assert sa.secret.digest(b"m") != sb.secret.digest(b"m")
    sealed = sa.seal.encrypt(b"\0" * 12, b"x", None)
    with pytest.raises(InvalidTag):
        sb.seal.decrypt(b"\0" * 12, sealed, None)


# --- wrapping --------------------------------------------------------------------------


def test_wrap_and_unwrap_round_trip() -> None:
    key = Key.generate(T0)
    blob = wrap_key(MASTER, key)
    assert key.secret not in blob
    assert unwrap_key(MASTER, blob, key.kid) == key.secret
    assert wrap_key(MASTER, key) != blob  # fresh nonce each time


def test_unwrap_under_another_kid_fails() -> None:
    key = Key("AAAA", os.urandom(32), T0)
    with pytest.raises(KeyUnwrapError):
        unwrap_key(MASTER, wrap_key(MASTER, key), "BBBB")


def test_unwrap_with_another_master_key_fails() -> None:
    key = Key.generate(T0)
    with pytest.raises(KeyUnwrapError, match="does not open"):
        unwrap_key(bytes(32), wrap_key(MASTER, key), key.kid)


@pytest.mark.parametrize("position", [0, 5, 20, -1])
def test_tampered_wrapped_key_fails(position: int) -> None:
    key = Key.generate(T0)
    blob = bytearray(wrap_key(MASTER, key))
    blob[position] ^= 1
    with pytest.raises(KeyUnwrapError):
        unwrap_key(MASTER, bytes(blob), key.kid)


def test_truncated_wrapped_key_fails() -> None:
    key = Key.generate(T0)
    with pytest.raises(KeyUnwrapError):
        unwrap_key(MASTER, wrap_key(MASTER, key)[:-1], key.kid)


def test_master_key_must_be_32_bytes() -> None:
    with pytest.raises(KeyringError):
        wrap_key(bytes(16), Key.generate(T0))


# --- master key values and files --------------------------------------------------------


def test_load_master_key_from_hex_and_base64() -> None:
    assert load_master_key(MASTER.hex()) == MASTER
    assert load_master_key(base64.b64encode(MASTER).decode()) == MASTER


def test_load_master_key_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text(base64.b64encode(MASTER).decode() + "\n")
    assert load_master_key(str(path)) == MASTER
    assert load_master_key(path) == MASTER


def test_load_master_key_refuses_garbage(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="neither"):
        load_master_key(str(tmp_path / "missing.key"))
    bad = tmp_path / "bad.key"
    bad.write_text("too short")
    with pytest.raises(KeyringError, match=r"bad\.key"):
        load_master_key(bad)


def test_create_master_key_file_is_private_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "var" / "master.key"
    key = create_master_key_file(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_master_key(path) == key
    with pytest.raises(FileExistsError):
        create_master_key_file(path)
    assert load_master_key(path) == key


# --- HMAC helper ------------------------------------------------------------------------


@given(key=st.binary(max_size=200), message=st.binary(max_size=300))
def test_prepared_hmac_equals_the_standard_library(key: bytes, message: bytes) -> None:
    assert HmacSha256(key).digest(message) == hmac.digest(key, message, "sha256")
    assert hmac_sha256(key, message) == hmac.digest(key, message, "sha256")
