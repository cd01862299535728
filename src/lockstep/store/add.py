"""``add``: put files and directories into the cache and write their pointers."""

from __future__ import annotations

from collections.abc import Sequence

from lockstep import fs
from lockstep.errors import PathError
from lockstep.store.build import Snapshot, snapshot
from lockstep.store.pointer import Pointer, location_for
from lockstep.store.workspace import Workspace, ignore_entry
from lockstep.types import NullProgress, Progress


def add(ws: Workspace, targets: Sequence[str], progress: Progress | None = None) -> list[Pointer]:
    """Track each workspace-relative target; return the pointers written."""
    progress = progress or NullProgress()
    pointers = []
    for target in targets:
        snap = snapshot(ws.root, target, ws.state, progress)
        if snap is None:
            raise PathError(target, "does not exist")
        pointers.append(_commit(ws, snap, progress))
    return pointers


def cache_snapshot(ws: Workspace, snap: Snapshot, progress: Progress | None = None) -> None:
    """Put every file of ``snap`` (and its tree object) into the cache."""
    progress = progress or NullProgress()
    progress.start(f"Caching {snap.target}", len(snap.files))
    ws.store.adopt(((f.abspath, f.digest, f.stat) for f in snap.files), ws.link, progress)
    progress.finish()
    if snap.kind == "dir":
        ws.store.put_bytes(snap.tree.data)


def _commit(ws: Workspace, snap: Snapshot, progress: Progress) -> Pointer:
    cache_snapshot(ws, snap, progress)
    location = location_for(snap.target)
    pointer = Pointer(
        location=location,
        path=snap.target.rpartition("/")[2],
        kind=snap.kind,
        digest=snap.digest,
        size=snap.size,
        files=len(snap.files) if snap.kind == "dir" else None,
    )
    fs.atomic_write_text(ws.abspath(location), pointer.dumps())
    ignore_entry(ws.root, snap.target)
    return pointer
