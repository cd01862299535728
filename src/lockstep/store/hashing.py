"""sha256 of files and bytes: the same digest ``sha256sum`` prints."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_file(path: Path | str) -> str:
    """Hex sha256 of the file's bytes, read in 1 MiB chunks."""
    with open(path, "rb") as handle:
        if hasattr(hashlib, "file_digest"):
            return str(hashlib.file_digest(handle, "sha256").hexdigest())
        digest = hashlib.sha256()  # pragma: no cover - Python 3.10
        for block in iter(lambda: handle.read(CHUNK), b""):  # pragma: no cover
            digest.update(block)
        return digest.hexdigest()  # pragma: no cover
