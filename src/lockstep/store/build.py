"""Snapshot a workspace path: the digest of every file, hashing only what changed.

Two levels of memory make an unchanged tree cheap: each file's digest is kept
against its (inode, mtime, size) in the state database, and a directory's tree
digest is kept against a fingerprint of all its files' stats, so asking for the
digest of an unchanged directory costs one ``stat`` per file and no hashing,
no tree building.
"""

from __future__ import annotations

import hashlib
import os
import stat as stat_mod
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, NamedTuple

from lockstep.errors import PathError
from lockstep.fs import is_temp_name
from lockstep.store.hashing import hash_file
from lockstep.store.state import Stat, StateDB
from lockstep.store.tree import Tree, TreeEntry
from lockstep.types import NullProgress, Progress

SKIP_DIRS = frozenset({".git", ".lockstep"})


class Found(NamedTuple):
    """A file seen by a scan, not yet hashed."""

    rel: str  # path inside the tracked directory ("" for a tracked file)
    abspath: str
    stat: Stat
    mode: str


class FileState(NamedTuple):
    """One file as it is in the workspace now."""

    rel: str
    abspath: str
    digest: str
    size: int
    mode: str
    stat: Stat


@dataclass(frozen=True)
class Scan:
    """What a tracked path holds now: its files and their stats."""

    target: str
    kind: Literal["file", "dir"]
    found: tuple[Found, ...]

    @cached_property
    def fingerprint(self) -> str:
        """Changes whenever any file is added, removed, renamed or touched."""
        parts = [f"{f.rel}\0{f.stat[0]}\0{f.stat[1]}\0{f.stat[2]}\0{f.mode}" for f in self.found]
        parts.sort()
        return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """The current content of a tracked path, every file hashed."""

    target: str
    kind: Literal["file", "dir"]
    files: tuple[FileState, ...]

    @cached_property
    def tree(self) -> Tree:
        return Tree.build(TreeEntry(f.rel, f.digest, f.size, f.mode) for f in self.files)

    @property
    def digest(self) -> str:
        return self.files[0].digest if self.kind == "file" else self.tree.digest

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def _mode(st: os.stat_result) -> str:
    return "0755" if st.st_mode & 0o111 else "0644"


def walk(directory: str) -> list[Found]:
    """Regular files below ``directory`` (symlinks to files followed, not to folders)."""
    out: list[Found] = []
    stack = [(directory, "")]
    while stack:
        folder, rel = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            raise PathError(folder, f"cannot be read ({exc.strerror})") from exc
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIP_DIRS:
                    stack.append((entry.path, f"{rel}{entry.name}/"))
                continue
            if is_temp_name(entry.name):
                continue  # a write of lockstep's own, never data
            try:
                st = entry.stat()
            except OSError:
                continue  # dangling link or vanished file
            if stat_mod.S_ISREG(st.st_mode):
                key = (st.st_ino, st.st_mtime_ns, st.st_size)
                out.append(Found(rel + entry.name, entry.path, key, _mode(st)))
    return out


def scan(root: Path, target: str) -> Scan | None:
    """Stat everything under the workspace-relative ``target``; None when absent."""
    abspath = os.path.join(root, target)
    try:
        st = os.stat(abspath)
    except FileNotFoundError:
        return None
    if stat_mod.S_ISDIR(st.st_mode):
        return Scan(target, "dir", tuple(walk(abspath)))
    if stat_mod.S_ISREG(st.st_mode):
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        return Scan(target, "file", (Found("", abspath, key, _mode(st)),))
    raise PathError(target, "is neither a file nor a directory")


def snapshot(
    root: Path, target: str, state: StateDB, progress: Progress | None = None
) -> Snapshot | None:
    """Hash ``target`` (workspace-relative) using ``state``; None when it does not exist."""
    found = scan(root, target)
    return None if found is None else hash_scan(found, state, progress)


def hash_scan(found: Scan, state: StateDB, progress: Progress | None = None) -> Snapshot:
    """Digest every file of a scan, hashing only those whose stat changed."""
    progress = progress or NullProgress()
    target = found.target
    known = state.files_under(target)
    keys = [f"{target}/{f.rel}" if f.rel else target for f in found.found]
    digests: list[str | None] = []
    todo: list[int] = []
    for i, (key, f) in enumerate(zip(keys, found.found, strict=True)):
        row = known.get(key)
        digests.append(row[1] if row is not None and row[0] == f.stat else None)
        if digests[-1] is None:
            todo.append(i)
    progress.start(f"Hashing {target}", len(todo))
    for i, digest in zip(todo, map(hash_file, [found.found[i].abspath for i in todo]), strict=True):
        digests[i] = digest
        progress.advance()
    progress.finish()
    state.save_files({keys[i]: (found.found[i].stat, str(digests[i])) for i in todo})
    files = tuple(
        FileState(f.rel, f.abspath, str(d), f.stat[2], f.mode, f.stat)
        for f, d in zip(found.found, digests, strict=True)
    )
    snap = Snapshot(target, found.kind, files)
    if found.kind == "dir":
        state.save_tree(target, found.fingerprint, snap.digest)
    return snap


def current_digest(root: Path, target: str, state: StateDB) -> str | None:
    """The digest ``target`` has now (a tree digest for a folder), hashing only what
    changed; None when it does not exist."""
    found = scan(root, target)
    if found is None:
        return None
    if found.kind == "dir":
        known = state.tree_digest(target, found.fingerprint)
        if known is not None:
            return known
    return hash_scan(found, state).digest


def unchanged(found: Scan, digest: str, state: StateDB) -> bool:
    """True when a directory is known to still have the tree ``digest`` (no hashing)."""
    return found.kind == "dir" and state.tree_digest(found.target, found.fingerprint) == digest


def against(
    root: Path, target: str, digest: str, state: StateDB, progress: Progress | None = None
) -> tuple[Scan | None, Snapshot | None]:
    """What ``target`` holds now, to compare with ``digest``: ``(None, None)`` when it
    is gone, ``(scan, None)`` when it is known to still be ``digest`` (nothing hashed),
    else ``(scan, snapshot)``."""
    found = scan(root, target)
    if found is None or unchanged(found, digest, state):
        return found, None
    return found, hash_scan(found, state, progress)
