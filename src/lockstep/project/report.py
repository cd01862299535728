"""The CI side of the facade: what ``lockstep report`` and ``lockstep ci init`` need
from the workspace, handed to ``lockstep.ci`` as plain data.

- :func:`gather` reads the metrics and params of ``lockstep.lock`` at the base revision
  and in the workspace (``pipeline/compare.py``, as ``metrics diff`` and ``params
  diff``), runs each environment's gates on each model's latest registered version
  (``Models.check``: verdicts only, nothing is promoted), reads the drift file, and
  collects the bytes of the stages' ``plots:`` files on both sides (the base side from
  the cache, when it holds them).
- :func:`base_revision` is the default of ``--vs``: ``origin/main`` when that ref
  exists, else ``HEAD`` (nothing before the first commit).
- :func:`workflow_settings` turns ``lockstep.yaml`` and the remotes into the
  :class:`~lockstep.ci.workflows.Settings` of ``ci init``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lockstep import git
from lockstep.ci import workflows
from lockstep.ci.drift import DriftSummary
from lockstep.ci.drift import load as load_drift
from lockstep.ci.report import GateResult, PlotSource, ReportData, Side, Written, write
from lockstep.errors import LockstepError
from lockstep.pipeline.compare import compare, metrics_of, params_of

if TYPE_CHECKING:
    from lockstep.pipeline.lockfile import LockFile
    from lockstep.project.core import Project

DEFAULT_BASE = "origin/main"
NOT_REGISTERED = "not registered"


def base_revision(project: Project, vs: str | None) -> str | None:
    """The revision to compare with: ``vs`` (checked: a bad one raises
    InvalidRevisionError), else origin/main, else HEAD; None before the first commit."""
    if vs is not None:
        git.resolve(project.root, vs)
        return vs
    for candidate in (DEFAULT_BASE, "HEAD"):
        try:
            git.resolve(project.root, candidate)
        except LockstepError:
            continue
        return candidate
    return None


def gather(project: Project, vs: str | None, drift: Path | None = None) -> ReportData:
    rev = base_revision(project, vs)
    old_lock = project.lock_or_empty(rev)
    params_all = compare(params_of(old_lock), project.current_params(), everything=True)
    changed = tuple(c for c in params_all if c.changed)
    return ReportData(
        base=_base_side(project, rev),
        head=Side("workspace", git.head(project.root), git.is_dirty(project.root)),
        metrics=tuple(compare(metrics_of(old_lock), metrics_of(project.lock()), everything=True)),
        params=changed,
        unchanged_params=len(params_all) - len(changed),
        gates=tuple(gate_results(project)),
        drift=_drift(project, drift),
        plots=tuple(plot_sources(project, old_lock)),
    )


def report(project: Project, vs: str | None, out: Path, drift: Path | None = None) -> Written:
    """Gather, then write the Markdown and its plots."""
    return write(gather(project, vs, drift), out)


def _base_side(project: Project, rev: str | None) -> Side:
    if rev is None:
        return Side("HEAD (no commit yet)")
    return Side(rev, git.resolve(project.root, rev))


def _drift(project: Project, path: Path | None) -> DriftSummary | None:
    if path is None:
        return None
    given = path if path.is_absolute() else project.cwd / path
    return load_drift(given, str(path))


def gate_results(project: Project) -> list[GateResult]:
    """Each model of lockstep.yaml against each environment that has gates."""
    models = project.models()
    envs = [e.name for e in models.environments.values() if e.gates]
    registry = models.registry()
    results = []
    for name in models.specs:
        if registry.latest(name) is None:
            results += [GateResult(name, env, problem=NOT_REGISTERED) for env in envs]
            continue
        for env in envs:
            try:
                version, verdicts = models.check(name, env)
            except LockstepError as exc:
                results.append(GateResult(name, env, problem=f"could not be checked: {exc}"))
                continue
            results.append(GateResult(name, env, version.ref, tuple(verdicts)))
    return results


def plot_sources(project: Project, old_lock: LockFile) -> list[PlotSource]:
    """Every ``plots:`` file of the pipeline: the workspace's bytes, and the base's when
    its lock file records the file and the cache holds it."""
    found = []
    for name, stage in project.pipeline().stages.items():
        old_outs = old_lock.stages[name].outs if name in old_lock.stages else ()
        for path in stage.plots:
            target = project.root / path
            new = target.read_bytes() if target.is_file() else None
            old = next((p for p in old_outs if p.target == path and p.kind == "file"), None)
            old_bytes = None
            if old is not None and project.ws.store.exists(old.digest):
                old_bytes = project.ws.store.read_bytes(old.digest)
            found.append(PlotSource(name, path, new, old_bytes))
    return found


def workflow_settings(
    project: Project,
    *,
    check_env: str | None = None,
    branch: str = "main",
    python: str = "3.11",
    install: str | None = None,
    schedule: str | None = None,
) -> workflows.Settings:
    """The models and environments of lockstep.yaml, and the credentials its remotes
    read, as ``ci init`` settings."""
    models = project.models()
    schemes = [remote.url.split("://", 1)[0] for remote in project.config.remote.values()]
    log_url = project.config.serve.log_url  # the scheduled job reads the inference log
    if log_url and "://" in log_url:
        schemes.append(log_url.split("://", 1)[0])
    return workflows.settings(
        list(models.specs),
        {name: env.target for name, env in models.environments.items()},
        workflows.remote_secrets(schemes),
        check_env=check_env,
        branch=branch,
        python=python,
        install=install,
        schedule=schedule,
        signing_key=project.config.signing.key,
    )
