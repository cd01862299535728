"""ed25519 keys: ids, PEM files, modes."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from lockstep.errors import SigningKeyError
from lockstep.supplychain import keys


def test_key_id_is_the_hash_of_the_raw_public_key() -> None:
    key = keys.generate("alice")
    raw = key.key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert key.keyid == hashlib.sha256(raw).hexdigest()[:16]
    assert key.public.keyid == key.keyid


def test_save_and_load(tmp_path: Path) -> None:
    key = keys.generate("alice")
    private, public = tmp_path / "keys" / "alice.key", tmp_path / "trusted" / "alice.pub"
    keys.save(key, private, public)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    loaded = keys.load_private(private, "alice")
    assert loaded.keyid == key.keyid
    assert keys.trusted(public.parent) == {key.keyid: keys.load_public(public, "alice")}
    signature = loaded.sign(b"data")
    assert keys.trusted(public.parent)[key.keyid].verify(signature, b"data")
    assert not keys.trusted(public.parent)[key.keyid].verify(signature, b"datA")
    assert keys.names(private.parent) == ["alice"]


def test_bad_files_and_names(tmp_path: Path) -> None:
    (tmp_path / "x.key").write_text("nope")
    with pytest.raises(SigningKeyError, match="not a PEM private key"):
        keys.load_private(tmp_path / "x.key", "x")
    with pytest.raises(SigningKeyError, match="does not exist"):
        keys.load_private(tmp_path / "y.key", "y")
    (tmp_path / "x.pub").write_text("nope")
    with pytest.raises(SigningKeyError, match="not a PEM public key"):
        keys.trusted(tmp_path)
    for bad in ("", "../x", "a b", "-a"):
        with pytest.raises(SigningKeyError):
            keys.check_name(bad)
