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
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
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
from lockstep.store.state import Stat, stat_key
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
    sizes = check.sizes

    def send(batch: list[str]) -> dict[str, LockstepError]:
        return remote.upload_many([(d, Path(ws.store.file(d)), sizes[d]) for d in batch])

    # children first, trees last: a tree on the remote means its files are there too
    phases = [("Pushing", sorted(todo - trees)), ("Pushing trees", sorted(todo & trees))]
    with ThreadPoolExecutor(max_workers=jobs or ws.jobs) as pool:
        runner = _Runner(pool, result, progress or NullProgress())
        for label, digests in phases:
            if not result.failed:
                runner.run(send, remote.publish, digests, sizes, label)
    if not result.failed:
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
    """Download into the cache the objects of ``pointers`` it lacks.

    Each object is written to ``<digest>.incomplete``, verified whole, and
    renamed into the cache only after a file-system sync (one per round).
    """
    pointers = list(pointers)
    result = TransferResult()
    staged = fs.Staged(ws.store.blobs)
    verified: dict[str, Stat] = {}

    def get(batch: list[str]) -> dict[str, LockstepError]:
        failed: dict[str, LockstepError] = {}
        for digest in batch:
            try:
                partial, target, stat = _download(ws, remote, digest)
            except LockstepError as exc:
                failed[digest] = exc
                continue
            verified[digest] = stat
            staged.add(partial, target)
        return failed

    def publish() -> None:
        staged.publish()
        ws.state.mark_verified(verified)
        verified.clear()

    trees = ws.store.missing(p.digest for p in pointers if p.kind == "dir")
    with ThreadPoolExecutor(max_workers=jobs or ws.jobs) as pool:
        runner = _Runner(pool, result, progress or NullProgress())
        runner.run(get, publish, sorted(trees), {}, "Fetching trees")
        needed = ws.objects_of(p for p in pointers if p.digest not in result.failed)
        todo = ws.store.missing(needed)
        result.skipped = len(needed - todo - result.transferred)
        runner.run(get, publish, sorted(todo), {}, "Fetching")
    return result


def _download(ws: Workspace, remote: Remote, digest: str) -> tuple[str, str, Stat]:
    """Complete ``<digest>.incomplete``, resuming once; return it (verified, read-only),
    its target and its stat."""
    target = ws.store.file(digest)
    partial = target + INCOMPLETE
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.chmod(partial, 0o644)  # verified but never published by an interrupted run
    for _ in range(2):
        actual = _append(remote, digest, partial)
        if actual == digest:
            os.chmod(partial, 0o444)
            return partial, target, stat_key(os.stat(partial))
        os.unlink(partial)  # a bad resume or a bad remote: once more from the start
    raise CorruptObjectError(digest, f"remote {remote.name}", actual)


def _append(remote: Remote, digest: str, partial: str) -> str:
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


ROUND_OBJECTS = 8192  # objects made durable together by one file-system sync
ROUND_BYTES = 1 << 30
BATCH_OBJECTS = 128  # objects one thread handles per task
BATCH_BYTES = 64 << 20


def _group(digests: list[str], sizes: dict[str, int], count: int, size: int) -> list[list[str]]:
    """Consecutive groups of at most ``count`` objects or ``size`` bytes."""
    out: list[list[str]] = []
    group: list[str] = []
    total = 0
    for digest in digests:
        weight = sizes.get(digest, 0)
        if group and (len(group) >= count or total + weight > size):
            out.append(group)
            group, total = [], 0
        group.append(digest)
        total += weight
    if group:
        out.append(group)
    return out


@dataclass
class _Runner:
    """Runs transfer work over batches in parallel, publishing after each round."""

    pool: ThreadPoolExecutor
    result: TransferResult
    progress: Progress

    def run(
        self,
        work: Callable[[list[str]], dict[str, LockstepError]],
        publish: Callable[[], None],
        digests: list[str],
        sizes: dict[str, int],
        label: str,
    ) -> None:
        """Each round's objects are published (a sync, then renames) on a thread of its
        own while the next round's are written: a publish takes every object staged so
        far, each fully written before it was staged, so none is revealed early."""
        if not digests:
            return
        self.progress.start(label, len(digests), unit="objects")
        with ThreadPoolExecutor(max_workers=1) as publisher:
            pending: tuple[Future[None], list[str]] | None = None
            for round_ in _group(digests, sizes, ROUND_OBJECTS, ROUND_BYTES):
                done = self._round(work, _group(round_, sizes, BATCH_OBJECTS, BATCH_BYTES))
                if pending is not None and not self._settle(*pending):
                    break
                pending = (publisher.submit(publish), done)
            else:
                if pending is not None:
                    self._settle(*pending)
        self.progress.finish()

    def _settle(self, published: Future[None], done: list[str]) -> bool:
        """Wait for a round's publish; False when it failed."""
        try:
            published.result()
        except LockstepError as exc:
            self.result.failed.update(dict.fromkeys(done, exc))
            return False
        self.result.transferred.update(done)
        return True

    def _round(
        self, work: Callable[[list[str]], dict[str, LockstepError]], batches: list[list[str]]
    ) -> list[str]:
        futures = {self.pool.submit(work, batch): batch for batch in batches}
        done: list[str] = []
        for future in as_completed(futures):
            batch = futures[future]
            try:
                failed = future.result()
            except LockstepError as exc:
                failed = dict.fromkeys(batch, exc)
            self.result.failed.update(failed)
            done.extend(d for d in batch if d not in failed)
            self.progress.advance(len(batch))
        return done
