"""Run one batch of jobs through the model, on the predict thread.

The jobs' inputs are stacked (``np.vstack`` or ``pd.concat``), predicted in one call
(``predict_proba`` too when any job asks for it) and split back by row counts, so each
request gets exactly its rows. When the batch's call raises, each job is run again on
its own: the one the model rejects gets a 422 with the model's one-line message, the
others their predictions. Predictions also go to the inference log, off the request
path.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from lockstep.serving.batching import Job, Outcome
from lockstep.serving.flavors import LoadedModel, one_line
from lockstep.serving.tables import Array


class _BatchObserver(Protocol):
    def observe_batch(self, rows: int, requests: int) -> None: ...


class _Log(Protocol):
    def record(
        self, data: Any, predictions: Array, proba: Array | None, ids: list[tuple[str, int]]
    ) -> None: ...


class ModelOutputError(Exception):
    """The model answered with the wrong number of rows: the server's fault, a 500."""


class Predictor:
    """The batcher's executor function for one model."""

    def __init__(self, model: LoadedModel, metrics: _BatchObserver, log: _Log | None) -> None:
        self.model = model
        self.metrics = metrics
        self.log = log

    def __call__(self, jobs: list[Job]) -> list[Outcome]:
        if len(jobs) == 1:
            return [self._alone(jobs[0])]
        data = _stack([job.data for job in jobs])
        rows = sum(job.rows for job in jobs)
        try:
            predictions, proba = self._predict(data, rows, any(j.proba for j in jobs))
        except Exception:
            return [self._alone(job) for job in jobs]
        self.metrics.observe_batch(rows, len(jobs))
        self._log(data, predictions, proba, jobs)
        outcomes = []
        start = 0
        for job in jobs:
            end = start + job.rows
            outcomes.append(
                Outcome(
                    predictions[start:end],
                    proba[start:end] if proba is not None and job.proba else None,
                    batch_rows=rows,
                )
            )
            start = end
        return outcomes

    def _alone(self, job: Job) -> Outcome:
        try:
            predictions, proba = self._predict(job.data, job.rows, job.proba)
        except ModelOutputError as exc:
            return Outcome(error=str(exc), status=500, batch_rows=job.rows)
        except Exception as exc:
            message = f"the model rejected the input: {type(exc).__name__}: {one_line(exc)}"
            return Outcome(error=message, status=422, batch_rows=job.rows)
        self.metrics.observe_batch(job.rows, 1)
        self._log(job.data, predictions, proba, [job])
        return Outcome(predictions, proba, batch_rows=job.rows)

    def _predict(self, data: Any, rows: int, want_proba: bool) -> tuple[Array, Array | None]:
        predictions = self.model.predict(data)
        if predictions.ndim == 0:
            raise ModelOutputError(f"the model returned one value for {rows} rows")
        if predictions.ndim == 2 and predictions.shape[1] == 1:
            predictions = predictions.ravel()
        if len(predictions) != rows:
            raise ModelOutputError(f"the model returned {len(predictions)} rows for {rows}")
        proba = self.model.predict_proba(data) if want_proba else None
        if proba is not None and (proba.ndim != 2 or len(proba) != rows):
            raise ModelOutputError(
                f"the model returned probabilities of shape {list(proba.shape)} for {rows} rows"
            )
        return predictions, proba

    def _log(self, data: Any, predictions: Array, proba: Array | None, jobs: list[Job]) -> None:
        if self.log is not None:
            self.log.record(data, predictions, proba, [(j.request_id, j.rows) for j in jobs])


def _stack(parts: list[Any]) -> Any:
    if isinstance(parts[0], np.ndarray):
        return np.vstack(parts)
    import pandas as pd

    return pd.concat(parts, ignore_index=True)
