"""ed25519 signing keys: generate, save, load, and name them by key id.

::

    .lockstep/keys/NAME.key            PKCS#8 PEM private key, mode 0600, never committed
    .lockstep/trusted-keys/NAME.pub    SubjectPublicKeyInfo PEM public key, committed

A key's id is the first 16 hex digits of the sha256 of its raw 32-byte public key,
so the same key has the same id wherever its PEM file lives. The ``cryptography``
package is used here only; its errors become :class:`SigningKeyError`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from lockstep import fs
from lockstep.errors import SigningKeyError

PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"
NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")
ALGORITHM = "ed25519"


def check_name(name: str) -> str:
    if not NAME.fullmatch(name) or ".." in name:
        raise SigningKeyError(
            name, "a key name uses letters, digits, '.', '-' and '_' (at most 64)"
        )
    return name


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class PublicKey:
    """A public key a signature can be checked with."""

    name: str
    keyid: str
    key: Ed25519PublicKey

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            self.key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "keyid": self.keyid, "algorithm": ALGORITHM}


@dataclass(frozen=True)
class SigningKey:
    """A private key and its id; signs bytes."""

    name: str
    keyid: str
    key: Ed25519PrivateKey

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.name, self.keyid, self.key.public_key())

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data)

    def pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def to_dict(self) -> dict[str, Any]:
        return self.public.to_dict()


def generate(name: str) -> SigningKey:
    key = Ed25519PrivateKey.generate()
    return SigningKey(check_name(name), key_id(key.public_key()), key)


def save(key: SigningKey, private_path: Path, public_path: Path) -> None:
    """Write the private key (mode 0600, in a 0700 folder) and the public key,
    each by an atomic rename."""
    private_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fs.atomic_write_bytes(private_path, key.pem(), mode=0o600)
    fs.atomic_write_bytes(public_path, key.public.pem(), mode=0o644)


def load_private(path: Path, name: str) -> SigningKey:
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise SigningKeyError(name, f"{path} does not exist (run 'lockstep keygen')") from None
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(name, f"{path} is not a PEM private key ({exc})") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SigningKeyError(name, f"{path} is not an ed25519 key")
    return SigningKey(name, key_id(loaded.public_key()), loaded)


def load_public(path: Path, name: str) -> PublicKey:
    try:
        loaded = serialization.load_pem_public_key(path.read_bytes())
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(name, f"{path} is not a PEM public key ({exc})") from exc
    if not isinstance(loaded, Ed25519PublicKey):
        raise SigningKeyError(name, f"{path} is not an ed25519 key")
    return PublicKey(name, key_id(loaded), loaded)


def trusted(folder: Path) -> dict[str, PublicKey]:
    """The public keys in ``folder`` (``*.pub``), by key id."""
    keys: dict[str, PublicKey] = {}
    if not folder.is_dir():
        return keys
    for path in sorted(folder.glob(f"*{PUBLIC_SUFFIX}")):
        key = load_public(path, path.name.removesuffix(PUBLIC_SUFFIX))
        keys.setdefault(key.keyid, key)
    return keys


def names(folder: Path) -> list[str]:
    """The names of the private keys in ``folder``."""
    if not folder.is_dir():
        return []
    return sorted(p.name.removesuffix(PRIVATE_SUFFIX) for p in folder.glob(f"*{PRIVATE_SUFFIX}"))
