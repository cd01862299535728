"""Infer, read and apply data schemas, in pandera's own YAML format.

A schema file is what ``pandera.DataFrameSchema.to_yaml()`` writes (pandera
0.35 shown; ``DataFrameSchema.from_yaml()`` reads it back)::

    schema_type: dataframe
    api: pandas
    columns:
      age:
        dtype: int64
        greater_than_or_equal_to: 18.0     # a check: pandera's Check method name
        less_than_or_equal_to: 97.0        #   and its argument
      city:
        dtype: string[pyarrow]
        nullable: true
    coerce: true
    strict: true

To what pandera infers lockstep adds ``strict: true`` (a column the schema does
not list is a failure) and leaves out the index: the loader numbers the rows,
and row numbers are not data. Dates and times in checks are written as text
(``'2024-01-01 00:00:00+00:00'``), which pandas compares with datetime columns,
with or without a timezone.

When reading, a key under a column that is neither a column option nor a check
pandera knows is an error, not ignored, and so is a value of the wrong type: a
check's argument must suit the column's dtype (a number to compare numbers with,
a date or time for datetimes, a list for ``isin``, a valid regular expression for
``str_matches``), column options such as ``nullable`` must be true or false.
Dates YAML reads as dates become text, as the schemas lockstep writes have them.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep.datacheck.report import TABLE, ColumnFailure, ColumnSpec, SchemaReport, first_line
from lockstep.datacheck.strict import check_layout, parse_yaml
from lockstep.errors import InputError, PathError, SchemaFileError

if TYPE_CHECKING:
    import pandas as pd
    from pandera.api.pandas.container import DataFrameSchema

SCHEMA_SUFFIX = ".schema.yaml"
MAX_EXAMPLES = 5
_COLUMN_EXISTS = ("column_in_dataframe", "column_in_schema")
_NO_VALUE = object()  # a failure case that is a column name, not a value

Grouped = dict[tuple[str, str], list[object]]  # (column, check) -> failing values


@dataclass(frozen=True)
class _Verbatim:
    """An example shown as it is, not quoted like a string value."""

    text: str

    def __str__(self) -> str:
        return self.text


def schema_path_for(path: Path) -> Path:
    """Where ``infer-schema`` writes by default: ``PATH.schema.yaml`` beside the data."""
    named = path if path.name else path.resolve()
    return named.with_name(named.name + SCHEMA_SUFFIX)


def infer_schema(frame: pd.DataFrame, source: str = "the data") -> str:
    """The YAML text of the schema pandera infers for ``frame``.

    Dtypes, nullability and, for numbers and dates, the observed minimum and
    maximum (for categoricals, the categories); see the module docstring.
    """
    import pandera.pandas as pa
    import yaml

    if len(frame) == 0:
        raise InputError(f"{source} has no rows: there is nothing to infer a schema from")
    try:
        inferred = pa.infer_schema(frame)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source}: cannot infer a schema: {first_line(exc)}") from exc
    assert isinstance(inferred, pa.DataFrameSchema)
    columns = {name: _dates_as_text(column) for name, column in inferred.columns.items()}
    schema = pa.DataFrameSchema(columns=columns, coerce=inferred.coerce, strict=True)
    try:
        text = schema.to_yaml()
    except yaml.representer.RepresenterError as exc:
        value = exc.args[-1] if exc.args else exc
        raise InputError(f"{source}: cannot write {value!r} in a schema") from exc
    assert isinstance(text, str)
    return text


def _dates_as_text(column: Any) -> Any:
    """``column`` with the dates and times of its checks' arguments as text.

    pandera writes those of timezone-aware columns as objects YAML cannot hold,
    and those of other datetime columns without their fractions of a second.
    """
    from pandera.api.checks import Check

    checks = []
    for check in column.checks:
        stats = check.statistics or {}
        make = getattr(Check, str(check.name), None)
        if callable(make) and any(_has_dates(value) for value in stats.values()):
            checks.append(make(**{name: _as_text(value) for name, value in stats.items()}))
        else:
            checks.append(check)
    return column.set_checks(checks)


def _has_dates(value: object) -> bool:
    if isinstance(value, list):
        return any(_has_dates(v) for v in value)
    return isinstance(value, datetime.datetime)  # pandas Timestamps are datetimes


def _as_text(value: object) -> object:
    if isinstance(value, list):
        return [_as_text(v) for v in value]
    return str(value) if isinstance(value, datetime.datetime) else value


def read_schema_text(path: Path) -> str:
    """The text of a schema file; bad paths and non-text files name the file."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PathError(str(path), "does not exist") from None
    except IsADirectoryError:
        raise PathError(str(path), "is a folder, not a schema file") from None
    except UnicodeDecodeError:
        raise SchemaFileError(str(path), None, "is not UTF-8 text") from None


def load_schema(text: str, source: str) -> DataFrameSchema:
    """Parse schema YAML; :class:`SchemaFileError` names ``source`` and the field."""
    import pandera.errors
    from pandera.io.pandas_io import deserialize_schema

    body = parse_yaml(text, source)
    check_layout(body, source)
    try:
        schema: DataFrameSchema = deserialize_schema(body)  # type: ignore[no-untyped-call]
    except (
        pandera.errors.SchemaDefinitionError,
        pandera.errors.SchemaInitError,
        TypeError,
        ValueError,
        AttributeError,
        KeyError,
        re.error,
    ) as exc:
        raise SchemaFileError(source, None, f"not a pandera schema: {first_line(exc)}") from exc
    return schema


def schema_columns(text: str, source: str) -> tuple[ColumnSpec, ...]:
    """The columns a schema declares, with their dtype, nullability and checks."""
    schema = load_schema(text, source)
    return tuple(
        ColumnSpec(
            str(name),
            None if column.dtype is None else str(column.dtype),
            bool(column.nullable),
            tuple(str(check.error or check.name) for check in column.checks),
        )
        for name, column in schema.columns.items()
    )


def validate(frame: pd.DataFrame, schema_yaml: str, source: str) -> SchemaReport:
    """Check ``frame`` against the schema, collecting every failure.

    ``source`` names the schema in errors. Failing data is never an exception:
    it is in the report. A malformed schema raises :class:`SchemaFileError`.
    """
    import pandera.errors

    schema = load_schema(schema_yaml, source)
    grouped: Grouped = {}
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        _group_cases(exc.failure_cases.to_dict("records"), grouped)
    except (pandera.errors.SchemaDefinitionError, pandera.errors.SchemaInitError) as exc:
        raise SchemaFileError(source, None, f"cannot be applied: {first_line(exc)}") from exc
    grouped = _prune(grouped)
    for key, values in _lossy_casts(frame, schema).items():
        rows = [v for v in grouped.get(key, []) if v is not _NO_VALUE]
        grouped[key] = rows + values
    failures = tuple(
        ColumnFailure(column, check, len(values), _examples(values))
        for (column, check), values in sorted(grouped.items())
    )
    return SchemaReport(not failures, failures, len(frame))


# --- reading the YAML -------------------------------------------------------------


def _lossy_casts(frame: pd.DataFrame, schema: DataFrameSchema) -> Grouped:
    """Fractions in a column the schema coerces to integers (the cast would truncate)."""
    from pandas.api import types

    found: Grouped = {}
    for name, column in schema.columns.items():
        if name not in frame.columns or column.dtype is None:
            continue
        values = frame[name]
        target = getattr(column.dtype, "type", None)
        if not (schema.coerce or column.coerce) or not types.is_float_dtype(values.dtype):
            continue
        if target is None or not types.is_integer_dtype(target):
            continue
        lossy = values[values.notna() & (values % 1 != 0)]
        if len(lossy):
            found[(str(name), f"coerce_dtype('{column.dtype}')")] = list(lossy)
    return found


def _group_cases(cases: Iterable[dict[str, Any]], grouped: Grouped) -> None:
    for case in cases:
        check = str(case["check"])
        column, value = case["column"], case["failure_case"]
        if check in _COLUMN_EXISTS:
            column, value = value, _NO_VALUE
        elif _is_type_check(check) and _is_missing(case.get("index")):
            # about the whole column: its dtype, or a conversion pandera cannot pin on rows
            value = _Verbatim(f"column is {value}") if check.startswith("dtype(") else _NO_VALUE
        key = (TABLE if _is_missing(column) else str(column), check)
        grouped.setdefault(key, []).append(value)


def _prune(grouped: Grouped) -> Grouped:
    """Report a column with values of the wrong type once.

    Its value checks could not run (pandera reports the errors they raised),
    and a failed conversion to a dtype makes the dtype check fail as well.
    """
    mistyped = {column for column, check in grouped if _is_type_check(check)}
    converted = {
        (c, check[len("coerce_") :]) for c, check in grouped if check.startswith("coerce_")
    }
    return {
        (column, check): values
        for (column, check), values in grouped.items()
        if (column, check) not in converted
        and (column not in mistyped or _is_type_check(check) or check == "not_nullable")
    }


def _is_type_check(check: str) -> bool:
    return check.startswith(("dtype(", "coerce_dtype("))


def _examples(values: list[object]) -> tuple[str, ...]:
    shown = dict.fromkeys(_format(v) for v in values if v is not _NO_VALUE)
    return tuple(shown)[:MAX_EXAMPLES]


def _format(value: object) -> str:
    if _is_missing(value):
        return "null"
    text = repr(str(value)) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_missing(value: object) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list-like value: not a missing scalar
        return False
