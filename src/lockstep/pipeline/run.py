"""``run``: bring the pipeline's outputs up to date, running only what changed.

For each stage, in dependency order, once the stages it depends on are done:

1. hash its deps (unchanged files cost a ``stat``) and read its params;
2. fingerprint = hash(cmd, deps' digests, params' values, output paths);
3. the lock file has that fingerprint and the outputs match: nothing to do;
4. the lock file or the run cache knows the fingerprint and the cache holds
   its outputs: restore them (no command runs);
5. otherwise run the stage's commands (up to ``jobs`` stages at once), cache
   its outputs, and record it in ``lockstep.lock`` and the run cache.

A failing stage is recorded with its stderr tail; its outputs are not cached
and its lock entry is left as it was. Stages already running finish; others
do not start, unless ``keep_going``, where only the failed stage's
descendants are left out.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from lockstep.errors import LockstepError, PipelineError
from lockstep.pipeline import lockfile, outputs
from lockstep.pipeline import metrics as metrics_mod
from lockstep.pipeline import params as params_mod
from lockstep.pipeline.dag import Pipeline
from lockstep.pipeline.executors.base import Executor, Job, Outcome
from lockstep.pipeline.fingerprint import fingerprint
from lockstep.pipeline.lockfile import LockedStage, LockFile
from lockstep.pipeline.runcache import RunCache
from lockstep.pipeline.spec import Stage
from lockstep.store.build import current_digest
from lockstep.store.workspace import Workspace
from lockstep.types import format_digest

DONE_OK = frozenset({"up-to-date", "restored", "ran", "would-run", "would-restore"})


@dataclass(frozen=True)
class StageResult:
    name: str
    action: (
        str  # up-to-date | restored | ran | failed | stopped | not-run | would-run | would-restore
    )
    reason: str
    seconds: float = 0.0
    run_id: str | None = None
    error: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.action in DONE_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.name,
            "action": self.action,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "run_id": self.run_id,
            "error": self.error,
            "metrics": dict(self.metrics),
        }


@dataclass(frozen=True)
class RunReport:
    results: tuple[StageResult, ...]

    @property
    def failures(self) -> dict[str, str]:
        return {
            r.name: r.error or r.reason for r in self.results if r.action in ("failed", "stopped")
        }

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class RunOptions:
    force: bool = False
    dry: bool = False
    keep_going: bool = False
    jobs: int = 0  # 0: the executor's default


class Recorder(Protocol):
    """Where runs are recorded (the tracking database); injected by the facade."""

    def stage_started(
        self, stage: Stage, fingerprint: str, params: Mapping[str, Any]
    ) -> tuple[str | None, Mapping[str, str]]:
        """Start a stage's run: its id and the environment the stage gets."""

    def stage_finished(
        self,
        run_id: str | None,
        status: str,
        *,
        outs: Mapping[str, str],
        metrics: Mapping[str, float],
        error: str | None,
        restored_from: str | None = None,
    ) -> None: ...

    def close(self, status: str, actions: Mapping[str, str]) -> None:
        """The pipeline is over: ``status`` is finished, failed, stopped, or error
        (an exception ended it); ``actions`` maps each stage to what happened."""


class Listener(Protocol):
    """What the shell shows while the pipeline runs."""

    def started(self, stage: str, reason: str) -> None: ...

    def finished(self, result: StageResult) -> None: ...


class NullRecorder:
    def stage_started(
        self, stage: Stage, fingerprint: str, params: Mapping[str, Any]
    ) -> tuple[str | None, Mapping[str, str]]:
        return None, {}

    def stage_finished(
        self,
        run_id: str | None,
        status: str,
        *,
        outs: Mapping[str, str],
        metrics: Mapping[str, float],
        error: str | None,
        restored_from: str | None = None,
    ) -> None:
        return None

    def close(self, status: str, actions: Mapping[str, str]) -> None:
        return None


class NullListener:
    def started(self, stage: str, reason: str) -> None:
        return None

    def finished(self, result: StageResult) -> None:
        return None


@dataclass(frozen=True)
class Decision:
    action: str  # up-to-date | restore | run
    reason: str
    fingerprint: str | None = None
    deps: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    entry: LockedStage | None = None  # what to restore


@dataclass
class _Running:
    stage: Stage
    decision: Decision
    run_id: str | None
    started: float


class Runner:
    """One ``lockstep run``: decides, runs and records each selected stage."""

    def __init__(
        self,
        ws: Workspace,
        pipeline: Pipeline,
        executor: Executor,
        *,
        recorder: Recorder | None = None,
        listener: Listener | None = None,
        options: RunOptions | None = None,
    ) -> None:
        self.ws = ws
        self.pipeline = pipeline
        self.executor = executor
        self.recorder = recorder or NullRecorder()
        self.listener = listener or NullListener()
        self.options = options or RunOptions()
        self.lock: LockFile = lockfile.read(ws.root)
        self.runcache = RunCache(ws.root / ".lockstep" / "runcache")
        self.params = params_mod.load(ws.root)
        self.results: dict[str, StageResult] = {}
        self.running: dict[Future[Outcome], _Running] = {}
        self.stopping = False

    def run(self, targets: Sequence[str] = ()) -> RunReport:
        order = self.pipeline.select(targets)
        self._check_sources(order)
        pending = list(order)
        status = "error"
        try:
            while pending or self.running:
                pending = self._schedule(pending)
                if self.running:
                    self._wait_one()
                elif pending:
                    self._give_up(pending)
                    pending = []
            status = self._status()
        except BaseException as exc:
            self._interrupt()
            status = "stopped" if isinstance(exc, KeyboardInterrupt) else "failed"
            raise
        finally:
            actions = {name: r.action for name, r in self.results.items()}
            self.recorder.close(status if self.results else "error", actions)
        return RunReport(tuple(self.results[name] for name in order if name in self.results))

    # --- scheduling ---------------------------------------------------------------

    def _check_sources(self, order: Sequence[str]) -> None:
        """Every dep that no stage writes must exist before anything runs."""
        for name in order:
            for dep in self.pipeline.stages[name].deps:
                if self.pipeline.writer_of(dep) is None and not (self.ws.root / dep).exists():
                    raise PipelineError(
                        f"stage {name}: dependency {dep} does not exist and no stage writes it"
                        " (tracked data comes back with 'lockstep checkout' or 'lockstep pull')"
                    )

    def _schedule(self, pending: list[str]) -> list[str]:
        """Decide every stage whose upstream is done; start those that must run."""
        left = []
        for name in pending:
            blocked = self._blocked_by(name)
            if blocked is not None:
                self._finish(StageResult(name, "not-run", f"{blocked} did not finish"))
            elif (
                self.stopping
                or len(self.running) >= max(1, self.options.jobs)
                or not self._ready(name)
            ):
                left.append(name)
            else:
                self._start(name)
        return left

    def _ready(self, name: str) -> bool:
        return all(u in self.results for u in self.pipeline.upstream[name])

    def _blocked_by(self, name: str) -> str | None:
        for up in self.pipeline.upstream[name]:
            result = self.results.get(up)
            if result is not None and not result.ok:
                return f"upstream stage {up}"
        return None

    def _start(self, name: str) -> None:
        stage = self.pipeline.stages[name]
        decision = self.decide(stage)
        if decision.action == "up-to-date":
            self._finish(StageResult(name, "up-to-date", decision.reason))
        elif decision.action == "restore":
            self._restore(stage, decision)
        elif self.options.dry:
            self._finish(StageResult(name, "would-run", decision.reason))
        else:
            self._submit(stage, decision)

    def _wait_one(self) -> None:
        done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
        for future in done:
            self._complete(future, self.running.pop(future))

    def _give_up(self, pending: list[str]) -> None:
        for name in pending:
            reason = "not started after a failure" if self.stopping else "not reachable"
            self._finish(StageResult(name, "not-run", reason))

    def _interrupt(self) -> None:
        self.stopping = True
        self.executor.stop()
        wait(list(self.running))
        for running in self.running.values():
            self._record_failure(running, "stopped", "interrupted")
        self.running.clear()

    def _status(self) -> str:
        if any(r.action == "stopped" for r in self.results.values()):
            return "stopped"
        return "failed" if any(r.action == "failed" for r in self.results.values()) else "finished"

    def _finish(self, result: StageResult) -> None:
        self.results[result.name] = result
        self.listener.finished(result)

    # --- deciding -----------------------------------------------------------------

    def decide(self, stage: Stage) -> Decision:
        """Whether ``stage`` is up to date, restorable, or must run, and why."""
        waiting = [
            u
            for u in self.pipeline.upstream[stage.name]
            if self.results.get(u) is not None and self.results[u].action == "would-run"
        ]
        if waiting:
            return Decision("run", f"upstream stage {waiting[0]} will run")
        deps = self._dep_digests(stage)
        values = params_mod.select(self.params, stage.params, stage.name)
        fp = fingerprint(stage, deps, values)
        base = Decision("run", "", fp, deps, values)
        locked = self.lock.stages.get(stage.name)
        if self.options.force:
            return _with(base, "run", "forced")
        if locked is not None and locked.fingerprint == fp:
            if outputs.match(self.ws, locked.outs):
                return _with(base, "up-to-date", "nothing changed")
            if outputs.restorable(self.ws, locked.outs):
                return _with(base, "restore", "outputs changed or missing", locked)
        cached = self.runcache.get(fp)
        if cached is not None and outputs.restorable(self.ws, cached.outs):
            return _with(base, "restore", "seen before: outputs from the run cache", cached)
        return _with(base, "run", _why(stage, locked, fp, deps, values))

    def _dep_digests(self, stage: Stage) -> dict[str, str]:
        digests = {}
        for dep in stage.deps:
            digest = current_digest(self.ws.root, dep, self.ws.state)
            if digest is None:
                raise PipelineError(f"stage {stage.name}: dependency {dep} does not exist")
            digests[dep] = digest
        return digests

    # --- restoring and running ----------------------------------------------------

    def _restore(self, stage: Stage, decision: Decision) -> None:
        assert decision.entry is not None and decision.fingerprint is not None
        if self.options.dry:
            self._finish(StageResult(stage.name, "would-restore", decision.reason))
            return
        started = time.monotonic()
        outputs.restore(self.ws, decision.entry.outs)
        run_id, _ = self.recorder.stage_started(stage, decision.fingerprint, decision.params)
        entry = _entry(stage, decision, decision.entry.outs, decision.entry.metrics, run_id)
        lockfile.update(self.ws.root, [entry], self.pipeline.stages)
        self.recorder.stage_finished(
            run_id,
            "restored",
            outs=_digests(entry),
            metrics=entry.metrics,
            error=None,
            restored_from=decision.entry.run_id,
        )
        seconds = time.monotonic() - started
        self._finish(
            StageResult(
                stage.name, "restored", decision.reason, seconds, run_id, None, entry.metrics
            )
        )

    def _submit(self, stage: Stage, decision: Decision) -> None:
        assert decision.fingerprint is not None
        self.listener.started(stage.name, decision.reason)
        outputs.clear(self.ws.root, stage.all_outs)
        run_id, env = self.recorder.stage_started(stage, decision.fingerprint, decision.params)
        job = Job(
            stage.name,
            stage.cmd,
            str(self.ws.root),
            env,
            stage.deps,
            stage.all_outs,
            stage.resources,
        )
        future = self.executor.submit(job)
        self.running[future] = _Running(stage, decision, run_id, time.monotonic())

    def _complete(self, future: Future[Outcome], running: _Running) -> None:
        try:
            outcome = future.result()
        except LockstepError as exc:
            self._record_failure(running, "failed", str(exc))
            return
        if not outcome.ok:
            status = "stopped" if self.stopping and outcome.returncode < 0 else "failed"
            error = outcome.stderr_tail or f"exit code {outcome.returncode}"
            self._record_failure(running, status, f"exit code {outcome.returncode}: {error}")
            return
        try:
            self._commit(running)
        except (outputs.OutputMissingError, LockstepError) as exc:
            self._record_failure(running, "failed", str(exc))

    def _commit(self, running: _Running) -> None:
        stage, decision = running.stage, running.decision
        outs = outputs.commit(self.ws, stage.all_outs)
        values = metrics_mod.read_all(self.ws.root, stage.metrics)
        entry = _entry(stage, decision, outs, values, running.run_id)
        lockfile.update(self.ws.root, [entry], self.pipeline.stages)
        self.runcache.put(entry)
        self.recorder.stage_finished(
            running.run_id, "finished", outs=_digests(entry), metrics=values, error=None
        )
        seconds = time.monotonic() - running.started
        self._finish(
            StageResult(stage.name, "ran", decision.reason, seconds, running.run_id, None, values)
        )

    def _record_failure(self, running: _Running, status: str, error: str) -> None:
        self.recorder.stage_finished(running.run_id, status, outs={}, metrics={}, error=error)
        if not self.options.keep_going:
            self.stopping = True
        seconds = time.monotonic() - running.started
        name = running.stage.name
        self._finish(
            StageResult(name, status, running.decision.reason, seconds, running.run_id, error)
        )


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


def _entry(
    stage: Stage,
    decision: Decision,
    outs: Sequence[Any],
    values: Mapping[str, float],
    run_id: str | None,
) -> LockedStage:
    assert decision.fingerprint is not None
    return LockedStage(
        name=stage.name,
        cmd=stage.command,
        fingerprint=decision.fingerprint,
        deps=tuple(sorted(decision.deps.items())),
        params=dict(decision.params),
        outs=tuple(outs),
        metrics=dict(values),
        run_id=run_id,
    )


def _digests(entry: LockedStage) -> dict[str, str]:
    return {out.target: format_digest(out.digest) for out in entry.outs}
