"""The run handle scripts log through: buffered writes, flushed in batches.

Logging appends to a buffer in memory. The buffer is written to the database in
one transaction when 1,000 items are pending (in the logging thread), by a
background thread at most every second, on :meth:`Run.flush`, when a ``with``
block ends and when the interpreter exits. A crash loses at most the last
second of values; ``kill -9`` right after ``flush()`` loses nothing.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lockstep.errors import InputError, LockstepError
from lockstep.tracking.records import MetricPoint, RunRecord
from lockstep.tracking.values import (
    check_key,
    encode_param,
    metric_value,
    step_value,
    tag_value,
)

if TYPE_CHECKING:
    from lockstep.tracking.store import TrackingStore

BATCH_SIZE = 1_000
INTERVAL = 1.0
ERROR_TAIL = 4_000


class _Buffer:
    """Pending params, metric points and tags; swapped out whole by a flush."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.points: list[MetricPoint] = []
        self.tags: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.params) + len(self.points) + len(self.tags)

    def put_back(self, failed: _Buffer) -> None:
        """Return a batch that could not be written, ahead of what came since."""
        self.params = {**failed.params, **self.params}
        self.points = failed.points + self.points
        self.tags = {**failed.tags, **self.tags}


class Run:
    """A run to log into. ``finish_on_exit``: this handle started the run and ends it
    (``start_run``); otherwise someone else does (``current()``: ``lockstep run``).
    ``store`` gives the store to write to, on first use; the handle never closes it."""

    def __init__(
        self,
        run_id: str,
        store: Callable[[], TrackingStore],
        *,
        finish_on_exit: bool,
        batch_size: int = BATCH_SIZE,
        interval: float = INTERVAL,
    ) -> None:
        self._id = run_id
        self._open_store = store
        self._store: TrackingStore | None = None
        self._owner = finish_on_exit
        self._batch_size = batch_size
        self._interval = interval
        self._buffer = _Buffer()
        self._lock = threading.Lock()  # guards the buffer
        self._flushing = threading.Lock()  # one batch at a time, in order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        atexit.register(self._at_exit)

    @property
    def id(self) -> str:
        return self._id

    def __repr__(self) -> str:
        return f"Run({self._id!r})"

    # --- logging ------------------------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Parameters: JSON values (numbers, text, booleans, null) by name."""
        checked = {check_key(key, "param"): value for key, value in params.items()}
        for key, value in checked.items():
            encode_param(key, value)  # fail here, not in a later flush
        self._add(lambda buffer: buffer.params.update(checked))

    def log_metric(
        self, key: str, value: float, step: int | None = None, *, timestamp: float | None = None
    ) -> None:
        """One value of a metric; ``step`` (default 0) orders a series."""
        point = MetricPoint(
            check_key(key, "metric"),
            metric_value(key, value),
            step_value(key, step),
            time.time() if timestamp is None else float(timestamp),
        )
        self._add(lambda buffer: buffer.points.append(point))

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        step: int | None = None,
        *,
        timestamp: float | None = None,
    ) -> None:
        """Several metrics at one step and time."""
        now = time.time() if timestamp is None else float(timestamp)
        points = [
            MetricPoint(
                check_key(key, "metric"), metric_value(key, value), step_value(key, step), now
            )
            for key, value in metrics.items()
        ]
        self._add(lambda buffer: buffer.points.extend(points))

    def set_tag(self, key: str, value: str) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, str]) -> None:
        checked = {check_key(key, "tag"): tag_value(key, value) for key, value in tags.items()}
        self._add(lambda buffer: buffer.tags.update(checked))

    def _add(self, change: Callable[[_Buffer], None]) -> None:
        if self._closed:
            raise InputError(f"run {self._id} is finished: nothing more can be logged to it")
        with self._lock:
            change(self._buffer)
            full = len(self._buffer) >= self._batch_size
        if full:
            self.flush()
        elif self._thread is None:
            self._start_thread()

    # --- writing ------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything logged so far, now (TrackingError if the database fails;
        the values stay pending and the next flush tries again)."""
        with self._flushing:
            with self._lock:
                batch, self._buffer = self._buffer, _Buffer()
            if not len(batch):
                return
            try:
                self.store.log_batch(
                    self._id, params=batch.params, metrics=batch.points, tags=batch.tags
                )
            except BaseException:
                with self._lock:
                    self._buffer.put_back(batch)
                raise

    @property
    def store(self) -> TrackingStore:
        """The store this handle writes to, opened on first use."""
        if self._store is None:
            self._store = self._open_store()
        return self._store

    def record(self) -> RunRecord:
        """The run as stored, after a flush."""
        self.flush()
        return self.store.get_run(self._id)

    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(
                target=self._tick, name=f"lockstep-run-{self._id[:8]}", daemon=True
            )
        self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except LockstepError:
                continue  # the values stay pending; the next tick or flush() retries

    # --- the end --------------------------------------------------------------------------

    def finish(self, status: str = "finished", error: str | None = None) -> None:
        """Flush, and (for a run this handle started) record its end with ``status``."""
        if self._closed:
            return
        self._stop_thread()
        try:
            self.flush()
            if self._owner:
                self.store.finish_run(self._id, status, error=error)
        finally:
            self._close()

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        status, text = _outcome(kind, error)
        self.finish(status, text)

    def _at_exit(self) -> None:
        last = getattr(sys, "last_value", None)  # set when the script died of an exception
        status, text = _outcome(None if last is None else type(last), last)
        self.finish(status, text)

    def _stop_thread(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=60)

    def _close(self) -> None:
        self._closed = True
        atexit.unregister(self._at_exit)


def _outcome(
    kind: type[BaseException] | None, error: BaseException | None
) -> tuple[str, str | None]:
    if kind is None:
        return "finished", None
    if isinstance(error, SystemExit) and error.code in (0, None):
        return "finished", None
    text = f"{kind.__name__}: {error}"[-ERROR_TAIL:]
    if issubclass(kind, KeyboardInterrupt):
        return "stopped", text
    return "failed", text
