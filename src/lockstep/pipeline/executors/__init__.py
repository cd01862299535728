"""Where stages run: threads on this machine, or tasks on a Dask cluster."""

from lockstep.pipeline.executors.base import Executor, Job, Outcome, OutputSink

__all__ = ["Executor", "Job", "Outcome", "OutputSink"]
