"""Tree objects: the manifest of a directory.

A directory is stored as one JSON object (format ``lockstep/tree@1``)::

    {"entries":[{"digest":"sha256:<hex>","mode":"0644","path":"a/b.csv","size":12}, ...],
     "format":"lockstep/tree@1"}

Entries are sorted by path; paths are relative, POSIX, and never absolute or
containing ``..``. The bytes are canonical (sorted keys, no spaces, UTF-8), so
the same directory content always gives the same tree digest, and that digest
is the directory's digest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from lockstep.errors import TreeError
from lockstep.store.hashing import hash_bytes
from lockstep.types import format_digest, parse_digest

FORMAT = "lockstep/tree@1"
MODES = ("0644", "0755")


@dataclass(frozen=True, slots=True)
class TreeEntry:
    path: str
    digest: str
    size: int
    mode: str = "0644"

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": format_digest(self.digest),
            "mode": self.mode,
            "path": self.path,
            "size": self.size,
        }


def check_relative(path: str) -> str | None:
    """Why ``path`` may not name a file inside a directory, or None if it may."""
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        return "must be a relative POSIX path"
    if (len(path) > 1 and path[1] == ":") or any(
        part in ("", ".", "..") for part in path.split("/")
    ):
        return "must not contain '..', '.' or empty parts, or a drive"
    return None


@dataclass(frozen=True)
class Tree:
    entries: tuple[TreeEntry, ...]

    @classmethod
    def build(cls, entries: Iterable[TreeEntry]) -> Tree:
        return cls(tuple(sorted(entries, key=lambda e: e.path)))

    @cached_property
    def data(self) -> bytes:
        body = {"entries": [e.to_dict() for e in self.entries], "format": FORMAT}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @cached_property
    def digest(self) -> str:
        return hash_bytes(self.data)

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    def by_path(self) -> dict[str, TreeEntry]:
        return {e.path: e for e in self.entries}

    @classmethod
    def from_bytes(cls, data: bytes, source: str) -> Tree:
        """Parse and validate a tree object; TreeError names the source and the field."""
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TreeError(source, None, f"not valid JSON ({exc})") from exc
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise TreeError(source, "format", f"must be {FORMAT!r}")
        raw = body.get("entries")
        if not isinstance(raw, list):
            raise TreeError(source, "entries", "must be a list")
        entries = tuple(_entry(item, f"entries[{i}]", source) for i, item in enumerate(raw))
        paths = [e.path for e in entries]
        if paths != sorted(set(paths)):
            raise TreeError(source, "entries", "must be sorted by path without duplicates")
        return cls(entries)


def _entry(item: object, field: str, source: str) -> TreeEntry:
    if not isinstance(item, dict):
        raise TreeError(source, field, "must be a mapping")
    path = item.get("path")
    if not isinstance(path, str):
        raise TreeError(source, f"{field}.path", "must be a string")
    problem = check_relative(path)
    if problem:
        raise TreeError(source, f"{field}.path", f"{path!r} {problem}")
    digest = parse_digest(item.get("digest"))
    if digest is None:
        raise TreeError(source, f"{field}.digest", "must be 'sha256:' and 64 hex digits")
    size = item.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise TreeError(source, f"{field}.size", "must be a non-negative integer")
    mode = item.get("mode", "0644")
    if mode not in MODES:
        raise TreeError(source, f"{field}.mode", f"must be one of {', '.join(MODES)}")
    return TreeEntry(path, digest, size, str(mode))
