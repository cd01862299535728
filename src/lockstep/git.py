"""The Git adapter: everything lockstep asks Git goes through this module.

Git is driven through its command line. Failures become :class:`GitError`
(or :class:`InvalidRevisionError`) here, so no caller sees ``subprocess``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lockstep.errors import GitError, InvalidRevisionError, NotAGitRepositoryError


def _run(
    root: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=root,
            input=stdin,
            capture_output=True,
            check=False,
            env={**os.environ, **env} if env else None,
        )
    except FileNotFoundError as exc:
        raise GitError(args[0], "the git command is not installed") from exc
    if done.returncode != 0:
        problem = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(args[0], problem[-1] if problem else f"exit code {done.returncode}")
    return done.stdout


def _status(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run git and hand back its exit code and output, for callers that read both."""
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise GitError(args[0], "the git command is not installed") from exc


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


def has_changes(root: Path) -> bool:
    """True when anything differs from HEAD, untracked files included."""
    return bool(_run(root, "status", "--porcelain").strip())


def push_head(root: Path, remote: str) -> str:
    """Push the current branch to ``remote``; its name."""
    branch = _run(root, "rev-parse", "--abbrev-ref", "HEAD").decode().strip()
    if branch == "HEAD":
        raise GitError("push", "HEAD is not on a branch: check out a branch to push")
    _run(root, "push", "-q", remote, f"HEAD:refs/heads/{branch}")
    return branch


def commit_all(root: Path, message: str) -> bool:
    """Stage every change (as ``git add -A``) and commit it; False when nothing changed."""
    _run(root, "add", "-A")
    if not _run(root, "status", "--porcelain").strip():
        return False
    _run(root, "commit", "-q", "-m", message)
    return True


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


# --- tags (the model registry) ------------------------------------------------------

_TAG_FIELDS = (
    "%(refname:strip=2)",
    "%(objecttype)",
    "%(objectname)",
    "%(*objectname)",
    "%(taggername)",
    "%(taggeremail)",
    "%(taggerdate:unix)",
    "%(contents)",
)


@dataclass(frozen=True)
class TagRecord:
    """A tag as Git stores it; ``commit`` is the commit it points to."""

    name: str
    annotated: bool
    commit: str
    tagger: str | None
    time: float | None
    message: str


def tags(root: Path) -> list[TagRecord]:
    """Every tag of the repository, read in one ``git for-each-ref`` pass."""
    fmt = "%00".join(_TAG_FIELDS) + "%1e"
    out = _run(root, "for-each-ref", f"--format={fmt}", "refs/tags")
    records = []
    for chunk in out.decode("utf-8", "replace").split("\x1e"):
        fields = chunk.lstrip("\n").split("\x00")
        if len(fields) != len(_TAG_FIELDS):
            continue
        name, kind, obj, peeled, tagger, email, when, message = fields
        annotated = kind == "tag"
        records.append(
            TagRecord(
                name=name,
                annotated=annotated,
                commit=peeled if annotated else obj,
                tagger=f"{tagger} {email}".strip() if annotated else None,
                time=float(when) if when else None,
                message=message,
            )
        )
    return records


def create_tag(
    root: Path, name: str, message: str, commit: str = "HEAD", when: int | None = None
) -> None:
    """An annotated tag (dated ``when``, seconds since the epoch, if given); an
    existing tag of that name is an error, never replaced."""
    env = {"GIT_COMMITTER_DATE": f"@{when} +0000"} if when is not None else None
    _run(
        root, "tag", "-a", name, "-F", "-", f"{commit}^{{commit}}", stdin=message.encode(), env=env
    )


def delete_tag(root: Path, name: str) -> None:
    _run(root, "tag", "-d", name)


def remote_names(root: Path) -> list[str]:
    return _run(root, "remote").decode().split()


class TagPushRejectedError(GitError):
    """The remote refused a tag because one of that name exists there already."""

    def __init__(self, remote: str, tag: str, problem: str) -> None:
        super().__init__("push", f"{remote} refused {tag}: {problem}")
        self.remote = remote
        self.tag = tag


def push_tag(root: Path, remote: str, name: str) -> None:
    """Push one tag; a tag of that name already on the remote is never overwritten.

    The verdict is read from ``--porcelain`` output (a line starting with ``!`` is a
    rejected ref), which neither hints nor the locale change."""
    ref = f"refs/tags/{name}"
    done = _status(root, "push", "--porcelain", remote, f"{ref}:{ref}")
    if done.returncode == 0:
        return
    out = done.stdout.decode("utf-8", "replace")
    for line in out.splitlines():
        if line.startswith("!") and ref in line and "already exists" in line:
            raise TagPushRejectedError(remote, name, "a tag of that name exists there")
        if line.startswith("!") and ref in line:
            raise GitError("push", f"{remote} refused {name}: {line.rsplit(chr(9), 1)[-1]}")
    problem = done.stderr.decode("utf-8", "replace").strip().splitlines()
    raise GitError("push", problem[-1] if problem else f"exit code {done.returncode}")


class TagConflictError(GitError):
    """Local tags that the remote has under the same names with other contents."""

    def __init__(self, remote: str, names: list[str]) -> None:
        shown = ", ".join(names[:5]) + ("" if len(names) <= 5 else f" and {len(names) - 5} more")
        super().__init__(
            "fetch",
            f"{remote} has other tags under the names {shown}; a promotion made here "
            f"lost a race: remove the local tag(s) with 'git tag -d' and run again",
        )
        self.remote = remote
        self.names = names


def fetch_tags(root: Path, remote: str, wanted: Callable[[str], bool] = lambda _: True) -> None:
    """Bring the remote's tags whose names ``wanted`` accepts. A local tag the remote
    has with other contents (a lost race) is never overwritten: TagConflictError
    names it."""
    theirs = {n: oid for n, oid in _remote_tags(root, remote).items() if wanted(n)}
    ours = {t.name: t.oid for t in _local_tag_oids(root)}
    clash = sorted(n for n, oid in theirs.items() if n in ours and ours[n] != oid)
    if clash:
        raise TagConflictError(remote, clash)
    missing = [f"refs/tags/{n}:refs/tags/{n}" for n in sorted(theirs) if n not in ours]
    for start in range(0, len(missing), 500):
        _run(root, "fetch", "--quiet", "--no-tags", remote, *missing[start : start + 500])


@dataclass(frozen=True)
class _TagOid:
    name: str
    oid: str


def _remote_tags(root: Path, remote: str) -> dict[str, str]:
    out = _run(root, "ls-remote", "--tags", remote).decode("utf-8", "replace")
    found = {}
    for line in out.splitlines():
        oid, _, ref = line.partition("\t")
        if ref.startswith("refs/tags/") and not ref.endswith("^{}"):
            found[ref.removeprefix("refs/tags/")] = oid
    return found


def _local_tag_oids(root: Path) -> list[_TagOid]:
    out = _run(root, "for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/tags")
    pairs = [line.rsplit(" ", 1) for line in out.decode("utf-8", "replace").splitlines()]
    return [_TagOid(name, oid) for name, oid in pairs]


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    time: float
    subject: str
    body: str


def log(root: Path, revisions: str) -> list[Commit]:
    """Commits of ``revisions`` (e.g. ``A..B``), newest first."""
    fmt = "%H%x00%an <%ae>%x00%at%x00%s%x00%b%x1e"
    out = _run(root, "log", f"--format={fmt}", revisions, "--")
    commits = []
    for chunk in out.decode("utf-8", "replace").split("\x1e"):
        fields = chunk.lstrip("\n").split("\x00")
        if len(fields) == 5:
            sha, author, when, subject, body = fields
            commits.append(Commit(sha, author, float(when), subject, body.strip()))
    return commits


def changed_since(root: Path, commit: str, path: str) -> bool:
    """True when ``path`` differs between ``commit`` and the work tree or index."""
    out = _run(root, "status", "--porcelain", "--", path)
    if out.strip():
        return True
    return bool(_run(root, "diff", "--name-only", commit, "--", path).strip())


def remote_url(root: Path, name: str = "origin") -> str | None:
    """The URL of the remote ``name``, or None when there is no such remote."""
    done = _status(root, "config", "--get", f"remote.{name}.url")
    url = done.stdout.decode("utf-8", "replace").strip()
    return url if done.returncode == 0 and url else None
