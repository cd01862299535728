"""``push`` and ``fetch``: move only missing objects, in parallel, verified.

A push verifies every object before it leaves the cache and never sends a
corrupt one. A fetch writes each object to ``<digest>.incomplete`` beside its
final place, resumes from what is already there, checks the digest of the
whole file and only then renames it into the cache; a killed fetch leaves no
corrupt object, and the next one finishes the job.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from lockstep import fs
from lockstep.errors import CorruptObjectError, LockstepError, MissingObjectsError
from lockstep.store.cas import INCOMPLETE
from lockstep.store.hashing import CHUNK
from lockstep.store.pointer import Pointer
from lockstep.store.remotes.base import Remote
from lockstep.store.state import stat_key
from lockstep.store.workspace import Workspace, paths_by_digest
from lockstep.types import NullProgress, Progress


@dataclass
class TransferResult:
    transferred: set[str] = field(default_factory=set)
    skipped: int = 0  # already where they had to go
    failed: dict[str, LockstepError] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "transferred": len(self.transferred),
            "skipped": self.skipped,
            "failed": {f"sha256:{d}": str(e) for d, e in sorted(self.failed.items())},
        }


def push(
    ws: Workspace,
    remote: Remote,
    pointers: Iterable[Pointer],
    *,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> TransferResult:
    """Upload the objects of ``pointers`` the remote lacks."""
    pointers = list(pointers)
    needed = ws.objects_of(pointers)
    check = ws.store.verify(needed)
    if check.missing or check.corrupt:
        names = paths_by_digest(ws, pointers)
        if check.corrupt:
            digest, actual = min(check.corrupt.items())
            raise CorruptObjectError(digest, "the cache", actual, names.get(digest))
        missing = sorted(check.missing)
        raise MissingObjectsError(missing, "the cache", [names.get(d, d) for d in missing])
    todo = needed - remote.present(needed)
    trees = {p.digest for p in pointers if p.kind == "dir"}
    result = TransferResult(skipped=len(needed) - len(todo))

    def send(digest: str) -> None:
        path = ws.store.path(digest)
        remote.upload(digest, path, os.path.getsize(path))

    # children first, trees last: a tree on the remote means its files are there too
    _parallel(
        send, sorted(todo - trees), jobs or ws.jobs, result, progress=progress, label="Pushing"
    )
    if not result.failed:
        _parallel(
            send,
            sorted(todo & trees),
            jobs or ws.jobs,
            result,
            progress=progress,
            label="Pushing trees",
        )
        remote.commit(needed)
    return result


def fetch(
    ws: Workspace,
    remote: Remote,
    pointers: Iterable[Pointer],
    *,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> TransferResult:
    """Download into the cache the objects of ``pointers`` it lacks."""
    pointers = list(pointers)
    jobs = jobs or ws.jobs
    result = TransferResult()
    trees = {p.digest for p in pointers if p.kind == "dir"}
    missing_trees = ws.store.missing(trees)
    _parallel(
        lambda d: download(ws, remote, d),
        sorted(missing_trees),
        jobs,
        result,
        progress=progress,
        label="Fetching trees",
    )
    needed = ws.objects_of(p for p in pointers if p.digest not in result.failed)
    todo = ws.store.missing(needed)
    result.skipped = len(needed) - len(todo) - len(missing_trees - set(result.failed))
    _parallel(
        lambda d: download(ws, remote, d),
        sorted(todo),
        jobs,
        result,
        progress=progress,
        label="Fetching",
    )
    return result


def download(ws: Workspace, remote: Remote, digest: str) -> None:
    """Fetch one object into the cache, resuming a partial download once."""
    target = ws.store.path(digest)
    partial = target.with_name(target.name + INCOMPLETE)
    target.parent.mkdir(parents=True, exist_ok=True)
    for attempt in (1, 2):
        actual = _append(remote, digest, partial)
        if actual == digest:
            os.chmod(partial, 0o444)
            os.replace(partial, target)
            fs.fsync_dir(target.parent)
            ws.state.mark_verified({digest: stat_key(os.stat(target))})
            return
        partial.unlink()
        if attempt == 2:
            raise CorruptObjectError(digest, f"remote {remote.name}", actual)


def _append(remote: Remote, digest: str, partial: os.PathLike[str]) -> str:
    """Complete ``partial`` from the remote; return the digest of the whole file."""
    hasher = hashlib.sha256()
    offset = 0
    with contextlib.suppress(FileNotFoundError), open(partial, "rb") as done:
        while block := done.read(CHUNK):
            hasher.update(block)
            offset += len(block)
    with open(partial, "ab") as out:
        for block in remote.download(digest, offset):
            hasher.update(block)
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    return hasher.hexdigest()


def _parallel(
    work: Callable[[str], None],
    digests: Collection[str],
    jobs: int,
    result: TransferResult,
    *,
    progress: Progress | None,
    label: str,
) -> None:
    if not digests:
        return
    progress = progress or NullProgress()
    progress.start(label, len(digests), unit="objects")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(work, d): d for d in digests}
        for future in as_completed(futures):
            digest = futures[future]
            try:
                future.result()
                result.transferred.add(digest)
            except LockstepError as exc:
                result.failed[digest] = exc
            progress.advance()
    progress.finish()
