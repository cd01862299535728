"""Run tracking: log params, metrics and tags from scripts; search runs.

::

    from lockstep import tracking

    run = tracking.current()          # inside a stage started by `lockstep run`
    with tracking.start_run(name="sweep-3") as run:   # an ad-hoc run anywhere else
        run.log_params({"lr": 0.1})
        run.log_metric("loss", 0.31, step=1)
        run.log_metrics({"acc": 0.90, "f1": 0.84}, step=1)
        run.set_tags({"team": "churn"})
    tracking.search_runs(filter="metrics.acc > 0.8", order_by="-metrics.acc", limit=10)

Writes are buffered and flushed in batches (and at exit); a crash loses at most
the last second. Importing this package loads no database driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lockstep.tracking.client import current, get_run, search_runs, start_run
from lockstep.tracking.context import environment_info
from lockstep.tracking.handle import Run
from lockstep.tracking.records import MetricPoint, RunRecord
from lockstep.tracking.uri import resolve_uri

if TYPE_CHECKING:
    from lockstep.tracking.store import TrackingStore

__all__ = [
    "MetricPoint",
    "Run",
    "RunRecord",
    "TrackingStore",
    "current",
    "environment_info",
    "get_run",
    "resolve_uri",
    "search_runs",
    "start_run",
]


def __getattr__(name: str) -> Any:
    if name == "TrackingStore":  # loads SQLAlchemy: only when asked for
        from lockstep.tracking.store import TrackingStore

        return TrackingStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
