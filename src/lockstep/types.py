"""Small value types shared by every layer."""

from __future__ import annotations

import re
from typing import Protocol

DIGEST_PREFIX = "sha256:"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_hex_digest(value: str) -> bool:
    """True for a bare lowercase sha256 hex string of 64 characters."""
    return len(value) == 64 and _HEX64.fullmatch(value) is not None


def parse_digest(value: object) -> str | None:
    """Return the hex of ``sha256:<hex>``, or None when ``value`` is not one."""
    if not isinstance(value, str) or not value.startswith(DIGEST_PREFIX):
        return None
    hex_part = value[len(DIGEST_PREFIX) :]
    return hex_part if is_hex_digest(hex_part) else None


def format_digest(hex_digest: str) -> str:
    return DIGEST_PREFIX + hex_digest


class Progress(Protocol):
    """How the core reports long work; the shells render it (or not)."""

    def start(self, description: str, total: int | None, unit: str = "files") -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Reports nothing; the default everywhere."""

    def start(self, description: str, total: int | None, unit: str = "files") -> None:
        return None

    def advance(self, amount: int = 1) -> None:
        return None

    def finish(self) -> None:
        return None
