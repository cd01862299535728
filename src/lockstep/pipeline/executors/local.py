"""Run stages as processes on this machine, ``jobs`` at a time."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from lockstep.pipeline.executors.base import Job, Outcome, OutputSink, ProcessGroup, run_commands


class LocalExecutor:
    """Each job runs its commands with the workspace as the working directory."""

    def __init__(self, jobs: int = 1, sink: OutputSink | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="stage")
        self._sink = sink
        self._group = ProcessGroup()

    def submit(self, job: Job) -> Future[Outcome]:
        return self._pool.submit(run_commands, job, job.root, self._sink, self._group)

    def stop(self) -> None:
        self._group.stop()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
