"""Adaptive batching: concurrent requests share one predict call.

Requests are queued on the event loop; one worker task takes as many as fit in
``max_batch_size`` rows and runs them as one call on a single executor thread, so the
loop keeps accepting and decoding while the model works. Batches form by themselves:
requests that arrive while a batch runs make up the next one. Before starting a batch
the worker waits up to ``max_latency_ms`` for more, but only while other requests are
in flight (entered a handler and are still reading or decoding their body, tracked by
:meth:`Batcher.enter`/:meth:`Batcher.leave`) and started less than ``max_latency_ms``
ago, so a lone request is never delayed, not even by a client trickling in a large
body (which cannot make this batch anyway).

A request larger than ``max_batch_size`` runs alone. The executor function gets the
jobs of a batch and returns one outcome per job, in order; what a batch's failure
means for its jobs is its business (see :mod:`.predictor`): if it raises anyway, or
returns the wrong number of outcomes, every job of that batch gets the exception and
the worker goes on. A request whose caller went away (its future cancelled) is
dropped from the queue. :meth:`Batcher.close` runs what is queued and stops;
:meth:`Batcher.open` makes a closed batcher serve again (an app's lifespan may run
more than once, as in tests).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lockstep.serving.tables import Array


@dataclass(slots=True)
class Job:
    """One request's share of a batch."""

    data: Any  # the model input: an ndarray or a DataFrame
    rows: int
    proba: bool
    request_id: str


@dataclass(slots=True)
class Outcome:
    """What one job gets back: its predictions, or why there are none."""

    predictions: Array | None = None
    proba: Array | None = None
    error: str | None = None
    status: int = 200
    batch_rows: int = 0


Execute = Callable[[list[Job]], list[Outcome]]
_Entry = tuple[Job, "asyncio.Future[Outcome]"]


class Batcher:
    """Queues jobs and runs them in batches on one executor thread."""

    def __init__(self, execute: Execute, max_rows: int, max_latency_ms: float) -> None:
        self._execute = execute
        self._max_rows = max(1, max_rows)
        self._latency = max(0.0, max_latency_ms) / 1000.0
        self._pending: deque[_Entry] = deque()
        self._pending_rows = 0
        self._arriving: dict[int, float] = {}  # ticket: when it entered (monotonic)
        self._tickets = 0
        self._wake: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._executor = _executor()

    def open(self) -> None:
        """Serve again after :meth:`close` (a no-op on a batcher that is open)."""
        if self._closing:
            self._closing = False
            self._executor = _executor()

    def enter(self) -> int:
        """A request is on its way to :meth:`submit`: worth waiting for, for a while.
        Returns the ticket to :meth:`leave` with."""
        self._tickets += 1
        self._arriving[self._tickets] = time.monotonic()
        return self._tickets

    def leave(self, ticket: int) -> None:
        """The request is submitted or has given up."""
        self._arriving.pop(ticket, None)
        self._poke()

    async def submit(self, job: Job) -> Outcome:
        loop = asyncio.get_running_loop()
        if self._closing:
            return Outcome(error="the server is shutting down", status=503)
        future: asyncio.Future[Outcome] = loop.create_future()
        self._pending.append((job, future))
        self._pending_rows += job.rows
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._worker())
        self._poke()
        return await future

    async def close(self) -> None:
        """Run what is queued, then stop the worker and the executor thread."""
        self._closing = True
        self._poke()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown)

    def _poke(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _sleep(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        self._wake = loop.create_future()
        handle = None if timeout is None else loop.call_later(timeout, self._poke)
        try:
            await self._wake
        finally:
            self._wake = None
            if handle is not None:
                handle.cancel()

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    return
                await self._sleep(None)
                continue
            await self._gather(loop)
            batch = self._take()
            if batch:
                await self._run(loop, batch)

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Entry]) -> None:
        try:
            outcomes = await loop.run_in_executor(
                self._executor, self._execute, [job for job, _ in batch]
            )
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} outcomes for a batch of {len(batch)}")
        except Exception as exc:  # the executor function failed as a whole
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait for requests in flight, up to the latency budget and the batch size."""
        if not self._arriving or self._latency <= 0:
            return
        deadline = loop.time() + self._latency
        while self._fresh() and self._pending_rows < self._max_rows and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await self._sleep(remaining)

    def _fresh(self) -> bool:
        """Whether a request in flight started within the latency budget."""
        since = time.monotonic() - self._latency
        return any(start > since for start in self._arriving.values())

    def _take(self) -> list[_Entry]:
        batch: list[_Entry] = []
        rows = 0
        while self._pending:
            job, future = self._pending[0]
            if batch and rows + job.rows > self._max_rows:
                break
            self._pending.popleft()
            rows += job.rows
            if not future.done():  # a cancelled request is dropped
                batch.append((job, future))
        self._pending_rows -= rows
        return batch


def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(1, thread_name_prefix="lockstep-predict")
