"""The monitoring side of the facade: drift of live traffic against the training data,
performance once ground truth arrives, and the retrain loop.

Defaults come from the registry and lockstep.yaml, so ``lockstep monitor drift churn
--env production`` needs nothing else:

- the version is what the environment runs (without ``--env``: the latest version);
- the reference is the training data that version recorded (exported from the cache
  at the digest registration saw, unless the workspace holds those very bytes), its
  label column (``models.NAME.target``) left out;
- the current data is the environment's inference log within the window
  (``models.NAME.monitor.window``, 7 days by default);
- thresholds are ``models.NAME.monitor`` (defaults, and per feature under
  ``features:``).

``retrain`` closes the loop: when drift is found (or ``--force``), it runs
``models.NAME.retrain.command`` (which brings fresh data in), re-adds the tracked data
it changed, runs the pipeline, commits, registers a new version and promotes it to
``retrain.env`` (staging by default) when its gates pass. The reason ("drift in
mean radius: PSI 0.41 > 0.2") is recorded in the version's tag and the assignment.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep import git
from lockstep.errors import InputError, LockstepError, NoDataError, OperationError, RegistryError

if TYPE_CHECKING:
    from lockstep.monitor.drift import DriftResult
    from lockstep.monitor.performance import PerformanceResult
    from lockstep.project.core import Project
    from lockstep.project.models import Models, Promotion
    from lockstep.registry.tags import Version

DEFAULT_WINDOW = "7d"
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MONITOR_KEYS = ("window", "reference")  # the rest of models.NAME.monitor are thresholds


@dataclass(frozen=True)
class DriftRun:
    """A drift check: what was compared, and what was found."""

    model: str
    version: str
    env: str | None
    reference: str
    current: str
    window: str | None
    result: DriftResult
    report: tuple[str, ...] = ()

    @property
    def drifted(self) -> bool:
        return bool(self.result.drifted)

    @property
    def drifted_names(self) -> list[str]:
        """Drifted features, then reference columns the current data lacks."""
        found = [f.name for f in self.result.features if f.drifted]
        return found + [f"{c} (missing)" for c in self.result.missing_columns]

    def reason(self) -> str:
        found = [f for f in self.result.features if f.drifted]
        parts = [f"{f.name}: {', '.join(f.reasons[:1])}" for f in found[:3]]
        parts += [f"{c} missing" for c in self.result.missing_columns[:3]]
        if not parts:
            return "no drift"
        hidden = len(found) + len(self.result.missing_columns) - len(parts)
        return f"drift in {'; '.join(parts)}" + (f" and {hidden} more" if hidden > 0 else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "env": self.env,
            "reference": self.reference,
            "current": self.current,
            "window": self.window,
            "report": list(self.report),
            **self.result.to_dict(),
        }


@dataclass(frozen=True)
class Retrained:
    model: str
    reason: str
    drift: DriftRun | None
    skipped: bool = False  # no drift and not forced: nothing was done
    version: Version | None = None
    promotion: Promotion | None = None
    steps: tuple[str, ...] = field(default_factory=tuple)

    @property
    def promoted(self) -> bool:
        return self.promotion is not None and self.promotion.tag is not None

    def to_dict(self) -> dict[str, Any]:
        promotion = self.promotion
        return {
            "model": self.model,
            "reason": self.reason,
            "skipped": self.skipped,
            "version": self.version.ref if self.version else None,
            "env": promotion.env if promotion else None,
            "promoted": self.promoted,
            "tag": promotion.tag if promotion else None,
            "failed_gates": promotion.failed if promotion else [],
            "steps": list(self.steps),
            "drift": self.drift.to_dict() if self.drift else None,
        }


class Monitoring:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.root = project.root

    @cached_property
    def models(self) -> Models:
        """lockstep.yaml's models and environments, read once (the registry's tags are
        read afresh by each ``registry()``)."""
        return self.project.models()

    # --- drift --------------------------------------------------------------------------

    def drift(
        self,
        name: str,
        *,
        env: str | None = None,
        reference: str | None = None,
        current: str | None = None,
        window: str | None = None,
        report: Path | None = None,
        executor: str = "local",
        dask_address: str | None = None,
    ) -> DriftRun:
        from lockstep.monitor.drift import detect
        from lockstep.monitor.sources import open_source
        from lockstep.monitor.thresholds import Thresholds

        if report is not None and report.suffix.lower() not in (".html", ".htm", ".md"):
            raise InputError(f"report {report}: use a .html or .md file name")
        version = self._version(name, env)
        settings = self._settings(name)
        chosen = window or (None if current else settings.get("window") or DEFAULT_WINDOW)
        since = _since(chosen) if chosen else None
        thresholds = Thresholds.from_mapping(
            {k: v for k, v in settings.items() if k not in MONITOR_KEYS},
            f"models.{name}.monitor",
        )
        with ExitStack() as stack:
            ref_path, shown = self._reference(
                version, reference or settings.get("reference"), stack
            )
            cur_path = current or self._log(name, env)
            ref_source = open_source(ref_path)
            cur_source = open_source(cur_path, since=since)
            result = detect(
                ref_source,
                cur_source,
                features=_features(version, ref_source, cur_source),
                exclude=_target(version),
                thresholds=thresholds,
                executor=executor,
                dask_address=dask_address,
            )
        run = DriftRun(name, str(version.version), env, shown, cur_path, chosen, result)
        if report is None:
            return run
        return self._report(run, report)

    def _report(self, run: DriftRun, path: Path) -> DriftRun:
        from dataclasses import replace

        from lockstep.monitor.report import write_report

        meta = {
            "model": f"{run.model} v{run.version}",
            "environment": run.env or "(all)",
            "reference": run.reference,
            "current": run.current,
            "window": run.window or "(all rows)",
        }
        title = f"Drift of {run.model}" + (f" in {run.env}" if run.env else "")
        written = write_report(run.result, path, title=title, meta=meta)
        return replace(run, report=tuple(str(p) for p in written))

    # --- performance ------------------------------------------------------------------

    def performance(
        self,
        name: str,
        truth: str,
        *,
        env: str | None = None,
        metric: str | None = None,
        every: str = "1d",
        window: str | None = None,
        max_drop: float = 0.05,
        log: str | None = None,
    ) -> PerformanceResult:
        from lockstep.monitor.performance import track

        version = self._version(name, env)
        chosen = metric or "accuracy"
        baseline = _registered_metric(version, chosen)
        return track(
            log or self._log(name, env),
            truth,
            metric=chosen,
            every=every,
            since=_since(window) if window else None,
            baseline=baseline,
            max_drop=max_drop,
        )

    # --- retrain ----------------------------------------------------------------------

    def retrain(
        self,
        name: str,
        *,
        env: str | None = None,
        watch: str | None = None,
        force: bool = False,
        push: bool = False,
        say: Callable[[str], None] | None = None,
    ) -> Retrained:
        from lockstep.registry.spec import RetrainSpec

        models = self.models
        spec = models.specs.get(name)
        if spec is None:
            raise RegistryError(f"model {name} is not in lockstep.yaml (models: {name}: ...)")
        plan = spec.retrain or RetrainSpec()
        target = env or plan.env
        self._preflight(plan.stages, target, watch, push)
        drift = self._watch(name, watch, target, force)
        if not force and (drift is None or not drift.drifted):
            reason = "no traffic to judge" if drift is None else "no drift"
            return Retrained(name, reason, drift, skipped=True)
        reason = drift.reason() if drift is not None and drift.drifted else "retrain forced"
        steps = _Steps(say)
        try:
            self._refresh(plan.command, reason, steps)
            self._run(plan.stages, steps)
        except LockstepError as exc:
            if not steps.done:
                raise
            raise _halfway(exc, steps, "git checkout -- . && lockstep checkout --force") from exc
        self._commit(name, reason, steps)
        version = models.register(name, None, None, reason=reason, push=push or None)
        steps.add(f"registered {version.ref}")
        promotion = models.promote(version.ref, target, reason=reason, push=push or None)
        verdict = "promoted" if promotion.tag else f"not promoted ({', '.join(promotion.failed)})"
        steps.add(f"{verdict} to {target}")
        if push:
            steps.add(self._push_branch())
        return Retrained(name, reason, drift, False, version, promotion, tuple(steps.done))

    def _preflight(
        self, stages: tuple[str, ...], target: str, watch: str | None, push: bool
    ) -> None:
        """Refuse what would fail halfway: a dirty work tree (retrain commits), an
        unknown stage or environment, nowhere to push."""
        models = self.models
        models.environment(target)
        if watch is not None:
            models.environment(watch)
        if stages:
            known = self.project.pipeline().stages
            unknown = [s for s in stages if s not in known]
            if unknown:
                raise InputError(
                    f"models.*.retrain.stages: no stage named {', '.join(unknown)} "
                    f"(stages: {', '.join(known) or 'none'})"
                )
        if git.has_changes(self.root):
            raise InputError(
                "the work tree has uncommitted changes: commit or stash them first "
                "(retrain commits what it changes)"
            )
        if push:
            models.push_remote()

    def _push_branch(self) -> str:
        """The new data to the default remote (when there is one), then the commit."""
        if self.project.config.remote:
            self.project.push(None)
        remote = self.project.config.registry.remote
        branch = git.push_head(self.root, remote)
        return f"pushed the data, {branch} and the new tags to {remote}"

    def _watch(self, name: str, watch: str | None, target: str, force: bool) -> DriftRun | None:
        """Drift of the traffic of ``watch`` (default: production when it runs a version,
        else the target environment); None when there is no traffic to judge (or, with
        ``force``, when it cannot be judged)."""
        registry = self.models.registry()
        chosen = watch
        if chosen is None:
            running = registry.current(name, "production")
            chosen = "production" if running is not None and running.version else target
        try:
            return self.drift(name, env=chosen)
        except NoDataError:
            return None
        except LockstepError:
            if force:
                return None
            if not _has_tables(self._log(name, chosen)):
                return None
            raise

    def _refresh(self, command: str | None, reason: str, steps: _Steps) -> None:
        if command:
            env = {**os.environ, "LOCKSTEP_RETRAIN_REASON": reason}
            done = subprocess.run(
                command, shell=True, cwd=self.root, env=env, capture_output=True, text=True,
                check=False,
            )  # fmt: skip
            if done.returncode != 0:
                tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
                raise OperationError(
                    f"retrain command {command!r} exited {done.returncode}: {tail}"
                )
            steps.add(f"ran {command}")
        changed = [
            p.target
            for p, s in zip(self.project.pointers(), self.project.status(), strict=False)
            if p.location.endswith(".lockstep") and s.state == "modified"
        ]
        if changed:
            self.project.add(changed)
            steps.add(f"re-added {', '.join(changed)}")

    def _run(self, stages: tuple[str, ...], steps: _Steps) -> None:
        if not self.project.project_file.stages:
            return
        report = self.project.run(list(stages))
        if not report.ok:
            failed = "; ".join(f"{k}: {v}" for k, v in report.failures.items())
            raise OperationError(f"the pipeline failed while retraining: {failed}")
        ran = [r.name for r in report.results if r.action in ("ran", "restored")]
        steps.add(f"ran the pipeline ({', '.join(ran) or 'nothing changed'})")

    def _commit(self, name: str, reason: str, steps: _Steps) -> None:
        if not git.commit_all(self.root, f"Retrain {name}: {reason}"):
            raise OperationError(
                f"retraining {name} changed nothing to commit: the retrain command brought "
                "no new data, and the pipeline made the same model"
            )
        steps.add("committed")

    # --- helpers ----------------------------------------------------------------------

    def _version(self, name: str, env: str | None) -> Version:
        models = self.models
        registry = models.registry()
        models.known(registry, name, env)  # an environment nobody declared or used
        return registry.resolve(f"{name}#{env}" if env else name)

    def _settings(self, name: str) -> dict[str, Any]:
        spec = self.models.specs.get(name)
        return dict(spec.monitor) if spec is not None else {}

    def _log(self, name: str, env: str | None) -> str:
        from lockstep.project.serving import log_location

        return log_location(self.project, name, env)

    def _reference(self, version: Version, given: str | None, stack: ExitStack) -> tuple[str, str]:
        """A path to read the reference from, and how to name it: the training data the
        version recorded (``models.NAME.data``, else what its stage read), as it was."""
        if given:
            return given, given
        spec = self.models.specs.get(version.model)
        inputs = version.meta.get("inputs") or {}
        paths = list(spec.data) if spec is not None and spec.data else list(inputs)
        if not paths:
            raise InputError(
                f"{version.ref} records no training data: pass --reference PATH "
                f"(or set models.{version.model}.data or models.{version.model}.monitor.reference)"
            )
        path = str(paths[0])
        return self._materialize(version, path, inputs, stack), f"{path} ({version.ref})"

    def _materialize(
        self, version: Version, path: str, inputs: dict[str, Any], stack: ExitStack
    ) -> str:
        """The training data as registered: the workspace copy when it holds those bytes,
        else exported from the cache at the digest the version's commit recorded."""
        from lockstep.store.build import current_digest
        from lockstep.store.export import export

        digest = str(inputs.get(path) or "").removeprefix("sha256:") or self._digest_at(
            version.commit, path
        )
        if not digest or current_digest(self.root, path, self.project.ws.state) == digest:
            return str(self.root / path)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lockstep-ref-")))
        copy = tmp / Path(path).name  # keeps the suffix that tells CSV from Parquet
        export(self.project.ws, digest, "auto", copy)
        return str(copy)

    def _digest_at(self, commit: str, path: str) -> str:
        """The digest ``path`` had at ``commit``: its pointer's (or lock entry's), or
        its entry's in the tree of the tracked folder holding it."""
        for pointer in self.project.pointers_at(commit):
            if pointer.target == path:
                return pointer.digest
            if path.startswith(f"{pointer.target}/"):
                tree = self.project.ws.tree(pointer.digest)
                entry = tree.by_path().get(path[len(pointer.target) + 1 :]) if tree else None
                # a folder inside a tracked folder has no digest of its own to pin
                return entry.digest if entry is not None else ""
        return ""


class _Steps:
    def __init__(self, say: Callable[[str], None] | None) -> None:
        self.done: list[str] = []
        self.say = say

    def add(self, step: str) -> None:
        self.done.append(step)
        if self.say is not None:
            self.say(step)


def _features(version: Version, reference: Any, current: Any) -> list[str] | None:
    """The model's input columns when registration recorded them, else None (the
    columns both sides share)."""
    signature = version.meta.get("signature")
    if not isinstance(signature, dict) or not isinstance(signature.get("inputs"), list):
        return None
    names = [str(c.get("name")) for c in signature["inputs"] if isinstance(c, dict)]
    known = set(reference.schema())
    return [n for n in names if n in known] or None


def _halfway(exc: LockstepError, steps: _Steps, undo: str) -> OperationError:
    """The error of a retrain that stopped after changing the work tree: what it did,
    and how to put the work tree back."""
    done = "; ".join(steps.done)
    return OperationError(f"{exc} (retrain had {done}; to undo: {undo})")


def _registered_metric(version: Version, metric: str) -> float | None:
    """The metric registration recorded: by its name, or the one ``*.NAME`` key."""
    metrics = version.meta.get("metrics") or {}
    if not isinstance(metrics, dict):
        return None
    found = metrics.get(metric)
    if found is None:
        ends = [v for k, v in metrics.items() if str(k).endswith(f".{metric}")]
        found = ends[0] if len(ends) == 1 else None
    return float(found) if isinstance(found, int | float) else None


def _has_tables(location: str) -> bool:
    """Whether a local inference log folder holds any file yet (remote: assume so)."""
    if "://" in location:
        return True
    folder = Path(location)
    return folder.is_dir() and any(p.suffix == ".parquet" for p in folder.rglob("*"))


def _target(version: Version) -> list[str]:
    signature = version.meta.get("signature")
    target = signature.get("target") if isinstance(signature, dict) else None
    return [target] if isinstance(target, str) and target else []


def _since(window: str) -> datetime:
    seconds = parse_duration(window)
    try:
        return datetime.now(timezone.utc) - timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise InputError(f"window {window!r} reaches before the year 1") from None


def parse_duration(text: str) -> int:
    """``90m``, ``24h``, ``7d``, ``2w``, ``1d12h`` as seconds; InputError otherwise."""
    parts = _DURATION.findall(text.strip())
    if not text.strip() or not parts or _DURATION.sub("", text).strip():
        raise InputError(f"window {text!r}: use a duration such as 90m, 24h, 7d or 2w")
    return sum(int(n) * _UNITS[u] for n, u in parts)
