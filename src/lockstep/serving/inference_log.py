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
``version``, ``request_id`` and ``row`` (the row's place in its request, from 0: with
the request id, the key ground truth joins on); a multi-output prediction is a
fixed-size list. A flush
is one table built from all its rows at once (cheap: the thread shares the GIL with the
requests). A failed write is logged and its rows dropped; serving goes on. Rows that
cannot be written at all (a model output Parquet cannot hold, say) are dropped alone,
not with the rest of their flush; text is written as valid UTF-8 whatever the client
sent (a lone surrogate as its escape). The thread starts with the first recorded
rows; :meth:`InferenceLog.close` writes what is queued exactly once and stops it, and
rows recorded after that start it again.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from lockstep import fs
from lockstep.errors import ServingError
from lockstep.serving.spec import LogSettings, Signature
from lockstep.serving.tables import PANDAS_DTYPES, Array, as_text

OWN_COLUMNS = ("prediction", "timestamp", "model", "version", "request_id", "row")
logger = logging.getLogger("lockstep.serve.log")

# inputs, predictions, probabilities, (request id, rows kept), time, row positions
_Chunk = tuple[Any, Array, Array | None, list[tuple[str, int]], float, Array]
_STOP = object()


@dataclass(frozen=True)
class _Rows:
    """The rows of one or more chunks, merged."""

    data: Any  # ndarray or DataFrame
    predictions: Array
    proba: Array | None
    ids: list[tuple[str, int]]
    stamps: Array  # int64 microseconds since the epoch, one a row
    positions: Array  # each row's place in its request, from 0


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
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- request path (predict thread) --------------------------------------------------

    def record(
        self, data: Any, predictions: Array, proba: Array | None, ids: list[tuple[str, int]]
    ) -> None:
        rate = self.settings.sample_rate
        if rate <= 0.0:
            return
        positions = np.concatenate([np.arange(n, dtype=np.int32) for _, n in ids])
        if rate < 1.0:
            rows = sum(n for _, n in ids)
            keep = self._rng.random(rows) < rate
            if not keep.any():
                return
            data = data[keep] if isinstance(data, np.ndarray) else data[keep].reset_index(drop=True)
            predictions = predictions[keep]
            proba = None if proba is None else proba[keep]
            ids = _kept_ids(ids, keep)
            positions = positions[keep]
        if self._thread is None:
            self._start()
        self._queue.put((data, predictions, proba, ids, time.time(), positions))

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="lockstep-inference-log", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        """Write what is queued and stop the thread (or write it here if none runs)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._queue.put(_STOP)
            if thread is None:
                self._run()
        if thread is not None:
            thread.join()

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
        """One file of every chunk; when their rows do not make one table, a file a
        chunk, dropping (and logging) only the chunks that cannot be written."""
        try:
            table = self._table(_merged(chunks))
        except Exception:
            if len(chunks) == 1:
                raise
        else:
            self._write_table(table)
            return
        for chunk in chunks:
            try:
                self._write_table(self._table(_merged([chunk])))
            except Exception as exc:
                logger.error(
                    "inference log: could not write %d rows to %s: %s", len(chunk[1]), self.url, exc
                )

    def _write_table(self, table: Any) -> None:
        import pyarrow.parquet as pq

        names = table.column_names
        proba = sorted((n for n in names if n.startswith("proba_")), key=names.index)
        inputs = [c.name for c in self.columns]
        table = table.select([*inputs, "prediction", *proba, *OWN_COLUMNS[1:]])
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        self._seq += 1
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        write_file(self.url, f"{stamp}-{os.getpid()}-{self._seq:06d}.parquet", buffer.getvalue())

    def _table(self, rows: _Rows) -> Any:
        import pyarrow as pa

        data, proba = rows.data, rows.proba
        columns: dict[str, Any] = {}
        for j, column in enumerate(self.columns):
            values = data[:, j] if isinstance(data, np.ndarray) else data[column.name].to_numpy()
            columns[column.name] = _typed(values, column.type)
        columns["prediction"] = _prediction(rows.predictions)
        if proba is not None:
            names = self.classes or list(range(proba.shape[1]))
            for k, name in enumerate(names):
                columns[f"proba_{name}"] = proba[:, k].astype(np.float64)
        count = len(rows.stamps)
        columns["timestamp"] = pa.array(rows.stamps, pa.timestamp("us", tz="UTC"))
        columns["model"] = pa.array([self.model] * count, pa.string())
        columns["version"] = pa.array([self.version] * count, pa.string())
        columns["request_id"] = _strings(rid for rid, n in rows.ids for _ in range(n))
        columns["row"] = pa.array(rows.positions, pa.int32())
        return pa.table(columns)


def _merged(chunks: list[_Chunk]) -> _Rows:
    """The chunks' rows as one block: inputs stacked, probabilities NaN where a chunk
    has none, a timestamp a row."""
    parts = [c[0] for c in chunks]
    if isinstance(parts[0], np.ndarray):
        data = np.vstack(parts)
    else:
        import pandas as pd

        data = pd.concat(parts, ignore_index=True)
    predictions = np.concatenate([c[1] for c in chunks])
    given = [c[2] for c in chunks if c[2] is not None]
    proba = None
    if given:
        width = given[0].shape[1]
        proba = np.concatenate(
            [c[2] if c[2] is not None else np.full((len(c[1]), width), np.nan) for c in chunks]
        )
    counts = [len(c[1]) for c in chunks]
    stamps = np.repeat(np.array([int(c[4] * 1_000_000) for c in chunks], np.int64), counts)
    ids = [pair for c in chunks for pair in c[3]]
    positions = np.concatenate([c[5] for c in chunks])
    return _Rows(data, predictions, proba, ids, stamps, positions)


def _kept_ids(ids: list[tuple[str, int]], keep: Array) -> list[tuple[str, int]]:
    out = []
    start = 0
    for rid, n in ids:
        count = int(keep[start : start + n].sum())
        if count:
            out.append((rid, count))
        start += n
    return out


def _typed(values: Array, kind: str) -> Any:
    if kind == "string":
        return _strings(values.tolist())
    with np.errstate(invalid="ignore"):
        return values.astype(PANDAS_DTYPES[kind])


def _prediction(predictions: Array) -> Any:
    import pyarrow as pa

    if predictions.ndim > 1:
        flat = predictions.reshape(len(predictions), -1)
        return pa.FixedSizeListArray.from_arrays(_prediction(flat.reshape(-1)), flat.shape[1])
    if predictions.dtype.kind in "biuf":
        return pa.array(predictions)
    return _strings(predictions.tolist())


def _strings(values: Iterable[object]) -> Any:
    """A pyarrow string array of ``values`` as text; a lone surrogate (JSON lets a client
    send one) is written as its ``\\udXXX`` escape instead of failing the write."""
    import pyarrow as pa

    texts = [as_text(v) for v in values]
    try:
        return pa.array(texts, pa.string())
    except UnicodeEncodeError:
        return pa.array([_valid(t) for t in texts], pa.string())


def _valid(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
