"""``checkout``: make the workspace match the pointers, from the cache.

Everything is planned before anything changes: objects that are missing or
corrupt, and workspace changes that exist nowhere else, stop the checkout
before a single file is touched. ``force`` accepts losing those changes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lockstep import fs
from lockstep.errors import CorruptObjectError, MissingObjectsError, WorkspaceConflictError
from lockstep.store.build import Snapshot, against
from lockstep.store.cas import place
from lockstep.store.pointer import Pointer
from lockstep.store.state import Stat, stat_key
from lockstep.store.tree import TreeEntry
from lockstep.store.workspace import Workspace
from lockstep.types import NullProgress, Progress


@dataclass
class CheckoutPlan:
    write: list[tuple[str, TreeEntry]] = field(default_factory=list)  # (workspace path, entry)
    remove: list[tuple[str, str]] = field(default_factory=list)  # (path, tracked target)
    replace_dirs: list[str] = field(default_factory=list)  # a file/dir in the way
    conflicts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CheckoutResult:
    written: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


def checkout(
    ws: Workspace,
    pointers: Iterable[Pointer],
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> CheckoutResult:
    progress = progress or NullProgress()
    plan = CheckoutPlan()
    for pointer in pointers:
        _plan_pointer(ws, pointer, plan)
    if plan.conflicts and not force:
        raise WorkspaceConflictError(sorted(plan.conflicts), "checkout")
    _preflight(ws, plan)
    return _apply(ws, plan, progress)


def _plan_pointer(ws: Workspace, pointer: Pointer, plan: CheckoutPlan) -> None:
    found, snap = against(ws.root, pointer.target, pointer.digest, ws.state)
    if found is not None and snap is None:
        return  # known to match the pointer
    if pointer.kind == "file":
        wanted = {"": TreeEntry("", pointer.digest, pointer.size)}
    else:
        wanted = ws.require_tree(pointer).by_path()
    if snap is not None and snap.kind != pointer.kind:
        _plan_replace(ws, snap, plan)
        snap = None
    current = {f.rel: f for f in snap.files} if snap else {}
    prefix = pointer.target + "/" if pointer.kind == "dir" else pointer.target
    for rel, entry in wanted.items():
        have = current.get(rel)
        if have is None or have.digest != entry.digest or have.mode != entry.mode:
            if have is not None and not ws.store.exists(have.digest):
                plan.conflicts.append(prefix + rel)
            plan.write.append((prefix + rel, entry))
    for rel, have in current.items():
        if rel not in wanted:
            if not ws.store.exists(have.digest):
                plan.conflicts.append(prefix + rel)
            plan.remove.append((prefix + rel, pointer.target))


def _plan_replace(ws: Workspace, snap: Snapshot, plan: CheckoutPlan) -> None:
    for f in snap.files:
        if not ws.store.exists(f.digest):
            plan.conflicts.append(f"{snap.target}/{f.rel}" if f.rel else snap.target)
    plan.replace_dirs.append(snap.target)


def _preflight(ws: Workspace, plan: CheckoutPlan) -> None:
    needed = {entry.digest: path for path, entry in plan.write}
    check = ws.store.verify(needed)
    if check.missing:
        digests = sorted(check.missing)
        raise MissingObjectsError(digests, "the cache", sorted(needed[d] for d in digests))
    if check.corrupt:
        digest, actual = next(iter(sorted(check.corrupt.items())))
        raise CorruptObjectError(digest, "the cache", actual, needed[digest])


def _apply(ws: Workspace, plan: CheckoutPlan, progress: Progress) -> CheckoutResult:
    for target in plan.replace_dirs:
        _remove_any(ws.abspath(target))
    for path, target in plan.remove:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(ws.abspath(path))
        _prune_empty_dirs(ws.abspath(target), ws.abspath(path))
    progress.start("Checking out", len(plan.write))
    rows: dict[str, tuple[Stat, str]] = {}
    for path, entry in plan.write:
        rows[path] = (_materialize(ws, path, entry), entry.digest)
        progress.advance()
    progress.finish()
    ws.state.save_files(rows)
    return CheckoutResult(tuple(p for p, _ in plan.write), tuple(p for p, _ in plan.remove))


def _materialize(ws: Workspace, path: str, entry: TreeEntry) -> Stat:
    """Put object ``entry.digest`` at ``path`` atomically; return its stat."""
    target = ws.abspath(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = fs.temp_path_for(target)
    try:
        if place(ws.store.path(entry.digest), tmp, ws.link) == "copy":
            os.chmod(tmp, 0o755 if entry.mode == "0755" else 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return stat_key(os.stat(target))


def _remove_any(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _prune_empty_dirs(stop: Path, removed: Path) -> None:
    """Remove folders left empty below ``stop`` by removing ``removed``."""
    parent = removed.parent
    while parent != stop and stop in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent
