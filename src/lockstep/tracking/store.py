"""The tracking store: runs, their params, metrics and tags in one SQL database.

SQLite (the default, ``.lockstep/runs.db``) or PostgreSQL, through SQLAlchemy
Core; the schema is in :mod:`lockstep.tracking.schema`, brought up to date by
:meth:`TrackingStore.open`. Every write is one transaction, and a batch of
metric points is one ``executemany`` plus one upsert of the latest values, so
several processes can log into one database at once and lose nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from lockstep.errors import InputError, UnknownRunError
from lockstep.tracking import load, schema
from lockstep.tracking.context import environment_info
from lockstep.tracking.database import make_engine, translate, upsert, writer
from lockstep.tracking.filter import parse_filter, parse_order
from lockstep.tracking.migrate import ensure_schema
from lockstep.tracking.query import select_runs
from lockstep.tracking.records import MetricPoint, RunRecord, check_kind, check_status
from lockstep.tracking.uri import normalize, redact, resolve_uri
from lockstep.tracking.values import check_key, check_text, encode_param, metric_value, tag_value

__all__ = ["TrackingStore", "environment_info", "resolve_uri"]

_HEX = re.compile(r"[0-9a-f]{1,32}")
_AMBIGUOUS_SHOWN = 5


class TrackingStore:
    """One tracking database. Open it with :meth:`open`; close it when done."""

    def __init__(self, engine: sa.Engine, uri: str) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self.uri = uri
        self.label = redact(uri)

    @classmethod
    def open(cls, uri: str) -> TrackingStore:
        """Connect to ``uri``, creating or migrating its schema when needed."""
        uri = normalize(uri)
        engine = make_engine(uri)
        try:
            with translate(redact(uri)):
                ensure_schema(engine, redact(uri))
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, uri)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> TrackingStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TrackingStore({self.label!r})"

    # --- writes -----------------------------------------------------------------------

    def create_run(
        self,
        *,
        kind: str,
        name: str | None = None,
        parent_id: str | None = None,
        stage: str | None = None,
        git_commit: str | None = None,
        dirty: bool | None = None,
        user: str | None = None,
        environment: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        fingerprint: str | None = None,
        status: str = "running",
    ) -> str:
        """Record a new run, started now; its id (32 hex digits). A run created with a
        status other than ``running`` (a stage restored from cache) is already over."""
        run_id = uuid.uuid4().hex
        now = time.time()
        env = _environment_row(environment)
        row = {
            "id": run_id,
            "name": _optional_text(name, "run name"),
            "kind": check_kind(kind),
            "parent_id": parent_id,
            "stage": _optional_text(stage, "stage name"),
            "status": check_status(status),
            "git_commit": git_commit,
            "dirty": dirty,
            "username": _optional_text(user, "user name"),
            "start_time": now,
            "end_time": None if status == "running" else now,
            "outs": "{}",
            "environment_id": env["digest"] if env else None,
            "fingerprint": fingerprint,
            "error": None,
        }
        param_rows, tag_rows = _param_rows(run_id, params), _tag_rows(run_id, tags)
        with self._write() as conn:
            upsert(conn, schema.environments, [env] if env else [], update=())
            conn.execute(sa.insert(schema.runs), row)
            _write_params(conn, param_rows)
            _write_tags(conn, tag_rows)
        return run_id

    def finish_run(
        self,
        run_id: str,
        status: str,
        *,
        outs: Mapping[str, str] | None = None,
        metrics: Mapping[str, float] | None = None,
        error: str | None = None,
    ) -> None:
        """Record the end of a run: its status, outputs (path to ``sha256:<hex>``),
        final metrics (they become the latest values) and the error text of a failure."""
        now = time.time()
        values: dict[str, Any] = {"status": check_status(status)}
        values["end_time"] = None if status == "running" else now
        if outs is not None:
            values["outs"] = json.dumps(dict(outs), sort_keys=True)
        if error is not None:
            values["error"] = error.replace("\x00", "")
        with self._write(run_id) as conn:
            update = sa.update(schema.runs).where(schema.runs.c.id == run_id).values(values)
            if conn.execute(update).rowcount == 0:
                raise UnknownRunError(run_id)
            if metrics:
                _write_metrics(conn, run_id, _final_points(conn, run_id, metrics, now))

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Set parameters (JSON values; a key logged again takes the new value)."""
        self.log_batch(run_id, params=params)

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        """Append metric points; each key's latest value follows (highest step, then newest)."""
        self.log_batch(run_id, metrics=points)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.log_batch(run_id, tags=tags)

    def log_batch(
        self,
        run_id: str,
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Sequence[MetricPoint] = (),
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Params, metric points and tags of one run in one transaction."""
        param_rows, tag_rows = _param_rows(run_id, params), _tag_rows(run_id, tags)
        if not (param_rows or metrics or tag_rows):
            return
        with self._write(run_id) as conn:
            _write_params(conn, param_rows)
            _write_metrics(conn, run_id, metrics)
            _write_tags(conn, tag_rows)

    # --- reads ------------------------------------------------------------------------

    def get_run(self, ref: str) -> RunRecord:
        """The run whose id is ``ref`` or starts with it (UnknownRunError when none or
        several do)."""
        with self._read() as conn:
            run_id = _resolve(conn, ref)
            row = conn.execute(sa.select(schema.runs).where(schema.runs.c.id == run_id)).one()
            return load.records(conn, [row])[0]

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every point of one metric, by step then time."""
        table = schema.metrics
        query = (
            sa.select(table.c.value, table.c.step, table.c.timestamp)
            .where(table.c.run_id == run_id, table.c.key == key)
            .order_by(table.c.step, table.c.timestamp, table.c.id)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [MetricPoint(key, load.as_float(r.value), r.step, r.timestamp) for r in rows]

    def metric_counts(self, run_id: str) -> dict[str, int]:
        """How many points each metric of the run has."""
        table = schema.metrics
        query = (
            sa.select(table.c.key, sa.func.count())
            .where(table.c.run_id == run_id)
            .group_by(table.c.key)
            .order_by(table.c.key)
        )
        with self._read() as conn:
            return {key: int(count) for key, count in conn.execute(query).all()}

    def search(
        self, filter: str | None = None, order_by: str | None = None, limit: int | None = None
    ) -> list[RunRecord]:
        """Runs matching ``filter`` (see :mod:`lockstep.tracking.filter`), sorted by
        ``order_by`` (newest first by default), at most ``limit`` of them."""
        if limit is not None and limit < 0:
            raise InputError(f"limit must be 0 or more, not {limit}")
        query = select_runs(parse_filter(filter or ""), parse_order(order_by or ""), limit)
        with self._read() as conn:
            return load.records(conn, conn.execute(query).all())

    # --- connections ------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self, run_id: str | None = None) -> Iterator[sa.Connection]:
        with translate(self.label, run_id), self._writer.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with translate(self.label), self._engine.connect() as conn:
            yield conn


def _optional_text(value: str | None, what: str) -> str | None:
    return None if value is None else check_text(value, what)


def _environment_row(environment: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not environment:
        return None
    body = json.dumps(dict(environment), sort_keys=True, separators=(",", ":"), default=str)
    return {"digest": hashlib.sha256(body.encode()).hexdigest(), "body": body}


def _param_rows(run_id: str, params: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for key, value in sorted((params or {}).items()):
        encoded = encode_param(check_key(key, "param"), value)
        rows.append(
            {
                "run_id": run_id,
                "key": key,
                "value": encoded.json,
                "value_text": encoded.text,
                "value_num": encoded.number,
            }
        )
    return rows


def _tag_rows(run_id: str, tags: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [
        {"run_id": run_id, "key": check_key(key, "tag"), "value": tag_value(key, value)}
        for key, value in sorted((tags or {}).items())
    ]


def _write_params(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    upsert(conn, schema.params, rows, update=("value", "value_text", "value_num"))


def _write_tags(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    upsert(conn, schema.tags, rows, update=("value",))


def _write_metrics(conn: sa.Connection, run_id: str, points: Sequence[MetricPoint]) -> None:
    if not points:
        return
    rows = [
        {"run_id": run_id, "key": p.key, "step": p.step, "value": p.value, "timestamp": p.timestamp}
        for p in points
    ]
    conn.execute(sa.insert(schema.metrics), rows)
    upsert(
        conn,
        schema.latest_metrics,
        _latest_rows(rows),
        update=("value", "step", "timestamp"),
        where=_newer,
    )


def _latest_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per key, the row with the highest (step, timestamp); the later one on a tie."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        held = latest.get(row["key"])
        if held is None or (row["step"], row["timestamp"]) >= (held["step"], held["timestamp"]):
            latest[row["key"]] = row
    return [latest[key] for key in sorted(latest)]  # one lock order for every writer


def _newer(new: Any, old: Any) -> sa.ColumnElement[bool]:
    return sa.or_(
        new.step > old.step, sa.and_(new.step == old.step, new.timestamp >= old.timestamp)
    )


def _final_points(
    conn: sa.Connection, run_id: str, metrics: Mapping[str, float], now: float
) -> list[MetricPoint]:
    """Final values, at each key's latest step so they become the latest values."""
    table = schema.latest_metrics
    query = sa.select(table.c.key, table.c.step).where(
        table.c.run_id == run_id, table.c.key.in_(list(metrics))
    )
    steps = {key: step for key, step in conn.execute(query).all()}
    return [
        MetricPoint(check_key(key, "metric"), metric_value(key, value), steps.get(key, 0), now)
        for key, value in sorted(metrics.items())
    ]


def _resolve(conn: sa.Connection, ref: str) -> str:
    wanted = ref.strip().lower()
    if _HEX.fullmatch(wanted) is None:
        raise UnknownRunError(ref, "not a run id (up to 32 hexadecimal digits)")
    ids = schema.runs.c.id
    query = sa.select(ids).where(ids >= wanted, ids < wanted + "g").order_by(ids)
    found = [
        i for i in conn.execute(query.limit(_AMBIGUOUS_SHOWN + 1)).scalars() if i.startswith(wanted)
    ]
    if not found:
        raise UnknownRunError(ref)
    if len(found) > 1:
        shown = ", ".join(i[:12] for i in found[:_AMBIGUOUS_SHOWN])
        more = " and more" if len(found) > _AMBIGUOUS_SHOWN else ""
        raise UnknownRunError(ref, f"ambiguous: runs {shown}{more} all start with it")
    return str(found[0])
