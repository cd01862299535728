"""Snapshot a workspace path: the digest of every file, hashing only what changed."""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from lockstep.errors import PathError
from lockstep.store.hashing import hash_file
from lockstep.store.state import Stat, StateDB, stat_key
from lockstep.store.tree import Tree, TreeEntry
from lockstep.types import NullProgress, Progress

SKIP_DIRS = frozenset({".git", ".lockstep"})


@dataclass(frozen=True, slots=True)
class FileState:
    """One file as it is in the workspace now."""

    rel: str  # path inside the tracked directory ("" for a tracked file)
    abspath: str
    digest: str
    size: int
    mode: str
    stat: Stat


@dataclass(frozen=True)
class Snapshot:
    """The current content of a tracked path."""

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


def walk(directory: str, rel: str = "") -> Iterator[tuple[str, str, os.stat_result]]:
    """Regular files below ``directory``: (relative path, absolute path, stat)."""
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        raise PathError(directory, f"cannot be read ({exc.strerror})") from exc
    for entry in entries:
        name = rel + entry.name
        if entry.is_dir(follow_symlinks=False):
            if entry.name not in SKIP_DIRS:
                yield from walk(entry.path, name + "/")
            continue
        try:
            st = entry.stat()
        except OSError:
            continue  # dangling link or vanished file
        if stat_mod.S_ISREG(st.st_mode):
            yield name, entry.path, st


def snapshot(
    root: Path, target: str, state: StateDB, progress: Progress | None = None
) -> Snapshot | None:
    """Hash ``target`` (workspace-relative) using ``state``; None when it does not exist."""
    abspath = os.path.join(root, target)
    try:
        st = os.stat(abspath)
    except FileNotFoundError:
        return None
    if stat_mod.S_ISDIR(st.st_mode):
        found = list(walk(abspath))
        kind: Literal["file", "dir"] = "dir"
    elif stat_mod.S_ISREG(st.st_mode):
        found = [("", abspath, st)]
        kind = "file"
    else:
        raise PathError(target, "is neither a file nor a directory")
    files = _hash_all(target, found, state, progress or NullProgress())
    return Snapshot(target, kind, tuple(files))


def _hash_all(
    target: str,
    found: list[tuple[str, str, os.stat_result]],
    state: StateDB,
    progress: Progress,
) -> list[FileState]:
    known = state.files_under(target)
    fresh: dict[str, tuple[Stat, str]] = {}
    out: list[FileState] = []
    progress.start(f"Hashing {target}", len(found))
    for rel, path, st in found:
        key = f"{target}/{rel}" if rel else target
        skey = stat_key(st)
        row = known.get(key)
        if row is not None and row[0] == skey:
            digest = row[1]
        else:
            digest = hash_file(path)
            fresh[key] = (skey, digest)
        out.append(FileState(rel, path, digest, st.st_size, _mode(st), skey))
        progress.advance()
    progress.finish()
    state.save_files(fresh)
    return out
