"""Spread the features of a drift run over a Dask cluster.

``detect(..., executor="dask")`` sends one task per feature. A task carries no
data: it gets the two sources' :class:`~lockstep.monitor.sources.SourceSpec`
(location, the files found when the run started, the time window, and the
storage options with any credentials in them), the feature's name, kind and
limits. It opens the sources itself on the worker and reads its own columns
there, straight from the files or object store. Workers must therefore see the
same paths (a shared disk, or URLs such as ``s3://``) and have lockstep
installed. A worker keeps the sources of the current run open between its tasks
(the CSV files of a source are parsed once per worker, Parquet footers read
once), and drops them when the next run starts.

With an ``address`` the run uses that scheduler; without one it starts a
``LocalCluster`` on 127.0.0.1 (``LOCAL_WORKERS`` processes of one thread each, no
dashboard) and closes it afterwards. The results equal the local executor's: the
same function computes each feature.

A lockstep error inside a task (an unreadable file) comes back as a value and is
raised again here with its own class and fields; a cluster that cannot be reached,
or that loses the workers running the tasks, is a :class:`~lockstep.errors.DaskError`.
"""

from __future__ import annotations

import importlib
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from lockstep.datacheck.report import first_line
from lockstep.errors import DaskError, InputError, LockstepError, OperationError
from lockstep.monitor.drift import FeatureDrift, compare_feature
from lockstep.monitor.sources import SourceSpec, TableSource, reopen
from lockstep.monitor.thresholds import Limits, Thresholds
from lockstep.pipeline.executors.dask_cluster import LOCAL_LABEL, shut
from lockstep.pipeline.executors.dask_cluster import open_cluster as open_pipeline_cluster

_open_sources: dict[tuple[str, str], TableSource] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class TaskFailure:
    """A lockstep error raised in a task, as plain data that survives pickling."""

    module: str
    name: str
    message: str
    fields: dict[str, Any]

    @classmethod
    def of(cls, exc: LockstepError) -> TaskFailure:
        kind = type(exc)
        return cls(kind.__module__, kind.__qualname__, exc.message, dict(vars(exc)))

    def error(self) -> LockstepError:
        kind = getattr(importlib.import_module(self.module), self.name, None)
        if not isinstance(kind, type) or not issubclass(kind, LockstepError):
            return OperationError(self.message)
        exc = kind.__new__(kind)
        LockstepError.__init__(exc, self.message)
        exc.__dict__.update(self.fields)
        return exc


def compare_on_dask(
    reference: TableSource,
    current: TableSource,
    features: list[tuple[str, str]],
    thresholds: Thresholds,
    address: str | None,
) -> list[FeatureDrift]:
    """Each feature compared by a task on the cluster at ``address`` (or a new
    LocalCluster), in the order given."""
    for source in (reference, current):
        if not source.spec.files:
            raise InputError(f"{source.location} is held in memory: a Dask cluster cannot read it")
    import distributed

    label = address or LOCAL_LABEL
    cluster, client = open_cluster(address)
    run = uuid.uuid4().hex
    lost = (OSError, TimeoutError, distributed.KilledWorker, distributed.CancelledError)
    try:
        futures = [
            client.submit(
                compare_task,
                run,
                reference=reference.spec,
                current=current.spec,
                name=name,
                kind=kind,
                limits=thresholds.for_feature(name),
                key=f"lockstep-drift-{run}-{i}",
                pure=False,
            )
            for i, (name, kind) in enumerate(features)
        ]
        results = client.gather(futures)
    except lost as exc:
        raise DaskError(label, f"the cluster failed: {first_line(exc)}") from exc
    finally:
        shut(client, cluster)
    return [_unwrapped(result) for result in results]


def _unwrapped(result: FeatureDrift | TaskFailure) -> FeatureDrift:
    if isinstance(result, TaskFailure):
        raise result.error()
    return result


def compare_task(
    run: str,
    *,
    reference: SourceSpec,
    current: SourceSpec,
    name: str,
    kind: str,
    limits: Limits,
) -> FeatureDrift | TaskFailure:
    """What a worker runs for one feature."""
    try:
        return compare_feature(
            _source(run, "reference", reference),
            _source(run, "current", current),
            name,
            kind,
            limits,
        )
    except LockstepError as exc:
        return TaskFailure.of(exc)


def _source(run: str, side: str, spec: SourceSpec) -> TableSource:
    """The source of this run on this worker, opened by its first task."""
    with _lock:
        if any(key[0] != run for key in _open_sources):
            _open_sources.clear()
        found = _open_sources.get((run, side))
        if found is None:
            found = _open_sources[(run, side)] = reopen(spec)
        return found


# --- the cluster --------------------------------------------------------------------------


def open_cluster(address: str | None) -> tuple[Any, Any]:
    """(the LocalCluster started here or None, a connected client): the pipeline's
    cluster helper, one thread a worker."""
    return open_pipeline_cluster(address, address or LOCAL_LABEL, jobs=1)
