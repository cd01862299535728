"""Reading runs back: table rows become :class:`RunRecord` values here, and go no further."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from lockstep.tracking import schema
from lockstep.tracking.records import RunRecord, utc_from_timestamp
from lockstep.tracking.values import decode_param

CHUNK = 500  # ids per IN (...) list: well below every database's limit on parameters

Pair = Callable[[sa.Row[Any]], tuple[str, Any]]


def records(conn: sa.Connection, rows: Sequence[sa.Row[Any]]) -> list[RunRecord]:
    """Full records of ``rows`` of ``runs``, in their order, in four queries per 500 runs."""
    ids = [row.id for row in rows]
    params = _by_run(conn, schema.params, ids, lambda r: (r.key, decode_param(r.value)))
    metrics = _by_run(conn, schema.latest_metrics, ids, lambda r: (r.key, as_float(r.value)))
    tags = _by_run(conn, schema.tags, ids, lambda r: (r.key, r.value))
    envs = environments(conn, {row.environment_id for row in rows if row.environment_id})
    return [
        _record(
            row,
            params=params.get(row.id, {}),
            metrics=metrics.get(row.id, {}),
            tags=tags.get(row.id, {}),
            environment=envs.get(row.environment_id, {}),
        )
        for row in rows
    ]


def as_float(value: float | None) -> float:
    """A stored metric value; SQLite keeps NaN as NULL."""
    return math.nan if value is None else float(value)


def environments(conn: sa.Connection, digests: set[str]) -> dict[str, dict[str, Any]]:
    table = schema.environments
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunks(sorted(digests)):
        for row in conn.execute(sa.select(table).where(table.c.digest.in_(chunk))):
            found[row.digest] = json.loads(row.body)
    return found


def chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _by_run(
    conn: sa.Connection, table: sa.Table, ids: Sequence[str], pair: Pair
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunks(ids):
        query = sa.select(table).where(table.c.run_id.in_(chunk)).order_by(table.c.key)
        for row in conn.execute(query):
            key, value = pair(row)
            found.setdefault(row.run_id, {})[key] = value
    return found


def _record(row: sa.Row[Any], **details: dict[str, Any]) -> RunRecord:
    return RunRecord(
        id=row.id,
        name=row.name,
        kind=row.kind,
        status=row.status,
        start_time=utc_from_timestamp(row.start_time),
        end_time=None if row.end_time is None else utc_from_timestamp(row.end_time),
        parent_id=row.parent_id,
        stage=row.stage,
        git_commit=row.git_commit,
        dirty=None if row.dirty is None else bool(row.dirty),
        user=row.username,
        outs=json.loads(row.outs),
        fingerprint=row.fingerprint,
        error=row.error,
        params=details["params"],
        metrics=details["metrics"],
        tags=details["tags"],
        environment=details["environment"],
    )
