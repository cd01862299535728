"""MLflow's scoring protocol: ``POST /invocations``.

``application/json`` bodies hold exactly one of

* ``dataframe_split``: ``{"columns": [...], "data": [[...], ...], "index"?: [...]}``;
* ``dataframe_records``: ``[{column: value, ...}, ...]``;
* ``instances`` / ``inputs``: a list of rows (lists), a list of records (objects), a
  list of scalars for a one-column model, or an object of columns (``{name: [values]}``,
  or ``{name: value}`` for one row);

plus optional ``params`` (``{"predict_proba": true}`` answers probabilities instead of
labels). ``text/csv`` bodies have a header row naming the columns. The answer is
``{"predictions": [...]}``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from lockstep.serving.spec import Column
from lockstep.serving.tables import (
    NULLABLE,
    Array,
    InputBuilder,
    ModelInput,
    RequestError,
    as_text,
    finite_or_none,
    shown,
)

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


@dataclass(frozen=True)
class InvocationsRequest:
    input: ModelInput
    proba: bool


def decode(
    body: bytes, content_type: str, builder: InputBuilder, has_proba: bool
) -> InvocationsRequest:
    """A scoring request checked against the signature; RequestError if not."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "text/csv":
        return InvocationsRequest(_csv(body, builder), False)
    if media not in ("application/json", ""):
        raise RequestError(
            415, f"unsupported Content-Type {shown(media)}: use application/json or text/csv"
        )
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RequestError(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise RequestError(400, f"the body must be a JSON object with one of {', '.join(FORMATS)}")
    given = [k for k in FORMATS if k in doc]
    unknown = sorted(str(k) for k in doc if k not in FORMATS and k != "params")
    if len(given) != 1 or unknown:
        found = f"; unknown field(s): {', '.join(unknown)}" if unknown else ""
        raise RequestError(
            400,
            f"the body needs exactly one of {', '.join(FORMATS)}, "
            f"got {', '.join(given) or 'none'}{found}",
        )
    proba = _proba(doc.get("params"), has_proba)
    key = given[0]
    value = doc[key]
    if key == "dataframe_split":
        return InvocationsRequest(_split(value, builder), proba)
    if key == "dataframe_records":
        return InvocationsRequest(_records(value, builder, key), proba)
    return InvocationsRequest(_instances(value, builder, key), proba)


def encode(result: Array) -> bytes:
    """``{"predictions": [...]}``; values JSON has no type for (bytes, numpy scalars in
    an object array, dates, decimals) become numbers or text instead of a 500, NaN and
    infinities null."""
    if result.dtype.kind in "Mm":
        result = result.astype(str)
    doc = {"predictions": finite_or_none(result).tolist()}
    return json.dumps(doc, separators=(",", ":"), default=_jsonable).encode()


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return as_text(value)


def _proba(params: object, has_proba: bool) -> bool:
    if params is None:
        return False
    if not isinstance(params, dict):
        raise RequestError(400, "'params' must be an object")
    value = params.get("predict_proba", False)
    if not isinstance(value, bool):
        raise RequestError(400, "params.predict_proba must be true or false")
    if value and not has_proba:
        raise RequestError(400, "params.predict_proba: the model has no predict_proba")
    return value


def _unique(columns: list[Any], where: str) -> None:
    if not all(isinstance(c, str) for c in columns):
        raise RequestError(400, f"{where} must be a list of column names")
    if len(set(columns)) != len(columns):
        twice = sorted({c for c in columns if columns.count(c) > 1})
        raise RequestError(422, f"{where}: column(s) given twice: {', '.join(map(repr, twice))}")


def _split(value: object, builder: InputBuilder) -> ModelInput:
    if not isinstance(value, dict):
        raise RequestError(400, "dataframe_split must be an object {columns, data}")
    data = value.get("data")
    columns = value.get("columns")
    if columns is None or columns == builder.names:
        return builder.from_rows(data, "dataframe_split.data")
    if not isinstance(columns, list):
        raise RequestError(400, "dataframe_split.columns must be a list of column names")
    _unique(columns, "dataframe_split.columns")
    builder.check_names(columns, "dataframe_split.columns")
    if not isinstance(data, list):
        raise RequestError(400, "dataframe_split.data must be a list of rows")
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise RequestError(
                422, f"dataframe_split.data[{i}] must be a list of {len(columns)} values"
            )
    return builder.from_columns({c: [row[j] for row in data] for j, c in enumerate(columns)})


def _records(value: object, builder: InputBuilder, where: str) -> ModelInput:
    if not isinstance(value, list):
        raise RequestError(400, f"{where} must be a list of objects")
    if not value:
        raise RequestError(422, f"{where} holds no rows")
    for i, record in enumerate(value):
        if not isinstance(record, dict):
            raise RequestError(422, f"{where}[{i}] must be an object of column values")
        builder.check_names(record.keys(), f"{where}[{i}]")
    return builder.from_columns({n: [r[n] for r in value] for n in builder.names})


def _instances(value: object, builder: InputBuilder, where: str) -> ModelInput:
    if isinstance(value, dict):
        return _column_object(value, builder, where)
    if not isinstance(value, list):
        raise RequestError(400, f"{where} must be a list of rows or records, or an object")
    if not value:
        raise RequestError(422, f"{where} holds no rows")
    first = value[0]
    if isinstance(first, dict):
        return _records(value, builder, where)
    if isinstance(first, list):
        return builder.from_rows(value, where)
    if builder.width == 1:
        return builder.from_rows([[v] for v in value], where)
    raise RequestError(
        422,
        f"{where} must hold rows (lists) or records (objects); "
        f"the model takes {builder.width} columns",
    )


def _column_object(value: dict[str, Any], builder: InputBuilder, where: str) -> ModelInput:
    builder.check_names(value.keys(), where)
    lists = [isinstance(v, list) for v in value.values()]
    if all(lists):
        return builder.from_columns(value)
    if not any(lists):
        return builder.from_columns({k: [v] for k, v in value.items()})
    raise RequestError(422, f"{where}: give every column a list of values, or one value each")


def _csv(body: bytes, builder: InputBuilder) -> ModelInput:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RequestError(400, "the CSV body is not UTF-8") from exc
    try:
        lines = [row for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as exc:
        raise RequestError(400, f"the CSV body cannot be parsed: {exc}") from exc
    if not lines:
        raise RequestError(400, "the CSV body is empty; it needs a header row")
    header, rows = lines[0], lines[1:]
    _unique(header, "CSV header")
    builder.check_names(header, "CSV header")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise RequestError(
                422, f"CSV row {number}: {len(row)} values, the header has {len(header)}"
            )
    columns = {}
    for j, name in enumerate(header):
        column = builder.columns[builder.index[name]]
        columns[name] = [_csv_value(column, row[j]) for row in rows]
    return builder.from_columns(columns)


def _csv_value(column: Column, text: str) -> object:
    if column.type == "string":
        return text
    value = text.strip()
    if value == "" and column.type in NULLABLE:
        return None
    if column.type == "boolean" and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    try:
        return float(value)
    except ValueError:
        raise RequestError(
            422, f"CSV column {column.name!r} ({column.type}): {shown(text)} is not a number"
        ) from None
