"""``diff``: what changed in tracked data between two states of the workspace."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lockstep.store.build import snapshot
from lockstep.store.pointer import Pointer
from lockstep.store.workspace import Workspace
from lockstep.types import format_digest


@dataclass(frozen=True)
class Side:
    """One tracked path on one side: its digest and, when known, its files."""

    digest: str
    files: dict[str, str] | None  # relative path -> digest; None: a file, or an unknown tree


@dataclass(frozen=True)
class Change:
    path: str
    change: str  # added | deleted | modified
    old: str | None
    new: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "change": self.change,
            "old": format_digest(self.old) if self.old else None,
            "new": format_digest(self.new) if self.new else None,
        }


def from_pointers(ws: Workspace, pointers: Iterable[Pointer]) -> dict[str, Side]:
    out: dict[str, Side] = {}
    for p in pointers:
        tree = ws.tree(p.digest) if p.kind == "dir" else None
        files = {e.path: e.digest for e in tree.entries} if tree is not None else None
        out[p.target] = Side(p.digest, files)
    return out


def from_workspace(ws: Workspace, targets: Iterable[str]) -> dict[str, Side]:
    out: dict[str, Side] = {}
    for target in targets:
        snap = snapshot(ws.root, target, ws.state)
        if snap is None:
            continue
        files = {f.rel: f.digest for f in snap.files} if snap.kind == "dir" else None
        out[target] = Side(snap.digest, files)
    return out


def diff(old: dict[str, Side], new: dict[str, Side]) -> list[Change]:
    changes: list[Change] = []
    for target in sorted(old.keys() | new.keys()):
        a, b = old.get(target), new.get(target)
        if a is not None and b is not None and a.digest == b.digest:
            continue
        if a is not None and b is not None and a.files is not None and b.files is not None:
            changes.extend(_files(target, a.files, b.files))
        elif a is None and b is not None:
            changes.extend(_whole(target, b, "added"))
        elif b is None and a is not None:
            changes.extend(_whole(target, a, "deleted"))
        elif a is not None and b is not None:
            changes.append(Change(target, "modified", a.digest, b.digest))
    return changes


def _whole(target: str, side: Side, change: str) -> list[Change]:
    if side.files is None:
        pairs = [(target, side.digest)]
    else:
        pairs = [(f"{target}/{rel}", d) for rel, d in sorted(side.files.items())]
    if change == "added":
        return [Change(path, change, None, digest) for path, digest in pairs]
    return [Change(path, change, digest, None) for path, digest in pairs]


def _files(target: str, a: dict[str, str], b: dict[str, str]) -> list[Change]:
    out = []
    for rel in sorted(a.keys() | b.keys()):
        old, new = a.get(rel), b.get(rel)
        if old == new:
            continue
        kind = "added" if old is None else "deleted" if new is None else "modified"
        out.append(Change(f"{target}/{rel}", kind, old, new))
    return out
