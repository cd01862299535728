"""``export``: copy a cached file or folder, by digest, to a path outside the
workspace (for gates, evaluation and serving); objects are verified first."""

from __future__ import annotations

from pathlib import Path

from lockstep import fs
from lockstep.errors import CorruptObjectError, MissingObjectsError
from lockstep.store.workspace import Workspace

_TREE_START = b'{"entries":['


def export(ws: Workspace, digest: str, kind: str, dest: Path) -> str:
    """Write object ``digest`` at ``dest`` (kind ``file``, ``dir``, or ``auto`` to tell
    from the object); the kind written. ``dest`` must not exist."""
    if kind == "auto":
        kind = "dir" if _looks_like_tree(ws, digest) else "file"
    if kind == "file":
        _check(ws, {digest: dest.name})
        dest.parent.mkdir(parents=True, exist_ok=True)
        fs.copy_file(ws.store.path(digest), dest, sync=False)
        return kind
    tree = ws.tree(digest)
    if tree is None:
        raise MissingObjectsError([digest], "the cache", [dest.name])
    _check(ws, {e.digest: e.path for e in tree.entries})
    for entry in tree.entries:
        target = dest / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = 0o755 if entry.mode == "0755" else 0o644
        fs.copy_file(ws.store.path(entry.digest), target, sync=False, mode=mode)
    return kind


def _looks_like_tree(ws: Workspace, digest: str) -> bool:
    try:
        with open(ws.store.path(digest), "rb") as handle:
            return handle.read(len(_TREE_START)) == _TREE_START
    except FileNotFoundError:
        raise MissingObjectsError([digest], "the cache") from None


def _check(ws: Workspace, named: dict[str, str]) -> None:
    result = ws.store.verify(named)
    if result.missing:
        missing = sorted(result.missing)
        raise MissingObjectsError(missing, "the cache", [named[d] for d in missing])
    if result.corrupt:
        digest, actual = sorted(result.corrupt.items())[0]
        raise CorruptObjectError(digest, "the cache", actual, named[digest])
