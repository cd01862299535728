"""Pointer files: the committed stand-in for tracked data.

``lockstep add data/raw`` writes ``data/raw.lockstep`` (YAML, format
``lockstep/pointer@1``)::

    format: lockstep/pointer@1
    path: raw                 # the tracked path, relative to this file's folder
    kind: dir                 # file | dir
    digest: sha256:<hex>      # the file's digest, or the tree object's for a dir
    size: 1048576             # bytes of data (all files of a dir)
    files: 3                  # dirs only: number of files

The tracked path itself is listed in the ``.gitignore`` beside it.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from lockstep.errors import PointerError
from lockstep.store.tree import check_relative
from lockstep.types import format_digest, parse_digest

FORMAT = "lockstep/pointer@1"
SUFFIX = ".lockstep"
_FIELDS = ("format", "path", "kind", "digest", "size", "files")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Pointer:
    """A parsed pointer. ``location`` is the pointer file's workspace-relative path."""

    location: str
    path: str
    kind: Literal["file", "dir"]
    digest: str
    size: int
    files: int | None = None

    @property
    def target(self) -> str:
        """The tracked path, relative to the workspace root."""
        return posixpath.normpath(posixpath.join(posixpath.dirname(self.location), self.path))

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "format": FORMAT,
            "path": self.path,
            "kind": self.kind,
            "digest": format_digest(self.digest),
            "size": self.size,
        }
        if self.kind == "dir":
            body["files"] = self.files
        return body

    def dumps(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def location_for(target: str) -> str:
    """The pointer file that tracks the workspace-relative ``target``."""
    return target + SUFFIX


def loads(text: str | bytes, location: str, source: str | None = None) -> Pointer:
    """Parse the pointer file at ``location``; PointerError names ``source``
    (default: the location) and the field."""
    where = source or location
    try:
        body = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise PointerError(where, None, "not valid YAML") from exc
    if not isinstance(body, dict):
        raise PointerError(where, None, "must be a YAML mapping")
    for key in body:
        if key not in _FIELDS:
            raise PointerError(where, str(key), "unknown field")
    if body.get("format") != FORMAT:
        raise PointerError(where, "format", f"must be {FORMAT!r}")
    return Pointer(
        location=location,
        path=_path(body, where),
        kind=_kind(body, where),
        digest=_digest(body, where),
        size=_count(body, "size", where),
        files=_count(body, "files", where) if body.get("kind") == "dir" else None,
    )


def _path(body: dict[str, Any], where: str) -> str:
    path = body.get("path")
    if not isinstance(path, str):
        raise PointerError(where, "path", "must be a string")
    problem = check_relative(path)
    if problem:
        raise PointerError(where, "path", f"{path!r} {problem}")
    return path


def _kind(body: dict[str, Any], where: str) -> Literal["file", "dir"]:
    kind = body.get("kind")
    if kind == "file":
        return "file"
    if kind == "dir":
        return "dir"
    raise PointerError(where, "kind", "must be 'file' or 'dir'")


def _digest(body: dict[str, Any], where: str) -> str:
    digest = parse_digest(body.get("digest"))
    if digest is None:
        raise PointerError(where, "digest", "must be 'sha256:' followed by 64 hex digits")
    return digest


def _count(body: dict[str, Any], field: str, where: str) -> int:
    value = body.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PointerError(where, field, "must be a non-negative integer")
    return value
