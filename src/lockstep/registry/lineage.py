"""Where a model came from, read from ``lockstep.lock``: the stage that produced it
(its params, metrics, run and input data) and the stages that evaluated it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lockstep.pipeline.dag import overlaps
from lockstep.pipeline.lockfile import LockedStage, LockFile
from lockstep.types import format_digest


@dataclass(frozen=True)
class Lineage:
    stage: str | None = None
    run_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # training data: path -> digest
    evaluated_by: list[str] = field(default_factory=list)
    evaluation_data: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "run_id": self.run_id,
            "params": self.params,
            "metrics": self.metrics,
            "inputs": self.inputs,
            "evaluation": {"stages": self.evaluated_by, "data": self.evaluation_data},
        }


def lineage(model_path: str, digest: str, lock: LockFile, tracked: Iterable[str]) -> Lineage:
    """``tracked``: every data path lockstep tracks (pointers and stage outputs);
    only deps among them count as data (code is versioned by the commit). Only
    stages that evaluated this very model (``digest``) lend it their metrics."""
    data_paths = list(tracked)

    def is_data(path: str) -> bool:
        return path != model_path and any(overlaps(path, t) for t in data_paths)

    producer = _producer(model_path, lock)
    evaluators = [
        s
        for s in lock.stages.values()
        if s is not producer and any(p == model_path and d == digest for p, d in s.deps)
    ]
    if producer is not None and not any(
        out.target == model_path and out.digest == digest for out in producer.outs
    ):
        producer = None  # the lock file describes another model than this one
    metrics: dict[str, Any] = dict(producer.metrics) if producer else {}
    for stage in evaluators:
        metrics.update(stage.metrics)
    return Lineage(
        stage=producer.name if producer else None,
        run_id=producer.run_id if producer else None,
        params=dict(producer.params) if producer else {},
        metrics=metrics,
        inputs=_data_deps([producer] if producer else [], is_data),
        evaluated_by=[s.name for s in evaluators if s.metrics],
        evaluation_data=_data_deps([s for s in evaluators if s.metrics], is_data),
    )


def _producer(model_path: str, lock: LockFile) -> LockedStage | None:
    for stage in lock.stages.values():
        if any(overlaps(out.target, model_path) for out in stage.outs):
            return stage
    return None


def _data_deps(stages: Iterable[LockedStage], is_data: Any) -> dict[str, str]:
    return {
        path: format_digest(digest)
        for stage in stages
        for path, digest in stage.deps
        if is_data(path)
    }
