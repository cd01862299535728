"""Parsed filters and sort keys as SQL over the tracking tables.

A clause on a metric, param or tag is an ``EXISTS`` on its table (a run without
the key never matches, except ``!=`` on an attribute that is unset). A sort key on
a metric, param or tag is an outer join, so runs without the key sort last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from lockstep.tracking.filter import Clause, Field, OrderKey
from lockstep.tracking.schema import latest_metrics, params, runs, tags

Column = sa.ColumnElement[Any]
_COMPARE: dict[str, Callable[[Column, Any], sa.ColumnElement[bool]]] = {
    "=": lambda col, value: col == value,
    "!=": lambda col, value: col != value,
    "<": lambda col, value: col < value,
    "<=": lambda col, value: col <= value,
    ">": lambda col, value: col > value,
    ">=": lambda col, value: col >= value,
    "like": lambda col, value: col.ilike(value),
}


def select_runs(
    clauses: Sequence[Clause], order: Sequence[OrderKey], limit: int | None
) -> sa.Select[Any]:
    """``SELECT runs.*`` matching every clause, sorted by ``order`` (newest first if none)."""
    source: sa.FromClause = runs
    sort: list[sa.ColumnElement[Any]] = []
    for index, key in enumerate(order):
        source, columns = _sort_source(source, key.field, index)
        for column in columns:
            sort += [_last_if_null(column), _direction(column, key.descending)]
    sort += [runs.c.start_time.desc(), runs.c.id]
    stmt = sa.select(*runs.c).select_from(source).where(*(_condition(c) for c in clauses))
    stmt = stmt.order_by(*sort)
    return stmt if limit is None else stmt.limit(limit)


def _last_if_null(column: Column) -> sa.ColumnElement[Any]:
    return sa.case((column.is_(None), 1), else_=0)


def _direction(column: Column, descending: bool) -> sa.ColumnElement[Any]:
    return column.desc() if descending else column.asc()


def _condition(clause: Clause) -> sa.ColumnElement[bool]:
    kind, key = clause.field.kind, clause.field.key
    compare = _COMPARE[clause.op]
    if kind == "metric":
        return _exists(latest_metrics, key, compare(latest_metrics.c.value, clause.number))
    if kind == "param":
        return _exists(params, key, _param_condition(clause))
    if kind == "tag":
        return _exists(tags, key, compare(tags.c.value, clause.text))
    column = runs.c[key]
    if clause.op == "!=":
        return sa.or_(column.is_(None), column != clause.text)
    return compare(column, clause.text)


def _param_condition(clause: Clause) -> sa.ColumnElement[bool]:
    if clause.number is None or clause.op == "like":
        return _COMPARE[clause.op](params.c.value_text, clause.text)
    column = params.c.value_num
    if clause.op == "!=":
        return sa.or_(column.is_(None), column != clause.number)
    return _COMPARE[clause.op](column, clause.number)


def _exists(table: sa.Table, key: str, condition: sa.ColumnElement[bool]) -> sa.Exists:
    return sa.exists().where(table.c.run_id == runs.c.id, table.c.key == key, condition)


def _sort_source(
    source: sa.FromClause, field: Field, index: int
) -> tuple[sa.FromClause, list[Column]]:
    if field.kind == "attribute":
        return source, [runs.c[field.key]]
    table = {"metric": latest_metrics, "param": params, "tag": tags}[field.kind]
    alias = table.alias(f"sort_{index}")
    joined = source.outerjoin(alias, sa.and_(alias.c.run_id == runs.c.id, alias.c.key == field.key))
    if field.kind == "param":  # numbers first, then text; runs without the param last
        return joined, [alias.c.value_num, alias.c.value_text]
    return joined, [alias.c.value]
