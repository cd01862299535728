"""``gc``: remove cache objects that nothing references; never one that is referenced."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from lockstep import fs
from lockstep.store.cas import INCOMPLETE
from lockstep.store.pointer import Pointer
from lockstep.store.workspace import Workspace

STALE_SECONDS = 24 * 3600


@dataclass
class GCResult:
    removed: list[str] = field(default_factory=list)
    kept: int = 0
    freed_bytes: int = 0
    unknown_trees: list[str] = field(default_factory=list)  # referenced but not in the cache
    dry_run: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "removed": len(self.removed),
            "kept": self.kept,
            "freed_bytes": self.freed_bytes,
            "unknown_trees": [f"sha256:{d}" for d in self.unknown_trees],
            "dry_run": self.dry_run,
        }


def referenced(ws: Workspace, pointers: Iterable[Pointer], result: GCResult) -> set[str]:
    keep: set[str] = set()
    for pointer in pointers:
        keep.add(pointer.digest)
        if pointer.kind != "dir":
            continue
        tree = ws.tree(pointer.digest)
        if tree is None:
            result.unknown_trees.append(pointer.digest)
        else:
            keep.update(e.digest for e in tree.entries)
    return keep


def gc(ws: Workspace, pointers: Iterable[Pointer], *, dry_run: bool = False) -> GCResult:
    """Delete every object not reachable from ``pointers`` (and stale temp files)."""
    result = GCResult(dry_run=dry_run)
    keep = referenced(ws, pointers, result)
    doomed = []
    for digest in ws.store.all_digests():
        if digest in keep:
            result.kept += 1
        else:
            doomed.append(digest)
    for digest in doomed:
        path = ws.store.path(digest)
        result.freed_bytes += os.path.getsize(path)
        result.removed.append(digest)
        if not dry_run:
            ws.store.remove(digest)
    if not dry_run:
        _remove_stale_temps(ws)
    return result


def _remove_stale_temps(ws: Workspace) -> None:
    """Temp files and partial downloads untouched for a day belong to no live command."""
    if not ws.store.blobs.is_dir():
        return
    cutoff = time.time() - STALE_SECONDS
    for fan in os.scandir(ws.store.blobs):
        if not fan.is_dir():
            continue
        for entry in os.scandir(fan.path):
            stale = entry.name.endswith((fs.TMP_SUFFIX, INCOMPLETE))
            if stale and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
