"""The inference log: a sample of served rows appended to Parquet files.

:meth:`InferenceLog.record` runs on the predict thread after each successful call: it
draws the sample (``sample_rate`` per row), and puts the chosen rows on a queue; that
is all the request path pays. A background thread collects them and writes one new
Parquet file per flush, every ``flush_seconds`` or ``flush_rows`` rows and at
:meth:`InferenceLog.close`, under ``url`` (a local folder or any fsspec URL) as
``<UTC time>-<pid>-<seq>.parquet``, so the files of several workers never collide.
Local files appear atomically (temp file and rename); object stores write whole
objects anyway.

A row holds the input columns (named by the signature), ``prediction``,
``proba_<class>`` when probabilities were computed, ``timestamp`` (UTC), ``model``,
``version`` and ``request_id``. A failed write is logged and its rows dropped; serving
goes on.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from lockstep import fs
from lockstep.errors import ServingError
from lockstep.serving.spec import LogSettings, Signature
from lockstep.serving.tables import PANDAS_DTYPES, Array

OWN_COLUMNS = ("prediction", "timestamp", "model", "version", "request_id")
logger = logging.getLogger("lockstep.serve.log")

_Chunk = tuple[Any, Array, Array | None, list[tuple[str, int]], float]
_STOP = object()


class InferenceLog:
    """Samples rows on the predict thread, writes them on its own thread."""

    def __init__(
        self,
        settings: LogSettings,
        signature: Signature,
        model: str,
        version: str,
        classes: list[Any] | None,
    ) -> None:
        if settings.url is None:
            raise ServingError("the inference log needs a url")
        if not 0.0 <= settings.sample_rate <= 1.0:
            raise ServingError(f"log sample_rate {settings.sample_rate} is not within 0..1")
        clash = [c.name for c in signature.inputs if c.name in OWN_COLUMNS]
        if clash:
            raise ServingError(
                f"input column(s) {', '.join(clash)} clash with the inference log's own columns"
            )
        self.settings = settings
        self.url = settings.url
        self.columns = signature.inputs
        self.model = model
        self.version = version
        self.classes = classes
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._rng = np.random.default_rng()
        self._seq = 0
        self._thread = threading.Thread(target=self._run, name="lockstep-inference-log")
        self._thread.daemon = True
        self._thread.start()

    # -- request path (predict thread) --------------------------------------------------

    def record(
        self, data: Any, predictions: Array, proba: Array | None, ids: list[tuple[str, int]]
    ) -> None:
        rate = self.settings.sample_rate
        if rate <= 0.0:
            return
        if rate < 1.0:
            rows = sum(n for _, n in ids)
            keep = self._rng.random(rows) < rate
            if not keep.any():
                return
            data = data[keep] if isinstance(data, np.ndarray) else data[keep].reset_index(drop=True)
            predictions = predictions[keep]
            proba = None if proba is None else proba[keep]
            ids = _kept_ids(ids, keep)
        self._queue.put((data, predictions, proba, ids, time.time()))

    def close(self) -> None:
        """Write what is queued and stop the thread."""
        self._queue.put(_STOP)
        self._thread.join()

    # -- background thread ----------------------------------------------------------------

    def _run(self) -> None:
        chunks: list[_Chunk] = []
        rows = 0
        deadline = time.monotonic() + self.settings.flush_seconds
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = None
            if item is _STOP:
                self._flush(chunks)
                return
            if item is not None:
                chunk: _Chunk = item  # type: ignore[assignment]
                chunks.append(chunk)
                rows += len(chunk[1])
            if rows >= self.settings.flush_rows or time.monotonic() >= deadline:
                self._flush(chunks)
                chunks, rows = [], 0
                deadline = time.monotonic() + self.settings.flush_seconds

    def _flush(self, chunks: list[_Chunk]) -> None:
        if not chunks:
            return
        try:
            self._write(chunks)
        except Exception as exc:
            count = sum(len(c[1]) for c in chunks)
            logger.error("inference log: could not write %d rows to %s: %s", count, self.url, exc)

    def _write(self, chunks: list[_Chunk]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.concat_tables([self._table(c) for c in chunks], promote_options="default")
        names = table.column_names
        proba = sorted((n for n in names if n.startswith("proba_")), key=names.index)
        inputs = [c.name for c in self.columns]
        table = table.select([*inputs, "prediction", *proba, *OWN_COLUMNS[1:]])
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        self._seq += 1
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        write_file(self.url, f"{stamp}-{os.getpid()}-{self._seq:06d}.parquet", buffer.getvalue())

    def _table(self, chunk: _Chunk) -> Any:
        import pyarrow as pa

        data, predictions, proba, ids, when = chunk
        rows = len(predictions)
        columns: dict[str, Any] = {}
        for j, column in enumerate(self.columns):
            values = data[:, j] if isinstance(data, np.ndarray) else data[column.name].to_numpy()
            columns[column.name] = _typed(values, column.type)
        columns["prediction"] = _prediction(predictions)
        if proba is not None:
            names = self.classes or list(range(proba.shape[1]))
            for k, name in enumerate(names):
                columns[f"proba_{name}"] = proba[:, k].astype(np.float64)
        stamp = pa.array(np.full(rows, int(when * 1_000_000)), pa.timestamp("us", tz="UTC"))
        columns["timestamp"] = stamp
        columns["model"] = pa.array([self.model] * rows, pa.string())
        columns["version"] = pa.array([self.version] * rows, pa.string())
        columns["request_id"] = pa.array([rid for rid, n in ids for _ in range(n)], pa.string())
        return pa.table(columns)


def _kept_ids(ids: list[tuple[str, int]], keep: Array) -> list[tuple[str, int]]:
    out = []
    start = 0
    for rid, n in ids:
        count = int(keep[start : start + n].sum())
        if count:
            out.append((rid, count))
        start += n
    return out


def _typed(values: Array, kind: str) -> Array:
    if kind == "string":
        return values.astype(object)
    with np.errstate(invalid="ignore"):
        return values.astype(PANDAS_DTYPES[kind])


def _prediction(predictions: Array) -> Array:
    if predictions.dtype.kind in "biuf":
        return predictions
    return np.asarray([str(v) for v in predictions.tolist()], dtype=object)


def write_file(url: str, name: str, data: bytes) -> None:
    """``data`` as ``name`` under the folder or fsspec URL ``url``."""
    import fsspec

    filesystem, root = fsspec.core.url_to_fs(url)
    protocol = filesystem.protocol
    protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
    if "file" in protocols or "local" in protocols:
        fs.atomic_write_bytes(Path(root) / name, data)
        return
    with filesystem.open(f"{root.rstrip('/')}/{name}", "wb") as handle:
        handle.write(data)
