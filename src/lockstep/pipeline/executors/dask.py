"""Run stages as tasks on a Dask cluster: ``lockstep run --executor dask``.

:meth:`DaskExecutor.connect` reaches the scheduler at ``address``, or starts a
``LocalCluster`` on 127.0.0.1 when none is given. It then decides how workers
get at the workspace:

* they share its file system (``dask.shared_fs = "yes"``, or ``"auto"`` and every
  worker reads back a token file just written under ``.lockstep/``): each stage
  runs in the workspace itself;
* they do not: deps travel to the workers and outputs back through the artifact
  remote (:mod:`~lockstep.pipeline.executors.exchange` on this side,
  :mod:`~lockstep.pipeline.executors.remote_task` on the worker).

Each submitted job gets a thread here that uploads its deps when needed,
submits one task, waits for it, brings its outputs back into the workspace,
and only then resolves the future the runner waits on. A stage's ``resources:``
become Dask worker resources: cpus -> ``CPU``, gpus -> ``GPU``, memory ->
``MEMORY`` (bytes); a stage without ``resources:`` claims none, and a cluster
whose workers declare no ``CPU`` (or no ``MEMORY``) does not meter that one.

``distributed`` is imported only by :meth:`DaskExecutor.connect`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, Future
from typing import Any, cast

from lockstep.errors import DaskError, LockstepError, PipelineError
from lockstep.pipeline.executors import remote_task
from lockstep.pipeline.executors.base import Job, Outcome
from lockstep.pipeline.executors.dask_cluster import (
    CONNECT_TIMEOUT,
    LOCAL_LABEL,
    open_cluster,
    shares_workspace,
    shut,
)
from lockstep.pipeline.executors.exchange import Exchange
from lockstep.pipeline.executors.remote_task import TaskResult
from lockstep.pipeline.spec import Resources
from lockstep.store.remotes import Remote
from lockstep.store.workspace import Workspace

UNMETERED_OK = frozenset({"CPU", "MEMORY"})  # claims a cluster may leave unmetered


class DaskExecutor:
    """Stages as Dask tasks; implements :class:`~lockstep.pipeline.executors.base.Executor`."""

    def __init__(self, client: Any, cluster: Any, exchange: Exchange | None, label: str) -> None:
        self._client = client
        self._cluster = cluster  # the LocalCluster started here, else None
        self._exchange = exchange  # None: the workers share the workspace
        self._label = label
        self._token = uuid.uuid4().hex  # names this executor's stages on the workers
        self._lock = threading.Lock()
        self._tasks: set[Any] = set()  # Dask futures of the stages running now
        self._threads: set[threading.Thread] = set()
        self._stopped = False

    @classmethod
    def connect(
        cls,
        ws: Workspace,
        address: str | None,
        *,
        shared_fs: str,
        remote: Callable[[], Remote],
        jobs: int,
    ) -> DaskExecutor:
        """Reach the cluster (or start a local one) and decide how workers see the data."""
        label = address or LOCAL_LABEL
        cluster, client = open_cluster(address, label, jobs)
        try:
            shared = shared_fs == "yes" or (
                shared_fs == "auto" and shares_workspace(client, ws.root, label)
            )
            exchange = None if shared else Exchange.open(ws, remote)
        except BaseException:
            shut(client, cluster)
            raise
        return cls(client, cluster, exchange, label)

    @property
    def capacity(self) -> int:
        """Worker threads in the cluster: how many stages can run at once."""
        return max(1, sum(int(w.get("nthreads", 1)) for w in self._workers().values()))

    @property
    def shares_workspace(self) -> bool:
        return self._exchange is None

    # --- the Executor interface -------------------------------------------------------

    def submit(self, job: Job) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        future.set_running_or_notify_cancel()
        thread = threading.Thread(
            target=self._run, args=(job, future), name=f"dask-{job.stage}", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return future

    def stop(self) -> None:
        """End the stages' processes on the workers and cancel their tasks (best effort)."""
        with self._lock:
            self._stopped = True
            tasks = list(self._tasks)
        with contextlib.suppress(OSError, TimeoutError):
            self._client.run(remote_task.stop_stages, self._token, on_error="ignore")
        with contextlib.suppress(OSError, TimeoutError):
            if tasks:
                self._client.cancel(tasks, force=True)

    def close(self) -> None:
        with self._lock:
            threads = list(self._threads)
        if any(t.is_alive() for t in threads):
            self.stop()
        for thread in threads:
            thread.join(timeout=CONNECT_TIMEOUT)
        if self._exchange is not None:
            self._exchange.close()
        shut(self._client, self._cluster)

    # --- one job ----------------------------------------------------------------------

    def _run(self, job: Job, future: Future[Outcome]) -> None:
        try:
            future.set_result(self._execute(job))
        except BaseException as exc:  # the runner's future must always resolve
            future.set_exception(exc)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _execute(self, job: Job) -> Outcome:
        claims = resource_claims(job.resources)
        if claims:
            workers = self._workers()
            claims = metered(claims, workers)
            check_offered(job.stage, claims, workers)
        result: TaskResult | None = None
        if self._exchange is None:
            result = self._await(job, claims, remote_task.run_shared, job, self._token)
        elif not self._stopped:
            deps = self._exchange.upload(job)
            args = (job, deps, self._exchange.settings, self._token)
            result = self._await(job, claims, remote_task.run_isolated, *args)
        if result is None:
            return Outcome(job.stage, -signal.SIGTERM, "stopped", 0.0)
        if result.error is not None:
            raise DaskError(self._label, f"stage {job.stage} on a worker: {result.error}")
        if result.outcome.ok and self._exchange is not None and not self._stopped:
            self._exchange.download(result.outs)
        return result.outcome

    def _await(
        self, job: Job, claims: Mapping[str, float], task: Callable[..., TaskResult], *args: Any
    ) -> TaskResult | None:
        """Run ``task(*args)`` on the cluster; its result, or None when it was stopped."""
        key = f"lockstep-{job.stage}-{uuid.uuid4().hex[:12]}"
        try:
            future = self._client.submit(task, *args, key=key, pure=False, resources=claims or None)
            with self._lock:
                self._tasks.add(future)
                stopped = self._stopped
            if stopped:
                future.cancel()
            try:
                return cast(TaskResult, future.result())
            finally:
                with self._lock:
                    self._tasks.discard(future)
        except CancelledError:
            return None
        except LockstepError:
            raise
        except Exception as exc:  # whatever the task or the cluster raised ends this stage
            problem = f"stage {job.stage}: {type(exc).__name__}: {exc}"
            raise DaskError(self._label, problem) from exc

    def _workers(self) -> dict[str, dict[str, Any]]:
        try:
            info = self._client.scheduler_info()
        except (OSError, TimeoutError) as exc:
            raise DaskError(self._label, f"cannot list the workers ({exc})") from exc
        return cast(dict[str, dict[str, Any]], info.get("workers", {}))


# --- resources ----------------------------------------------------------------------------


def resource_claims(resources: Resources | None) -> dict[str, float]:
    """The Dask resources a stage claims: none without ``resources:``, and no zeros."""
    if resources is None:
        return {}
    amounts = {"CPU": resources.cpus, "GPU": resources.gpus, "MEMORY": float(resources.memory)}
    return {name: amount for name, amount in amounts.items() if amount > 0}


def metered(
    claims: Mapping[str, float], workers: Mapping[str, Mapping[str, Any]]
) -> dict[str, float]:
    """The claims this cluster can meter. Every worker has CPUs and memory, so where no
    worker declares CPU or MEMORY those claims are dropped; a GPU claim always stays."""
    declared = {name for w in workers.values() for name in w.get("resources") or {}}
    return {k: v for k, v in claims.items() if k in declared or k not in UNMETERED_OK}


def check_offered(
    stage: str, claims: Mapping[str, float], workers: Mapping[str, Mapping[str, Any]]
) -> None:
    """PipelineError unless one worker offers all of ``claims`` (a task would wait forever)."""
    offers = [dict(w.get("resources") or {}) for w in workers.values()]
    if any(all(o.get(k, 0) >= v for k, v in claims.items()) for o in offers):
        return
    short = [k for k, v in claims.items() if not any(o.get(k, 0) >= v for o in offers)]
    wanted = ", ".join(f"{k} {_amount(claims[k])}" for k in short or claims)
    what = "it" if short else "all of it on one worker"
    names = sorted({k for o in offers for k in o})
    best = {k: max(o.get(k, 0) for o in offers) for k in names}
    offered = ", ".join(f"{k} {_amount(v)}" for k, v in best.items()) or "nothing"
    raise PipelineError(
        f"stage {stage} needs {wanted}, but no dask worker offers {what} "
        f"(workers offer at most: {offered}; start workers with --resources, e.g. GPU=1)"
    )


def _amount(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
