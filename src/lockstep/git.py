"""The Git adapter: everything lockstep asks Git goes through this module.

Git is driven through its command line. Failures become :class:`GitError`
(or :class:`InvalidRevisionError`) here, so no caller sees ``subprocess``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from lockstep.errors import GitError, InvalidRevisionError, NotAGitRepositoryError


def _run(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, input=stdin, capture_output=True, check=False
        )
    except FileNotFoundError as exc:
        raise GitError(args[0], "the git command is not installed") from exc
    if done.returncode != 0:
        problem = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(args[0], problem[-1] if problem else f"exit code {done.returncode}")
    return done.stdout


def find_root(start: Path) -> Path:
    """The top of the Git work tree that contains ``start``."""
    try:
        out = _run(start, "rev-parse", "--show-toplevel")
    except GitError as exc:
        raise NotAGitRepositoryError(str(start)) from exc
    return Path(out.decode().strip())


def resolve(root: Path, rev: str) -> str:
    """The commit id ``rev`` names."""
    try:
        return _run(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
    except GitError as exc:
        raise InvalidRevisionError(rev) from exc


def has_commits(root: Path) -> bool:
    try:
        _run(root, "rev-parse", "--verify", "--quiet", "HEAD")
    except GitError:
        return False
    return True


def files_at(root: Path, rev: str, suffix: str) -> dict[str, str]:
    """Paths (relative to the work tree) ending in ``suffix`` at ``rev``, to blob ids."""
    commit = resolve(root, rev)
    out = _run(root, "ls-tree", "-r", "-z", "--full-tree", commit)
    found: dict[str, str] = {}
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        parts = meta.split()
        name = path.decode("utf-8", "surrogateescape")
        if len(parts) == 3 and parts[1] == b"blob" and name.endswith(suffix):
            found[name] = parts[2].decode()
    return found


def read_blobs(root: Path, blob_ids: Iterable[str]) -> dict[str, bytes]:
    """Contents of many blobs in one ``git cat-file --batch`` call."""
    ids = list(dict.fromkeys(blob_ids))
    if not ids:
        return {}
    out = _run(root, "cat-file", "--batch", stdin=("\n".join(ids) + "\n").encode())
    return dict(_parse_batch(out))


def _parse_batch(out: bytes) -> Iterator[tuple[str, bytes]]:
    pos = 0
    while pos < len(out):
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        yield header[0].decode(), out[pos : pos + size]
        pos += size + 1


def all_blobs_with_suffix(root: Path, suffix: str) -> dict[str, str]:
    """Every blob reachable from any ref whose path ends in ``suffix`` (a file named
    just ``suffix`` does not count): blob id to a path."""
    return _all_blobs(root, lambda path: path.endswith(suffix) and _name(path) != suffix)


def all_blobs_named(root: Path, name: str) -> dict[str, str]:
    """Every blob reachable from any ref whose file name is ``name``: blob id to a path."""
    return _all_blobs(root, lambda path: _name(path) == name)


def _name(path: str) -> str:
    return path.rpartition("/")[2]


def _all_blobs(root: Path, wanted: Callable[[str], bool]) -> dict[str, str]:
    if not has_commits(root):
        return {}
    out = _run(root, "rev-list", "--objects", "--all")
    found: dict[str, str] = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        oid, _, path = line.partition(" ")
        if path and wanted(path):
            found.setdefault(oid, path)
    if not found:
        return {}
    check = _run(root, "cat-file", "--batch-check", stdin=("\n".join(found) + "\n").encode())
    blobs = {line.split()[0] for line in check.decode().splitlines() if " blob " in line}
    return {oid: path for oid, path in found.items() if oid in blobs}


def list_files(root: Path, pattern: str) -> list[str]:
    """Tracked and untracked, not ignored, files matching ``pattern`` (workspace-relative)."""
    out = _run(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", pattern)
    names = {n.decode("utf-8", "surrogateescape") for n in out.split(b"\0") if n}
    return sorted(names)


def tracked(root: Path, paths: Iterable[str]) -> list[str]:
    """Which of ``paths`` (or files below them) Git tracks."""
    wanted = list(paths)
    if not wanted:
        return []
    out = _run(root, "ls-files", "-z", "--cached", "--", *wanted)
    return sorted({n.decode("utf-8", "surrogateescape") for n in out.split(b"\0") if n})


def head(root: Path) -> str | None:
    """The commit HEAD points to, or None before the first commit."""
    try:
        return _run(root, "rev-parse", "--verify", "--quiet", "HEAD").decode().strip()
    except GitError:
        return None


def is_dirty(root: Path) -> bool:
    """True when tracked files differ from HEAD (untracked files do not count)."""
    return bool(_run(root, "status", "--porcelain", "--untracked-files=no").strip())


def identity(root: Path) -> str | None:
    """``Name <email>`` as Git would author a commit now (GIT_AUTHOR_* variables,
    then the configuration), or None when Git has no identity."""
    try:
        ident = _run(root, "var", "GIT_AUTHOR_IDENT").decode().strip()
    except GitError:
        return None
    name_email, _, _ = ident.rpartition(">")
    return name_email + ">" if name_email else None


def read_file_at(root: Path, rev: str, path: str) -> bytes | None:
    """The content of ``path`` at ``rev``, or None when it does not exist there."""
    commit = resolve(root, rev)
    try:
        return _run(root, "show", f"{commit}:{path}")
    except GitError:
        return None
