"""The batcher with a real model: batched answers are the unbatched ones, split back per
request; a request the model rejects fails alone; a lone request is not delayed."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pandas as pd
import pytest

from lockstep.serving import flavors
from lockstep.serving.batching import Batcher, Job, Outcome
from lockstep.serving.metrics import Metrics
from lockstep.serving.predictor import Predictor
from tests.serving.conftest import Trained, make_spec


def _setup(
    trained: Trained, max_rows: int = 32, latency_ms: float = 2.0
) -> tuple[Batcher, Metrics]:
    spec = make_spec(trained)
    metrics = Metrics(spec)
    batcher = Batcher(Predictor(flavors.load(spec), metrics, None), max_rows, latency_ms)
    return batcher, metrics


def _sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, {"model": "m", "version": "1.0.0", **labels})
    return value or 0.0


def test_batched_results_are_the_unbatched_ones(lr: Trained) -> None:
    batcher, metrics = _setup(lr)
    rng = np.random.default_rng(7)
    parts = [rng.normal(size=(int(rng.integers(1, 4)), 20)) for _ in range(50)]

    async def run() -> list[Outcome]:
        jobs = [Job(p, len(p), i % 2 == 0, f"r{i}") for i, p in enumerate(parts)]
        outcomes = await asyncio.gather(*(batcher.submit(job) for job in jobs))
        await batcher.close()
        return list(outcomes)

    outcomes = asyncio.run(run())
    for i, (part, outcome) in enumerate(zip(parts, outcomes, strict=True)):
        assert outcome.error is None
        np.testing.assert_array_equal(outcome.predictions, lr.model.predict(part))
        if i % 2 == 0:
            # BLAS may round the last bit differently for another row count.
            np.testing.assert_allclose(outcome.proba, lr.model.predict_proba(part), rtol=1e-13)
        else:
            assert outcome.proba is None
    calls = _sample(metrics, "lockstep_batch_rows_count")
    assert calls < 50
    assert _sample(metrics, "lockstep_batch_rows_sum") == sum(len(p) for p in parts)
    assert _sample(metrics, "lockstep_batch_rows_bucket", le="32.0") == calls


def test_a_rejected_request_fails_alone(pipeline: Trained) -> None:
    batcher, _ = _setup(pipeline)
    frames = [pipeline.sample.iloc[[i]].reset_index(drop=True) for i in range(6)]
    bad = pd.DataFrame({"age": [30.0], "city": ["atlantis"], "visits": [1]})
    frames.insert(3, bad)

    async def run() -> list[Outcome]:
        jobs = [Job(f, 1, True, f"r{i}") for i, f in enumerate(frames)]
        outcomes = await asyncio.gather(*(batcher.submit(job) for job in jobs))
        await batcher.close()
        return list(outcomes)

    outcomes = asyncio.run(run())
    failed = outcomes.pop(3)
    assert failed.status == 422 and failed.predictions is None
    assert failed.error is not None
    assert failed.error.startswith("the model rejected the input: ValueError: ")
    assert "atlantis" in failed.error and "Traceback" not in failed.error
    expected = pipeline.model.predict(pipeline.sample)
    assert [int(o.predictions[0]) for o in outcomes] == expected.tolist()


def test_a_lone_request_is_not_delayed_and_batches_respect_the_size(lr: Trained) -> None:
    batcher, metrics = _setup(lr, max_rows=4, latency_ms=500)

    async def run() -> float:
        start = time.perf_counter()
        await batcher.submit(Job(lr.sample[:1], 1, False, "lone"))
        took = time.perf_counter() - start
        await asyncio.gather(
            *(batcher.submit(Job(lr.sample[i : i + 1], 1, False, "r")) for i in range(8))
        )
        big = await batcher.submit(Job(lr.sample, 8, False, "big"))
        assert big.batch_rows == 8 and big.predictions is not None and len(big.predictions) == 8
        await batcher.close()
        return took

    assert asyncio.run(run()) < 0.25
    assert (
        _sample(metrics, "lockstep_batch_rows_bucket", le="4.0")
        == _sample(metrics, "lockstep_batch_rows_count") - 1
    )


def test_the_batch_waits_for_requests_in_flight(lr: Trained) -> None:
    batcher, metrics = _setup(lr, latency_ms=300)

    async def late(ticket: int) -> Outcome:
        await asyncio.sleep(0.05)
        batcher.leave(ticket)
        return await batcher.submit(Job(lr.sample[1:2], 1, False, "late"))

    async def run() -> list[Outcome]:
        ticket = batcher.enter()
        outcomes = await asyncio.gather(
            batcher.submit(Job(lr.sample[:1], 1, False, "early")), late(ticket)
        )
        await batcher.close()
        return list(outcomes)

    early, later = asyncio.run(run())
    assert early.batch_rows == later.batch_rows == 2
    assert _sample(metrics, "lockstep_batch_requests_count") == 1


def test_a_slow_upload_does_not_delay_everyone(lr: Trained) -> None:
    """A client trickling in its body kept every batch waiting the whole latency budget
    for it: one slow uploader took a lone request from 0.4 ms to the budget and more."""
    batcher, metrics = _setup(lr, latency_ms=200)

    async def run() -> list[float]:
        slow = batcher.enter()  # reading its body for a long time yet
        await asyncio.sleep(0.25)
        took = []
        for i in range(3):
            start = time.perf_counter()
            await batcher.submit(Job(lr.sample[i : i + 1], 1, False, f"lone{i}"))
            took.append(time.perf_counter() - start)
        batcher.leave(slow)
        await batcher.close()
        return took

    assert max(asyncio.run(run())) < 0.1
    assert _sample(metrics, "lockstep_batch_requests_count") == 3


def test_closing_runs_what_is_queued(lr: Trained) -> None:
    batcher, _ = _setup(lr)

    async def run() -> list[Outcome]:
        tasks = [
            asyncio.ensure_future(batcher.submit(Job(lr.sample[:2], 2, False, "q")))
            for _ in range(5)
        ]
        await asyncio.sleep(0)
        await batcher.close()
        after = await batcher.submit(Job(lr.sample[:1], 1, False, "after"))
        return [*(await asyncio.gather(*tasks)), after]

    outcomes = asyncio.run(run())
    assert all(o.error is None for o in outcomes[:5])
    assert outcomes[5].status == 503


def test_a_broken_executor_fails_its_batch_and_the_batcher_goes_on() -> None:
    """An executor function that returns the wrong number of outcomes used to kill the
    worker task: every later request waited forever."""
    calls: list[int] = []

    def execute(jobs: list[Job]) -> list[Outcome]:
        calls.append(len(jobs))
        if len(calls) == 1:
            return []
        if len(calls) == 2:
            raise RuntimeError("boom")
        return [Outcome(predictions=np.zeros(job.rows)) for job in jobs]

    batcher = Batcher(execute, 32, 0.0)
    job = Job(np.zeros((1, 2)), 1, False, "r")

    async def run() -> list[Outcome]:
        with pytest.raises(RuntimeError, match="0 outcomes for a batch of 1"):
            await asyncio.wait_for(batcher.submit(job), 5)
        with pytest.raises(RuntimeError, match="boom"):
            await asyncio.wait_for(batcher.submit(job), 5)
        first = await asyncio.wait_for(batcher.submit(job), 5)
        await batcher.close()
        batcher.open()  # an app whose lifespan starts again
        again = await asyncio.wait_for(batcher.submit(job), 5)
        await batcher.close()
        return [first, again]

    assert all(o.error is None for o in asyncio.run(run()))


def test_requests_cancelled_mid_batch_leave_nothing_behind() -> None:
    release = threading.Event()
    seen: list[list[str]] = []

    def execute(jobs: list[Job]) -> list[Outcome]:
        seen.append([job.request_id for job in jobs])
        release.wait(5)
        return [Outcome(predictions=np.zeros(job.rows)) for job in jobs]

    batcher = Batcher(execute, 32, 0.0)

    async def run() -> list[Outcome]:
        def submit(name: str) -> asyncio.Task[Outcome]:
            return asyncio.ensure_future(batcher.submit(Job(np.zeros((1, 2)), 1, False, name)))

        running = submit("running")
        await asyncio.sleep(0.05)
        gone, queued, also_gone = submit("gone"), submit("queued"), submit("also-gone")
        await asyncio.sleep(0.01)
        for task in (gone, running, also_gone):  # "running" is in the executor already
            task.cancel()
        release.set()
        outcome = await queued
        await batcher.close()
        return [outcome]

    assert asyncio.run(run())[0].error is None
    assert seen == [["running"], ["queued"]]
    assert not batcher._pending and batcher._pending_rows == 0
