"""``status``: how the workspace differs from what its pointers record."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lockstep.store.build import Snapshot, against
from lockstep.store.pointer import Pointer
from lockstep.store.tree import TreeEntry
from lockstep.store.workspace import Workspace
from lockstep.types import Progress


@dataclass(frozen=True)
class PathStatus:
    """One tracked path compared with its pointer.

    ``state`` is ``clean``, ``modified``, ``missing`` (the path is gone from
    the workspace) or ``changed`` (a directory differs but its recorded tree
    is not in the cache, so file-level detail is unknown: pull first).
    """

    target: str
    kind: str
    state: str
    modified: tuple[str, ...] = ()
    new: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    corrupt: tuple[str, ...] = ()  # edited in place through a link: the cache copy changed too
    not_in_cache: bool = False

    @property
    def clean(self) -> bool:
        return self.state == "clean"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.target,
            "kind": self.kind,
            "state": self.state,
            "modified": list(self.modified),
            "new": list(self.new),
            "deleted": list(self.deleted),
            "corrupt": list(self.corrupt),
            "not_in_cache": self.not_in_cache,
        }


@dataclass
class _Diff:
    modified: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)


def status(
    ws: Workspace, pointers: Iterable[Pointer], progress: Progress | None = None
) -> list[PathStatus]:
    return [path_status(ws, p, progress) for p in pointers]


def path_status(ws: Workspace, pointer: Pointer, progress: Progress | None = None) -> PathStatus:
    found, snap = against(ws.root, pointer.target, pointer.digest, ws.state, progress)
    if found is None:
        state, diff = "missing", _Diff()
    elif snap is None or (snap.kind == pointer.kind and snap.digest == pointer.digest):
        state, diff = "clean", _Diff()
    else:
        state, diff = _changes(ws, pointer, snap)
    return PathStatus(
        target=pointer.target,
        kind=pointer.kind,
        state=state,
        modified=tuple(diff.modified),
        new=tuple(diff.new),
        deleted=tuple(diff.deleted),
        corrupt=tuple(diff.corrupt),
        not_in_cache=not ws.store.exists(pointer.digest),
    )


def _changes(ws: Workspace, pointer: Pointer, snap: Snapshot) -> tuple[str, _Diff]:
    if pointer.kind == "file" or snap.kind == "file":
        recorded = {"": TreeEntry("", pointer.digest, pointer.size)}
        if snap.kind == "dir":
            return "modified", _Diff()
    else:
        tree = ws.tree(pointer.digest)
        if tree is None:
            return "changed", _Diff()
        recorded = tree.by_path()
    return "modified", _compare(ws, recorded, snap)


def _compare(ws: Workspace, recorded: dict[str, TreeEntry], snap: Snapshot) -> _Diff:
    diff = _Diff()
    seen = set()
    prefix = snap.target + "/" if snap.kind == "dir" else snap.target
    for f in snap.files:
        seen.add(f.rel)
        entry = recorded.get(f.rel)
        if entry is None:
            diff.new.append(prefix + f.rel)
        elif entry.digest != f.digest or entry.mode != f.mode:
            diff.modified.append(prefix + f.rel)
            if _shares_inode(ws, entry.digest, f.stat[0]):
                diff.corrupt.append(prefix + f.rel)
    diff.deleted.extend(prefix + p for p in recorded if p not in seen)
    diff.new.sort()
    diff.modified.sort()
    return diff


def _shares_inode(ws: Workspace, digest: str, inode: int) -> bool:
    """The file was edited in place through a hard link to its cache object."""
    try:
        return os.stat(ws.store.path(digest)).st_ino == inode
    except FileNotFoundError:
        return False
