"""The facade: a lockstep workspace built from its configuration.

The shells (CLI, server, dashboard) talk to :class:`Project`; it reads the
configuration, finds pointer files through Git and hands values to the store.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from lockstep import config as cfg
from lockstep import fs, git
from lockstep.errors import (
    InputError,
    NotInitializedError,
    PathError,
    PointerError,
    UnknownRemoteError,
)
from lockstep.store import pointer as pointers_mod
from lockstep.store.pointer import SUFFIX, Pointer
from lockstep.store.workspace import Workspace, relative_target
from lockstep.types import Progress

# Each command imports only the store modules it runs, so the CLI starts fast.
if TYPE_CHECKING:
    from lockstep.pipeline.dag import Pipeline
    from lockstep.pipeline.executors import Executor, OutputSink
    from lockstep.pipeline.lockfile import LockFile
    from lockstep.pipeline.run import Listener, RunOptions, RunReport
    from lockstep.project.deploy import Deployments
    from lockstep.project.models import Models
    from lockstep.project.monitor import Monitoring
    from lockstep.project.package import Package
    from lockstep.project.trust import Trust
    from lockstep.store.checkout import CheckoutResult
    from lockstep.store.diff import Change
    from lockstep.store.gc import GCResult
    from lockstep.store.remotes import Remote
    from lockstep.store.status import PathStatus
    from lockstep.store.transfer import TransferResult

LOCKSTEP_GITIGNORE = """\
# lockstep: everything here is local except the shared config
/*
!/.gitignore
!/config.toml
!/trusted-keys/
"""
PROJECT_TEMPLATE = """\
# lockstep project file: pipeline stages, models and environments live here.
version: 1
"""


@dataclass(frozen=True)
class PullResult:
    fetched: TransferResult
    checkout: CheckoutResult


class Project:
    def __init__(
        self,
        root: Path,
        config: cfg.Config,
        cwd: Path | None = None,
        project_file: cfg.ProjectFile | None = None,
    ) -> None:
        self.root = root
        self.config = config
        self.project_file = project_file or cfg.ProjectFile()
        self.cwd = cwd or Path.cwd()
        self.ws = Workspace.at(
            root, root / cfg.DIR / "cache", link=config.cache.link, jobs=config.cache.jobs
        )

    # --- life cycle --------------------------------------------------------------

    @classmethod
    def init(cls, path: Path) -> tuple[Project, bool]:
        """Make the Git work tree containing ``path`` a workspace; (project, created)."""
        root = git.find_root(path)
        created = not (root / cfg.PROJECT_FILE).exists()
        if created:
            fs.atomic_write_text(root / cfg.PROJECT_FILE, PROJECT_TEMPLATE)
        (root / cfg.DIR / "cache").mkdir(parents=True, exist_ok=True)
        ignore = root / cfg.DIR / ".gitignore"
        if not ignore.exists():
            fs.atomic_write_text(ignore, LOCKSTEP_GITIGNORE)
        shared = root / cfg.DIR / cfg.SHARED_CONFIG
        if not shared.exists():
            fs.atomic_write_text(shared, "")
        return cls.open(path), created

    @classmethod
    def open(cls, path: Path | None = None) -> Project:
        start = path or Path.cwd()
        root = git.find_root(start)
        if not (root / cfg.PROJECT_FILE).exists():
            raise NotInitializedError(str(root))
        project_file = cfg.load_project_file(root)
        return cls(root, cfg.load_config(root), cwd=start, project_file=project_file)

    def close(self) -> None:
        self.ws.close()

    # --- pointers ------------------------------------------------------------------

    def pointers(self, paths: Sequence[str] = ()) -> list[Pointer]:
        """Pointers in the workspace, or those for ``paths`` (data paths, pointer
        files, or folders holding pointers)."""
        found = [self._read_pointer(loc) for loc in git.list_files(self.root, f"*{SUFFIX}")]
        found += self.lock().outs()
        if not paths:
            return found
        chosen: dict[str, Pointer] = {}
        for path in paths:
            target = relative_target(self.root, path, self.cwd).removesuffix(SUFFIX)
            hits = [p for p in found if _covers(target, p.target) or _covers(p.target, target)]
            if not hits:
                raise PathError(path, "is not tracked by lockstep (no pointer file)")
            chosen.update((p.target, p) for p in hits)
        return list(chosen.values())

    def _read_pointer(self, location: str) -> Pointer:
        try:
            text = (self.root / location).read_bytes()
        except OSError as exc:
            raise PointerError(location, None, f"cannot be read ({exc.strerror})") from exc
        return pointers_mod.loads(text, location)

    def pointers_at(self, rev: str) -> list[Pointer]:
        blobs = git.files_at(self.root, rev, SUFFIX)
        data = git.read_blobs(self.root, blobs.values())
        found = [pointers_mod.loads(data[oid], loc, f"{rev}:{loc}") for loc, oid in blobs.items()]
        return found + self.lock_at(rev).outs()

    # --- data ----------------------------------------------------------------------

    def add(self, paths: Sequence[str], progress: Progress | None = None) -> list[Pointer]:
        tracked = self.pointers()
        targets = [self._addable(path, tracked) for path in paths]
        in_git = git.tracked(self.root, targets)
        if in_git:
            raise PathError(in_git[0], "is tracked by Git; run 'git rm -r --cached' on it first")
        from lockstep.store.add import add

        return add(self.ws, targets, progress)

    def _addable(self, path: str, tracked: list[Pointer]) -> str:
        target = relative_target(self.root, path, self.cwd)
        if target.endswith(SUFFIX):
            raise PathError(path, "is a pointer file; add the data path it points to")
        if target in (cfg.PROJECT_FILE, ".gitignore"):
            raise PathError(path, "is a lockstep or Git file and cannot be tracked as data")
        for p in tracked:
            if p.target != target and (_covers(p.target, target) or _covers(target, p.target)):
                raise PathError(path, f"overlaps the tracked path {p.target}")
        if not os.path.lexists(self.root / target):
            raise PathError(path, "does not exist")
        return target

    def status(
        self, paths: Sequence[str] = (), progress: Progress | None = None
    ) -> list[PathStatus]:
        from lockstep.store.status import status

        return status(self.ws, self.pointers(paths), progress)

    def checkout(
        self, paths: Sequence[str] = (), *, force: bool = False, progress: Progress | None = None
    ) -> CheckoutResult:
        from lockstep.store.checkout import checkout

        return checkout(self.ws, self.pointers(paths), force=force, progress=progress)

    def diff(self, old_rev: str | None = None, new_rev: str | None = None) -> list[Change]:
        """Changes from ``old_rev`` (default HEAD) to ``new_rev`` (default: the workspace)."""
        from lockstep.store.diff import diff, from_pointers, from_workspace

        old = (
            from_pointers(self.ws, self.pointers_at(old_rev or "HEAD"))
            if git.has_commits(self.root) or old_rev
            else {}
        )
        if new_rev is not None:
            new = from_pointers(self.ws, self.pointers_at(new_rev))
        else:
            current = self.pointers()
            new = from_workspace(self.ws, sorted({p.target for p in current} | old.keys()))
        return diff(old, new)

    # --- remotes -------------------------------------------------------------------

    def remote(self, name: str | None = None) -> Remote:
        name = name or self.config.core.remote
        if name is None and len(self.config.remote) == 1:
            name = next(iter(self.config.remote))
        if name is None or name not in self.config.remote:
            raise UnknownRemoteError(name, list(self.config.remote))
        from lockstep.store.remotes import open_remote

        return open_remote(name, self.config.remote[name])

    def remote_add(self, name: str, url: str, *, default: bool, options: dict[str, object]) -> None:
        if name in self.config.remote:
            raise InputError(f"a remote named {name!r} exists already")
        cfg.check_remote(name, {"url": url, **options})  # fail before writing anything
        cfg.set_value(self.root, ["remote", name, "url"], url, local=False)
        for key, value in options.items():
            local = key in cfg.SECRET_KEYS
            cfg.set_value(self.root, ["remote", name, key], value, local=local)
        if default or not self.config.remote:
            cfg.set_value(self.root, ["core", "remote"], name, local=False)
        self.config = cfg.load_config(self.root)

    def remote_remove(self, name: str) -> None:
        """Forget a remote (its data stays where it is)."""
        if name not in self.config.remote:
            raise UnknownRemoteError(name, list(self.config.remote))
        if self.config.core.remote == name:
            cfg.set_value(self.root, ["core", "remote"], None, local=False)
        cfg.set_value(self.root, ["remote", name], None, local=True)
        cfg.set_value(self.root, ["remote", name], None, local=False)
        self.config = cfg.load_config(self.root)

    def remote_default(self, name: str) -> None:
        if name not in self.config.remote:
            raise UnknownRemoteError(name, list(self.config.remote))
        cfg.set_value(self.root, ["core", "remote"], name, local=False)
        self.config = cfg.load_config(self.root)

    def push(
        self,
        remote: str | None,
        paths: Sequence[str] = (),
        *,
        jobs: int | None = None,
        progress: Progress | None = None,
    ) -> TransferResult:
        from lockstep.store.transfer import push

        return self._transfer(push, remote, paths, jobs, progress)

    def fetch(
        self,
        remote: str | None,
        paths: Sequence[str] = (),
        *,
        jobs: int | None = None,
        progress: Progress | None = None,
    ) -> TransferResult:
        from lockstep.store.transfer import fetch

        return self._transfer(fetch, remote, paths, jobs, progress)

    def _transfer(
        self,
        move: Callable[..., TransferResult],
        remote_name: str | None,
        paths: Sequence[str],
        jobs: int | None,
        progress: Progress | None,
    ) -> TransferResult:
        remote = self.remote(remote_name)
        conf = self.config.remote[remote.name]
        jobs = jobs or conf.jobs or remote.default_jobs or self.config.cache.jobs
        pointers = self.pointers(paths) + ([] if paths else self.attestation_objects())
        try:
            return move(self.ws, remote, pointers, jobs=jobs, progress=progress)
        finally:
            remote.close()

    def registered_models(self) -> list[Pointer]:
        """The bytes of every registered model version, as pointers of their objects:
        gc keeps them, so gates and verify can always read a registered version."""
        from lockstep.registry.tags import Registry
        from lockstep.types import parse_digest

        found = []
        for versions in Registry.load(self.root).versions.values():
            for version in versions:
                digest = parse_digest(version.meta.get("digest"))
                if digest is None:
                    continue
                location = f"{version.tag}.version"
                if version.meta.get("kind") == "dir":
                    found.append(Pointer(location, version.model, "dir", digest, 0))
                else:
                    found.append(Pointer(location, version.model, "file", digest, 0))
        return found

    def attestation_objects(self) -> list[Pointer]:
        """The signed documents of registered versions, as pointers of their objects:
        push, pull and gc carry and keep them like data (nothing is checked out)."""
        from lockstep.registry.attestations import all_attestations

        return [
            Pointer(f"{a.tag}.attestation", a.kind, "file", a.digest, 0)
            for a in all_attestations(self.root)
        ]

    def pull(
        self,
        remote: str | None,
        paths: Sequence[str] = (),
        *,
        jobs: int | None = None,
        force: bool = False,
        progress: Progress | None = None,
    ) -> PullResult:
        fetched = self.fetch(remote, paths, jobs=jobs, progress=progress)
        fetched.raise_for_failures("pull")
        done = self.checkout(paths, force=force, progress=progress)
        return PullResult(fetched, done)

    # --- gc --------------------------------------------------------------------------

    def gc(self, *, all_commits: bool = False, dry_run: bool = False) -> GCResult:
        keep = self.pointers() + self.attestation_objects() + self.registered_models()
        if all_commits:
            blobs = git.all_blobs_with_suffix(self.root, SUFFIX)
            data = git.read_blobs(self.root, blobs)
            keep += [
                pointers_mod.loads(data[oid], path, f"{path} (blob {oid[:12]})")
                for oid, path in blobs.items()
            ]
            keep += self._outs_in_history()
        from lockstep.store.gc import gc

        return gc(self.ws, keep, dry_run=dry_run)

    def _outs_in_history(self) -> list[Pointer]:
        from lockstep.pipeline import lockfile

        blobs = git.all_blobs_named(self.root, lockfile.FILE)
        data = git.read_blobs(self.root, blobs)
        outs: list[Pointer] = []
        for oid, path in blobs.items():
            if "/" not in path:  # only the workspace's own lock file
                outs += lockfile.loads(data[oid], f"{path} (blob {oid[:12]})").outs()
        return outs

    # --- model registry ----------------------------------------------------------------

    def models(self) -> Models:
        from lockstep.project.models import Models

        return Models(self)

    def trust(self) -> Trust:
        from lockstep.project.trust import Trust

        return Trust(self)

    def package(self) -> Package:
        from lockstep.project.package import Package

        return Package(self)

    def deployments(self) -> Deployments:
        from lockstep.project.deploy import Deployments

        return Deployments(self)

    def monitoring(self) -> Monitoring:
        from lockstep.project.monitor import Monitoring

        return Monitoring(self)

    # --- pipeline --------------------------------------------------------------------

    def pipeline(self) -> Pipeline:
        """The stages of lockstep.yaml as a checked graph."""
        from lockstep.pipeline.dag import Pipeline
        from lockstep.pipeline.spec import parse_stages

        return Pipeline.build(parse_stages(self.project_file.stages))

    def lock(self) -> LockFile:
        from lockstep.pipeline import lockfile

        return lockfile.read(self.root)

    def lock_at(self, rev: str) -> LockFile:
        from lockstep.pipeline import lockfile

        data = git.read_file_at(self.root, rev, lockfile.FILE)
        return lockfile.loads(data, f"{rev}:{lockfile.FILE}") if data else lockfile.LockFile({})

    def lock_or_empty(self, rev: str | None) -> LockFile:
        """The lock file at ``rev`` (default HEAD; empty before the first commit)."""
        from lockstep.pipeline import lockfile

        if rev is None and not git.has_commits(self.root):
            return lockfile.LockFile({})
        return self.lock_at(rev or "HEAD")

    def current_params(self) -> dict[str, dict[str, object]]:
        """Each stage's declared params with the values params.yaml holds now."""
        from lockstep.pipeline import params

        values = params.load(self.root)
        stages = self.pipeline().stages
        return {
            name: params.select(values, stage.params, name)
            for name, stage in stages.items()
            if stage.params
        }

    def tracking_uri(self) -> str:
        from lockstep.tracking.uri import resolve_uri

        return resolve_uri(self.root, self.config.tracking.uri)

    def run(
        self,
        targets: Sequence[str] = (),
        options: RunOptions | None = None,
        *,
        executor: str = "local",
        dask_address: str | None = None,
        listener: Listener | None = None,
        sink: OutputSink | None = None,
    ) -> RunReport:
        """Bring the pipeline's outputs up to date (see lockstep.pipeline.run)."""
        from lockstep.pipeline.run import Runner, RunOptions
        from lockstep.recording import TrackingRecorder

        options = options or RunOptions()
        pipeline = self.pipeline()
        self._check_outs_untracked(pipeline)
        runner_executor = self._executor(executor, options.jobs or 1, dask_address, sink)
        if not options.jobs:  # default: one stage at a time here, every worker thread on Dask
            jobs = getattr(runner_executor, "capacity", 1) if executor == "dask" else 1
            options = replace(options, jobs=jobs)
        recorder = (
            None if options.dry else TrackingRecorder(self.root, self.tracking_uri(), list(targets))
        )
        try:
            runner = Runner(
                self.ws,
                pipeline,
                runner_executor,
                recorder=recorder,
                listener=listener,
                options=options,
            )
            return runner.run(targets)
        finally:
            runner_executor.close()

    def _executor(
        self, kind: str, jobs: int, address: str | None, sink: OutputSink | None
    ) -> Executor:
        if kind == "local":
            from lockstep.pipeline.executors.local import LocalExecutor

            return LocalExecutor(jobs, sink)
        if kind == "dask":
            from lockstep.pipeline.executors.dask import DaskExecutor

            return DaskExecutor.connect(
                self.ws,
                address or self.config.dask.address,
                shared_fs=self.config.dask.shared_fs,
                remote=self._dask_remote,
                jobs=jobs,
            )
        raise InputError(f"--executor must be local or dask, not {kind!r}")

    def _dask_remote(self) -> Remote:
        return self.remote(None)

    def _check_outs_untracked(self, pipeline: Pipeline) -> None:
        """No output may be tracked by a pointer file or by Git: the stage removes its
        outputs before it runs."""
        pointers = [self._read_pointer(loc) for loc in git.list_files(self.root, f"*{SUFFIX}")]
        owner = {out: name for name, stage in pipeline.stages.items() for out in stage.all_outs}
        for out, name in owner.items():
            for p in pointers:
                if _covers(p.target, out) or _covers(out, p.target):
                    raise PathError(
                        out,
                        f"is an output of stage {name} but is also tracked by {p.location};"
                        " remove the pointer file (a stage's outputs are tracked in "
                        "lockstep.lock)",
                    )
        in_git = git.tracked(self.root, list(owner))
        if in_git:
            out = next(o for o in owner if any(_covers(o, f) for f in in_git))
            raise PathError(
                out,
                f"is an output of stage {owner[out]} but Git tracks {in_git[0]}; outputs are "
                "removed before their stage runs ('git rm -r --cached' it first)",
            )


def _covers(outer: str, inner: str) -> bool:
    return inner == outer or inner.startswith(outer + "/")
