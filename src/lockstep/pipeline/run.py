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

from lockstep.errors import (
    CorruptObjectError,
    LockstepError,
    MissingObjectsError,
    OperationError,
    PipelineError,
)
from lockstep.pipeline import lockfile, outputs
from lockstep.pipeline import metrics as metrics_mod
from lockstep.pipeline import params as params_mod
from lockstep.pipeline.dag import Pipeline
from lockstep.pipeline.decide import Decision, Knowledge, decide
from lockstep.pipeline.executors.base import Executor, Job, Outcome
from lockstep.pipeline.lockfile import LockedStage
from lockstep.pipeline.locks import StageLock, exclusive
from lockstep.pipeline.runcache import RunCache
from lockstep.pipeline.spec import Stage
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


@dataclass
class _Running:
    stage: Stage
    decision: Decision
    run_id: str | None
    started: float
    lock: StageLock


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
        self.known = Knowledge(
            ws,
            lockfile.read(ws.root),
            RunCache(ws.root / ".lockstep" / "runcache"),
            params_mod.load(ws.root),
            force=self.options.force,
        )
        self.results: dict[str, StageResult] = {}
        self.running: dict[Future[Outcome], _Running] = {}
        self.completing: _Running | None = None  # a finished stage being committed
        self.stopping = False

    def run(self, targets: Sequence[str] = ()) -> RunReport:
        order = self.pipeline.select(targets)
        self._check_sources(order)
        for name in order:  # a missing param stops the run before anything runs
            params_mod.select(self.known.params, self.pipeline.stages[name].params, name)
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
                        f"lockstep.yaml: stage {name}: dependency {dep} does not exist and no "
                        "stage writes it"
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
        changing = self._upstream_changing(name)
        if changing is not None:  # only in a dry run: its outputs are not known yet
            self._finish(StageResult(name, "would-run", f"upstream stage {changing} will change"))
            return
        decision = decide(stage, self.known)
        if decision.action == "up-to-date":
            self._finish(StageResult(name, "up-to-date", decision.reason))
        elif decision.action == "restore" and self.options.dry:
            self._finish(StageResult(name, "would-restore", decision.reason))
        elif decision.action == "restore" and self._restore(stage, decision):
            return
        elif self.options.dry:
            self._finish(StageResult(name, "would-run", decision.reason))
        else:
            self._submit(stage, decision)

    def _upstream_changing(self, name: str) -> str | None:
        for up in self.pipeline.upstream[name]:
            result = self.results.get(up)
            if result is not None and result.action in ("would-run", "would-restore"):
                return up
        return None

    def _wait_one(self) -> None:
        done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
        for future in done:
            self.completing = self.running.pop(future)
            self._complete(future, self.completing)
            self.completing = None

    def _give_up(self, pending: list[str]) -> None:
        for name in pending:
            reason = "not started after a failure" if self.stopping else "not reachable"
            self._finish(StageResult(name, "not-run", reason))

    def _interrupt(self) -> None:
        self.stopping = True
        self.executor.stop()
        wait(list(self.running))
        stopped = [*self.running.values(), *([self.completing] if self.completing else [])]
        for running in stopped:
            if running.stage.name not in self.results:
                self._record_failure(running, "stopped", "interrupted")
        self.running.clear()
        self.completing = None

    def _status(self) -> str:
        if any(r.action == "stopped" for r in self.results.values()):
            return "stopped"
        return "failed" if any(r.action == "failed" for r in self.results.values()) else "finished"

    def _finish(self, result: StageResult) -> None:
        self.results[result.name] = result
        self.listener.finished(result)

    # --- restoring and running ----------------------------------------------------

    def _restore(self, stage: Stage, decision: Decision) -> bool:
        """Put the known outputs back; False when the cache cannot (the stage runs)."""
        assert decision.entry is not None and decision.fingerprint is not None
        started = time.monotonic()
        try:
            with exclusive(self.ws.root):
                outputs.restore(self.ws, decision.entry.outs)
        except (MissingObjectsError, CorruptObjectError):
            return False
        run_id, _ = self.recorder.stage_started(stage, decision.fingerprint, decision.params)
        entry = _entry(stage, decision, decision.entry.outs, decision.entry.metrics, run_id)
        self.recorder.stage_finished(
            run_id,
            "restored",
            outs=_digests(entry),
            metrics=entry.metrics,
            error=None,
            restored_from=decision.entry.run_id,
        )
        lockfile.update(self.ws.root, [entry], self.pipeline.stages)
        seconds = time.monotonic() - started
        self._finish(
            StageResult(
                stage.name, "restored", decision.reason, seconds, run_id, None, entry.metrics
            )
        )
        return True

    def _submit(self, stage: Stage, decision: Decision) -> None:
        assert decision.fingerprint is not None
        try:
            claim = StageLock(self.ws.root, stage.name)
        except OperationError as exc:
            self._finish(StageResult(stage.name, "failed", decision.reason, error=str(exc)))
            self.stopping = self.stopping or not self.options.keep_going
            return
        try:
            # the database opens before any output is touched
            run_id, env = self.recorder.stage_started(stage, decision.fingerprint, decision.params)
            self.listener.started(stage.name, decision.reason)
            outputs.clear(self.ws.root, stage.all_outs)
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
        except BaseException:
            claim.release()
            raise
        self.running[future] = _Running(stage, decision, run_id, time.monotonic(), claim)

    def _complete(self, future: Future[Outcome], running: _Running) -> None:
        try:
            self._conclude(future, running)
        finally:
            running.lock.release()

    def _conclude(self, future: Future[Outcome], running: _Running) -> None:
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
        except (outputs.OutputMissingError, LockstepError, OSError, ValueError) as exc:
            # the stage's outputs cannot be kept: a failed stage, never a half-written lock
            self._record_failure(running, "failed", str(exc))

    def _commit(self, running: _Running) -> None:
        """Cache the outputs, then record the run, the run cache and the lock entry."""
        stage, decision = running.stage, running.decision
        outputs.check_written(self.ws.root, stage.all_outs)
        values = metrics_mod.read_all(self.ws.root, stage.metrics)
        with exclusive(self.ws.root):
            outs = outputs.commit(self.ws, stage.all_outs)
        entry = _entry(stage, decision, outs, values, running.run_id)
        self.recorder.stage_finished(
            running.run_id, "finished", outs=_digests(entry), metrics=values, error=None
        )
        self.known.runcache.put(entry)
        lockfile.update(self.ws.root, [entry], self.pipeline.stages)
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
