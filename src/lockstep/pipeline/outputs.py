"""A stage's outputs in the workspace: cleared before a run, cached after it,
compared with the lock file, restored from the cache."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from lockstep.pipeline.lockfile import out_pointer
from lockstep.store.add import cache_snapshot
from lockstep.store.build import against, snapshot
from lockstep.store.checkout import checkout
from lockstep.store.pointer import Pointer
from lockstep.store.workspace import Workspace, ignore_entry


class OutputMissingError(Exception):
    """The stage exited 0 but did not write one of its outputs (a stage failure)."""

    def __init__(self, path: str) -> None:
        super().__init__(f"the stage exited 0 but did not write its output {path}")
        self.path = path


def clear(root: Path, outs: Iterable[str]) -> None:
    """Remove each output (the cache keeps what was committed) and make its folder."""
    for out in outs:
        path = root / out
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        path.parent.mkdir(parents=True, exist_ok=True)


def check_written(root: Path, outs: Iterable[str]) -> None:
    """Every output exists (checked before any of them is cached)."""
    for out in outs:
        if not os.path.lexists(root / out):
            raise OutputMissingError(out)


def commit(ws: Workspace, outs: Sequence[str]) -> tuple[Pointer, ...]:
    """Cache every output and list it in .gitignore; the pointers for the lock file."""
    pointers = []
    for out in outs:
        snap = snapshot(ws.root, out, ws.state)
        if snap is None:
            raise OutputMissingError(out)
        cache_snapshot(ws, snap)
        ignore_entry(ws.root, out)
        files = len(snap.files) if snap.kind == "dir" else None
        pointers.append(out_pointer(out, snap.kind, snap.digest, snap.size, files))
    return tuple(pointers)


def match(ws: Workspace, outs: Iterable[Pointer]) -> bool:
    """True when every output in the workspace is what the pointers say."""
    for out in outs:
        found, snap = against(ws.root, out.target, out.digest, ws.state)
        if found is None or (snap is not None and snap.digest != out.digest):
            return False
    return True


def restorable(ws: Workspace, outs: Iterable[Pointer]) -> bool:
    """True when the cache holds every object the outputs need."""
    outs = list(outs)
    for out in outs:
        if out.kind == "dir" and ws.tree(out.digest) is None:
            return False
    return not ws.store.missing(ws.objects_of(outs))


def restore(ws: Workspace, outs: Sequence[Pointer]) -> None:
    """Put the outputs back from the cache, replacing whatever is there."""
    checkout(ws, outs, force=True)
    for out in outs:
        ignore_entry(ws.root, out.target)
