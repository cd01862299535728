"""A workspace's data side: its root, object cache, state database and settings."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lockstep import fs
from lockstep.errors import MissingObjectsError, PathError
from lockstep.store.cas import ObjectStore
from lockstep.store.pointer import Pointer
from lockstep.store.state import StateDB
from lockstep.store.tree import Tree


@dataclass
class Workspace:
    root: Path
    store: ObjectStore
    state: StateDB
    link: str = "auto"
    jobs: int = 8
    _trees: dict[str, Tree] = field(default_factory=dict, repr=False)

    @classmethod
    def at(cls, root: Path, cache: Path, link: str = "auto", jobs: int = 8) -> Workspace:
        state = StateDB(root / ".lockstep" / "state.db")
        return cls(root, ObjectStore(cache, state), state, link, jobs)

    def close(self) -> None:
        self.state.close()

    def abspath(self, target: str) -> Path:
        return self.root / target

    def tree(self, digest: str) -> Tree | None:
        """The tree object ``digest`` from the cache (verified), or None when absent."""
        if digest not in self._trees:
            if not self.store.exists(digest):
                return None
            data = self.store.read_bytes(digest)
            self._trees[digest] = Tree.from_bytes(data, f"tree object sha256:{digest}")
        return self._trees[digest]

    def require_tree(self, pointer: Pointer) -> Tree:
        tree = self.tree(pointer.digest)
        if tree is None:
            raise MissingObjectsError([pointer.digest], "the cache", [pointer.target])
        return tree

    def objects_of(self, pointers: Iterable[Pointer], *, strict: bool = True) -> set[str]:
        """Every digest the pointers need: files, tree objects and their entries.

        With ``strict=False`` a tree absent from the cache contributes only itself.
        """
        digests: set[str] = set()
        for pointer in pointers:
            digests.add(pointer.digest)
            if pointer.kind == "dir":
                tree = self.require_tree(pointer) if strict else self.tree(pointer.digest)
                if tree is not None:
                    digests.update(e.digest for e in tree.entries)
        return digests


def paths_by_digest(ws: Workspace, pointers: Iterable[Pointer]) -> dict[str, str]:
    """A workspace path for each digest the pointers use (for messages)."""
    named: dict[str, str] = {}
    for pointer in pointers:
        named.setdefault(pointer.digest, pointer.target)
        tree = ws.tree(pointer.digest) if pointer.kind == "dir" else None
        for entry in tree.entries if tree else ():
            named.setdefault(entry.digest, f"{pointer.target}/{entry.path}")
    return named


def relative_target(root: Path, path: str | os.PathLike[str], cwd: Path | None = None) -> str:
    """``path`` (as the user typed it) as a POSIX path relative to the workspace root."""
    given = Path(path)
    absolute = given if given.is_absolute() else (cwd or Path.cwd()) / given
    normal = Path(os.path.normpath(absolute))
    try:
        rel = normal.relative_to(root)
    except ValueError:
        raise PathError(str(path), "is outside the workspace") from None
    parts = rel.parts
    if not parts:
        raise PathError(str(path), "is the workspace root itself; name a file or folder in it")
    if parts[0] in (".git", ".lockstep"):
        raise PathError(str(path), f"is inside {parts[0]}/")
    return rel.as_posix()


def ignore_entry(root: Path, target: str) -> None:
    """List ``target`` in the ``.gitignore`` of its folder (``/name``), once."""
    folder, _, name = target.rpartition("/")
    gitignore = root / folder / ".gitignore" if folder else root / ".gitignore"
    line = "/" + _escape_pattern(name)
    text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    if line in text.splitlines():
        return
    if text and not text.endswith("\n"):
        text += "\n"
    fs.atomic_write_text(gitignore, text + line + "\n")


def _escape_pattern(name: str) -> str:
    """``name`` as a .gitignore pattern that matches it alone (no glob, no comment)."""
    escaped = "".join("\\" + c if c in "\\*?[" else c for c in name)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped
