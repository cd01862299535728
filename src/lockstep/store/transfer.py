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
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from lockstep import fs
from lockstep.errors import (
    CorruptObjectError,
    LockstepError,
    MissingObjectsError,
    RemoteError,
    TransferError,
)
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

    def raise_for_failures(self, action: str) -> None:
        """Raise what went wrong: the one remote error all failures share, or a summary."""
        if not self.failed:
            return
        errors = list(self.failed.values())
        if isinstance(errors[0], RemoteError) and len({str(e) for e in errors}) == 1:
            raise errors[0]
        raise TransferError(action, {d: str(e) for d, e in self.failed.items()})

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
    sizes = {d: os.path.getsize(ws.store.path(d)) for d in todo}

    def send(batch: list[str]) -> dict[str, LockstepError]:
        return remote.upload_many([(d, ws.store.path(d), sizes[d]) for d in batch])

    jobs = jobs or ws.jobs
    # children first, trees last: a tree on the remote means its files are there too
    files = _batches(sorted(todo - trees), sizes)
    _parallel(send, files, jobs, result, progress=progress, label="Pushing")
    if not result.failed:
        _parallel(
            send,
            _batches(sorted(todo & trees), sizes),
            jobs,
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

    def get(batch: list[str]) -> dict[str, LockstepError]:
        return download_many(ws, remote, batch)

    _parallel(
        get,
        _batches(sorted(missing_trees)),
        jobs,
        result,
        progress=progress,
        label="Fetching trees",
    )
    needed = ws.objects_of(p for p in pointers if p.digest not in result.failed)
    todo = ws.store.missing(needed)
    result.skipped = len(needed - todo - result.transferred)
    _parallel(get, _batches(sorted(todo)), jobs, result, progress=progress, label="Fetching")
    return result


def download_many(ws: Workspace, remote: Remote, digests: list[str]) -> dict[str, LockstepError]:
    """Fetch a batch into the cache: verify each, sync the file system once, rename each."""
    failed: dict[str, LockstepError] = {}
    done: list[tuple[str, Path, Path]] = []
    for digest in digests:
        try:
            partial, target = _download(ws, remote, digest)
            done.append((digest, partial, target))
        except LockstepError as exc:
            failed[digest] = exc
    if done:
        fs.sync_filesystem(ws.store.blobs)
    verified = {}
    for digest, partial, target in done:
        os.replace(partial, target)
        verified[digest] = stat_key(os.stat(target))
    ws.state.mark_verified(verified)
    return failed


def _download(ws: Workspace, remote: Remote, digest: str) -> tuple[Path, Path]:
    """Complete ``<digest>.incomplete``, resuming once; return it (verified) and its target."""
    target = ws.store.path(digest)
    partial = target.with_name(target.name + INCOMPLETE)
    target.parent.mkdir(parents=True, exist_ok=True)
    for attempt in (1, 2):
        actual = _append(remote, digest, partial)
        if actual == digest:
            os.chmod(partial, 0o444)
            return partial, target
        partial.unlink()
        if attempt == 2:
            break
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
    return hasher.hexdigest()


def _batches(
    digests: list[str], sizes: dict[str, int] | None = None, count: int = 256, size: int = 64 << 20
) -> list[list[str]]:
    """Group digests so each batch holds at most ``count`` objects or ``size`` bytes."""
    out: list[list[str]] = []
    batch: list[str] = []
    total = 0
    for digest in digests:
        weight = sizes.get(digest, 0) if sizes else 0
        if batch and (len(batch) >= count or total + weight > size):
            out.append(batch)
            batch, total = [], 0
        batch.append(digest)
        total += weight
    if batch:
        out.append(batch)
    return out


def _parallel(
    work: Callable[[list[str]], dict[str, LockstepError]],
    batches: list[list[str]],
    jobs: int,
    result: TransferResult,
    *,
    progress: Progress | None,
    label: str,
) -> None:
    if not batches:
        return
    progress = progress or NullProgress()
    progress.start(label, sum(len(b) for b in batches), unit="objects")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(work, batch): batch for batch in batches}
        for future in as_completed(futures):
            batch = futures[future]
            try:
                failed = future.result()
            except LockstepError as exc:
                failed = dict.fromkeys(batch, exc)
            result.failed.update(failed)
            result.transferred.update(d for d in batch if d not in failed)
            progress.advance(len(batch))
    progress.finish()
