"""Whether a stage is up to date, can be restored from the cache, or must run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lockstep.errors import PipelineError
from lockstep.pipeline import outputs
from lockstep.pipeline.fingerprint import fingerprint
from lockstep.pipeline.lockfile import LockedStage, LockFile
from lockstep.pipeline.params import select
from lockstep.pipeline.runcache import RunCache
from lockstep.pipeline.spec import Stage
from lockstep.store.build import current_digest
from lockstep.store.workspace import Workspace


@dataclass(frozen=True)
class Decision:
    action: str  # up-to-date | restore | run
    reason: str
    fingerprint: str | None = None
    deps: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    entry: LockedStage | None = None  # what to restore


@dataclass(frozen=True)
class Knowledge:
    """What the decision is made against: the lock file, the run cache, params.yaml."""

    ws: Workspace
    lock: LockFile
    runcache: RunCache
    params: Mapping[str, Any]
    force: bool = False


def decide(stage: Stage, known: Knowledge) -> Decision:
    """Hash the stage's deps, fingerprint it, and compare with what is known."""
    deps = dep_digests(known.ws, stage)
    values = select(known.params, stage.params, stage.name)
    fp = fingerprint(stage, deps, values)
    base = Decision("run", "", fp, deps, values)
    locked = known.lock.stages.get(stage.name)
    if known.force:
        return _with(base, "run", "forced")
    if locked is not None and locked.fingerprint == fp:
        if outputs.match(known.ws, locked.outs):
            return _with(base, "up-to-date", "nothing changed")
        if outputs.restorable(known.ws, locked.outs):
            return _with(base, "restore", "outputs changed or missing", locked)
    cached = known.runcache.get(fp)
    if cached is not None and outputs.restorable(known.ws, cached.outs):
        return _with(base, "restore", "seen before: outputs from the run cache", cached)
    return _with(base, "run", _why(stage, locked, fp, deps, values))


def dep_digests(ws: Workspace, stage: Stage) -> dict[str, str]:
    digests = {}
    for dep in stage.deps:
        digest = current_digest(ws.root, dep, ws.state)
        if digest is None:
            raise PipelineError(
                f"lockstep.yaml: stage {stage.name}: dependency {dep} does not exist"
            )
        digests[dep] = digest
    return digests


def _with(base: Decision, action: str, reason: str, entry: LockedStage | None = None) -> Decision:
    return Decision(action, reason, base.fingerprint, base.deps, base.params, entry)


def _why(
    stage: Stage,
    locked: LockedStage | None,
    fp: str,
    deps: Mapping[str, str],
    values: Mapping[str, Any],
) -> str:
    if locked is None:
        return "never ran"
    if locked.fingerprint == fp:
        return "outputs changed and are not in the cache"
    if locked.cmd != stage.command:
        return "command changed"
    before = dict(locked.deps)
    changed = sorted(p for p, d in deps.items() if before.get(p) != d)
    if changed:
        return "deps changed: " + ", ".join(changed)
    moved = sorted(k for k in values if locked.params.get(k) != values[k])
    if moved:
        return "params changed: " + ", ".join(moved)
    return "stage definition changed"
