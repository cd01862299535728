"""The client's half of running stages on workers that do not see the workspace.

Before a stage runs, its deps (and ``params.yaml``) are hashed, copied into the
cache when they are not there yet, and pushed to the artifact remote. After it
ran, its outputs are fetched from the remote and checked out into the
workspace, where the runner caches and records them as it does for a local run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from lockstep.errors import InputError, PathError, UnknownRemoteError
from lockstep.pipeline import params as params_mod
from lockstep.pipeline.executors.base import Job
from lockstep.pipeline.executors.remote_task import Artifact, RemoteSettings, artifact, to_pointer
from lockstep.pipeline.lockfile import out_pointer
from lockstep.store.build import snapshot
from lockstep.store.checkout import checkout
from lockstep.store.pointer import Pointer
from lockstep.store.remotes import Remote
from lockstep.store.transfer import fetch, push
from lockstep.store.workspace import Workspace

NO_REMOTE = (
    "dask workers that do not share this workspace's file system exchange data through "
    "a remote: add one with 'lockstep remote add NAME URL' "
    '(or set dask.shared_fs = "yes" in .lockstep/config.toml if they do share it)'
)


class Exchange:
    """Moves one run's stage inputs up to the remote and their outputs back down."""

    def __init__(self, ws: Workspace, remote: Remote) -> None:
        if remote.config is None:
            raise InputError(f"remote {remote.name}: its settings are unknown; {NO_REMOTE}")
        self.ws = ws
        self.remote = remote
        # parallel transfers, as for push and pull: the remote's setting, its default, the cache's
        self.jobs = remote.config.jobs or remote.default_jobs or ws.jobs
        self.settings = RemoteSettings(remote.name, remote.config, self.jobs)
        self._lock = threading.Lock()  # one transfer at a time: they share the remote

    @classmethod
    def open(cls, ws: Workspace, remote: Callable[[], Remote]) -> Exchange:
        try:
            opened = remote()
        except UnknownRemoteError as exc:
            raise InputError(NO_REMOTE) from exc
        try:
            return cls(ws, opened)
        except BaseException:
            opened.close()
            raise

    def close(self) -> None:
        self.remote.close()

    def upload(self, job: Job) -> tuple[Artifact, ...]:
        """Make sure the remote holds every object of the job's deps; what they are."""
        paths = list(job.deps)
        if (self.ws.root / params_mod.FILE).is_file() and params_mod.FILE not in paths:
            paths.append(params_mod.FILE)
        with self._lock:
            pointers = [self._cache(path) for path in paths]
            push(self.ws, self.remote, pointers, jobs=self.jobs).raise_for_failures("push")
        return tuple(artifact(p) for p in pointers)

    def _cache(self, path: str) -> Pointer:
        """Hash ``path`` and copy what the cache lacks into it (a copy: a hard link
        would make the user's own file read-only)."""
        snap = snapshot(self.ws.root, path, self.ws.state)
        if snap is None:
            raise PathError(path, "is a dependency of the stage but does not exist")
        store = self.ws.store
        new = [(f.abspath, f.digest, f.stat) for f in snap.files if not store.exists(f.digest)]
        store.adopt(new, "copy")
        if snap.kind == "dir":
            store.put_bytes(snap.tree.data)
        files = len(snap.files) if snap.kind == "dir" else None
        return out_pointer(path, snap.kind, snap.digest, snap.size, files)

    def download(self, outs: Sequence[Artifact]) -> None:
        """Fetch the outputs a worker pushed and put them in place in the workspace."""
        pointers = [to_pointer(item) for item in outs]
        with self._lock:
            fetch(self.ws, self.remote, pointers, jobs=self.jobs).raise_for_failures("fetch")
            checkout(self.ws, pointers, force=True)
        for pointer in pointers:
            if pointer.kind == "dir":  # an empty folder has no file to check out
                (self.ws.root / pointer.target).mkdir(parents=True, exist_ok=True)
