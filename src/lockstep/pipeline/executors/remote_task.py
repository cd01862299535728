"""What a Dask worker runs for one stage.

With the workspace on a shared file system the worker runs the stage's
commands in it, as the local executor does. Without it, the worker works in a
scratch folder of its own::

    <worker local directory>/lockstep-stage-<random>/
        workspace/      the stage's deps, checked out; the commands run here
        cache/          a private object cache: deps fetched from the artifact
                        remote, outputs cached before they are pushed to it

The deps come from the remote (verified on arrival), the outputs go back to it,
and the folder is removed when the task ends, whatever happened.

Everything these functions take and return is picklable: a :class:`Job`, the
remote's settings and ``(path, kind, digest, size, files)`` tuples. A lockstep
error on the worker comes back as :attr:`TaskResult.error` (a string), never as
a pickled exception.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lockstep.config import RemoteConfig
from lockstep.errors import LockstepError
from lockstep.pipeline.executors.base import Job, Outcome, ProcessGroup, run_commands
from lockstep.pipeline.lockfile import out_pointer
from lockstep.pipeline.outputs import clear
from lockstep.store.add import cache_snapshot
from lockstep.store.build import snapshot
from lockstep.store.checkout import checkout
from lockstep.store.pointer import Pointer
from lockstep.store.remotes import Remote, open_remote
from lockstep.store.transfer import fetch, push
from lockstep.store.workspace import Workspace

# a dep or an output on its way to or from a worker: (path, kind, digest, size, files)
Artifact = tuple[str, str, str, int, int | None]
SCRATCH_PREFIX = "lockstep-stage-"


@dataclass(frozen=True)
class RemoteSettings:
    """How a worker opens the artifact remote (the config may hold credentials:
    its repr never shows them)."""

    name: str
    config: RemoteConfig
    jobs: int


@dataclass(frozen=True)
class TaskResult:
    outcome: Outcome
    outs: tuple[Artifact, ...] = ()  # what the worker pushed (scratch folder runs only)
    error: str | None = None  # a lockstep error on the worker, before or after the commands


def artifact(pointer: Pointer) -> Artifact:
    return (pointer.target, pointer.kind, pointer.digest, pointer.size, pointer.files)


def to_pointer(item: Artifact) -> Pointer:
    return out_pointer(*item)


# --- stopping: the stages each executor runs in this worker process ---------------------
# ``Client.run`` calls stop_stages in each worker process with only the executor's token,
# so the running stages are found through this process-wide registry.

_LOCK = threading.Lock()
_GROUPS: dict[str, set[ProcessGroup]] = {}
_STOPPED: set[str] = set()


@contextlib.contextmanager
def _group(token: str) -> Iterator[ProcessGroup]:
    """The stage's processes, registered so that :func:`stop_stages` can end them."""
    group = ProcessGroup()
    with _LOCK:
        group.stopped = token in _STOPPED
        _GROUPS.setdefault(token, set()).add(group)
    try:
        yield group
    finally:
        with _LOCK:
            _GROUPS[token].discard(group)
            if not _GROUPS[token]:
                del _GROUPS[token]


def stop_stages(token: str) -> int:
    """End the stages of executor ``token`` here, and any it starts later; how many ran."""
    with _LOCK:
        _STOPPED.add(token)
        groups = list(_GROUPS.get(token, ()))
    for group in groups:
        group.stop()
    return len(groups)


# --- tasks ------------------------------------------------------------------------------


def probe(path: str, token: str) -> bool:
    """True when this worker sees the file ``path`` holding ``token`` (a shared file system)."""
    try:
        return Path(path).read_text(encoding="utf-8") == token
    except OSError:
        return False


def run_shared(job: Job, token: str) -> TaskResult:
    """Run the stage in the workspace itself (the worker shares its file system)."""
    with _group(token) as group:
        return TaskResult(run_commands(job, job.root, None, group))


def run_isolated(
    job: Job, deps: Sequence[Artifact], settings: RemoteSettings, token: str
) -> TaskResult:
    """Run the stage in a scratch folder: deps from the remote, outputs back to it."""
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=_scratch_root()))
    try:
        return _run_in(scratch, job, deps, settings, token)
    except LockstepError as exc:
        return TaskResult(Outcome(job.stage, 1, str(exc), 0.0), (), str(exc))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _scratch_root() -> str | None:
    """The worker's local directory (Dask removes it with the worker); else the temp dir."""
    try:
        from distributed import get_worker

        return str(get_worker().local_directory)
    except (ImportError, ValueError):
        return None


def _run_in(
    scratch: Path, job: Job, deps: Sequence[Artifact], settings: RemoteSettings, token: str
) -> TaskResult:
    ws = Workspace.at(scratch / "workspace", scratch / "cache", jobs=settings.jobs)
    remote = open_remote(settings.name, settings.config)
    try:
        pointers = [to_pointer(item) for item in deps]
        fetch(ws, remote, pointers, jobs=settings.jobs).raise_for_failures("fetch")
        checkout(ws, pointers, force=True)
        clear(ws.root, job.outs)
        with _group(token) as group:
            outcome = run_commands(job, str(ws.root), None, group)
        outs = _send_outputs(ws, remote, job.outs, settings.jobs) if outcome.ok else ()
        return TaskResult(outcome, outs)
    finally:
        remote.close()
        ws.close()


def _send_outputs(
    ws: Workspace, remote: Remote, outs: Sequence[str], jobs: int
) -> tuple[Artifact, ...]:
    """Cache and push the outputs the stage wrote (a missing one is reported by the
    client, which will not find it in the workspace)."""
    pointers = []
    for out in outs:
        snap = snapshot(ws.root, out, ws.state)
        if snap is None:
            continue
        cache_snapshot(ws, snap)
        files = len(snap.files) if snap.kind == "dir" else None
        pointers.append(out_pointer(out, snap.kind, snap.digest, snap.size, files))
    push(ws, remote, pointers, jobs=jobs).raise_for_failures("push")
    return tuple(artifact(p) for p in pointers)
