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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep.datacheck.report import TABLE, ColumnFailure, ColumnSpec, SchemaReport
from lockstep.errors import InputError, PathError, SchemaFileError

if TYPE_CHECKING:
    import pandas as pd
    from pandera.api.pandas.container import DataFrameSchema

SCHEMA_SUFFIX = ".schema.yaml"
MAX_EXAMPLES = 5
_COLUMN_OPTIONS = frozenset(
    {
        "checks",
        "coerce",
        "default",
        "description",
        "drop_invalid_rows",
        "dtype",
        "name",
        "nullable",
        "regex",
        "report_duplicates",
        "required",
        "title",
        "unique",
    }
)
_FLAGS = ("nullable", "unique", "coerce", "required", "regex", "drop_invalid_rows")
_SCHEMA_FLAGS = ("coerce", "ordered", "unique_column_names", "add_missing_columns")
_CHECK_OPTIONS = frozenset(
    {"error", "groupby", "groups", "ignore_na", "n_failure_cases", "name", "raise_warning"}
)
# The built-in checks whose arguments are checked: the argument a bare value is
# (None: a bare value is not enough), and the kind of each argument.
_ARGUMENTS: dict[str, tuple[str | None, dict[str, str]]] = {
    **{name: ("value", {"value": "value"}) for name in ("equal_to", "eq", "not_equal_to", "ne")},
    **{
        name: ("min_value", {"min_value": "bound"})
        for name in ("greater_than", "gt", "greater_than_or_equal_to", "ge")
    },
    **{
        name: ("max_value", {"max_value": "bound"})
        for name in ("less_than", "lt", "less_than_or_equal_to", "le")
    },
    **{
        name: (
            None,
            {
                "min_value": "bound",
                "max_value": "bound",
                "include_min": "flag",
                "include_max": "flag",
            },
        )
        for name in ("in_range", "between")
    },
    "isin": ("allowed_values", {"allowed_values": "values"}),
    "notin": ("forbidden_values", {"forbidden_values": "values"}),
    "unique_values_eq": ("values", {"values": "values"}),
    "str_matches": ("pattern", {"pattern": "pattern"}),
    "str_contains": ("pattern", {"pattern": "pattern"}),
    "str_startswith": ("string", {"string": "text"}),
    "str_endswith": ("string", {"string": "text"}),
    "str_length": (
        "exact_value",
        {"min_value": "length", "max_value": "length", "exact_value": "length"},
    ),
}
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
        raise InputError(f"{source}: cannot infer a schema: {_first_line(exc)}") from exc
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

    body = _parse_yaml(text, source)
    _check_layout(body, source)
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
        raise SchemaFileError(source, None, f"not a pandera schema: {_first_line(exc)}") from exc
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
        raise SchemaFileError(source, None, f"cannot be applied: {_first_line(exc)}") from exc
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


def _parse_yaml(text: str, source: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or _first_line(exc)
        raise SchemaFileError(source, None, f"not valid YAML{where}: {problem}") from exc


def _check_layout(body: Any, source: str) -> None:
    """Refuse what pandera would ignore or misread; make YAML dates text."""
    if not isinstance(body, dict):
        raise SchemaFileError(source, None, "must be a mapping (a pandera DataFrameSchema)")
    if body.get("schema_type", "dataframe") != "dataframe":
        raise SchemaFileError(source, "schema_type", "must be 'dataframe'")
    for key in _SCHEMA_FLAGS:
        _flag(body, key, key, source)
    if body.get("strict", False) not in (True, False, "filter"):
        raise SchemaFileError(
            source, "strict", f"must be true, false or 'filter', not {_shown(body['strict'])}"
        )
    columns = body.get("columns")
    if isinstance(columns, dict):
        specs = [(str(name), spec) for name, spec in columns.items()]
    elif isinstance(columns, list):
        specs = [(_list_name(spec, i), spec) for i, spec in enumerate(columns)]
    else:
        raise SchemaFileError(source, "columns", "must map each column to its dtype and checks")
    for name, spec in specs:
        _check_column(spec, name, f"columns.{name}", source)


def _list_name(spec: Any, position: int) -> str:
    return str(spec["name"]) if isinstance(spec, dict) and "name" in spec else f"[{position}]"


def _check_column(spec: Any, name: str, field: str, source: str) -> None:
    if not isinstance(spec, dict):
        raise SchemaFileError(source, field, "must be a mapping (dtype, nullable, checks)")
    checks = [k for k in spec if k not in _COLUMN_OPTIONS]
    for key in checks:
        if not isinstance(key, str) or not _is_check(key):
            raise SchemaFileError(
                source, f"{field}.{key}", "is neither a column option nor a check"
            )
    if checks and "checks" in spec:
        raise SchemaFileError(source, field, "give checks either under 'checks:' or as keys")
    _check_options(spec, name, field, source)
    kind = _column_kind(spec.get("dtype"))
    for declared in _declared_checks(spec, checks, field, source):
        _check_arguments(declared, kind, source)


def _is_check(name: str) -> bool:
    from pandera.api.checks import Check

    return not name.startswith("_") and callable(getattr(Check, name, None))


def _check_options(spec: dict[str, Any], name: str, field: str, source: str) -> None:
    for key in _FLAGS:
        _flag(spec, key, f"{field}.{key}", source)
    dtype = spec.get("dtype")
    if dtype is not None and not isinstance(dtype, str):
        problem = f"must be a dtype name such as int64 or str, not {_shown(dtype)}"
        raise SchemaFileError(source, f"{field}.dtype", problem)
    for key in ("title", "description"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise SchemaFileError(
                source, f"{field}.{key}", f"must be text, not {_shown(spec[key])}"
            )
    if spec.get("regex") is True:
        try:
            re.compile(name)
        except re.error as exc:
            problem = f"is not a valid regular expression (regex: true): {exc}"
            raise SchemaFileError(source, field, problem) from None


def _flag(mapping: dict[str, Any], key: str, field: str, source: str) -> None:
    if key in mapping:
        _require_flag(mapping[key], field, source)


def _require_flag(value: Any, field: str, source: str) -> None:
    if not isinstance(value, bool):
        raise SchemaFileError(source, field, f"must be true or false, not {_shown(value)}")


def _column_kind(dtype: object) -> str:
    """What a column's values compare with: number, bool, datetime..., text or any."""
    import pandas as pd
    from pandas.api import types
    from pandera.engines import pandas_engine

    if not isinstance(dtype, str):
        return "any"
    try:
        target = pandas_engine.Engine.dtype(dtype).type
    except (TypeError, ValueError, AttributeError, KeyError):
        return "any"  # pandera names the dtype it does not know
    if types.is_bool_dtype(target):
        return "bool"
    if types.is_datetime64_any_dtype(target):
        return "datetime" if getattr(target, "tz", None) is None else "datetime with timezone"
    if types.is_timedelta64_dtype(target):
        return "timedelta"
    if types.is_numeric_dtype(target):
        return "number"
    return "text" if isinstance(target, pd.StringDtype) else "any"


# a check's name, the mapping (or list) holding its value, the value's key there, its field
Argument = tuple[str, Any, Any, str]


def _declared_checks(
    spec: dict[str, Any], flat: list[str], field: str, source: str
) -> Iterator[Argument]:
    """Each check of a column: its name and where its value is, as keys or under checks:."""
    for key in flat:
        yield key, spec, key, f"{field}.{key}"
    listed = spec.get("checks")
    if listed is None:
        return
    if isinstance(listed, dict):
        for key in listed:
            if not isinstance(key, str) or not _is_check(key):
                raise SchemaFileError(source, f"{field}.checks.{key}", "is not a check")
            yield key, listed, key, f"{field}.checks.{key}"
    elif isinstance(listed, list):
        for i, entry in enumerate(listed):
            where = f"{field}.checks[{i}]"
            yield _listed_check(entry, where, source), listed, i, where
    else:
        raise SchemaFileError(
            source, f"{field}.checks", "must map each check's name to its argument"
        )


def _listed_check(entry: Any, field: str, source: str) -> str:
    """The name of a check of pandera's list layout (``options: {check_name: ...}``)."""
    options = entry.get("options") if isinstance(entry, dict) else None
    check = options.get("check_name") if isinstance(options, dict) else None
    if not isinstance(check, str) or not _is_check(check):
        problem = "must be a mapping naming a check in options.check_name"
        raise SchemaFileError(source, field, problem)
    return check


def _check_arguments(declared: Argument, kind: str, source: str) -> None:
    """Check, and where needed rewrite, the arguments of one check."""
    check, holder, key, field = declared
    if check not in _ARGUMENTS:
        return  # a check of another kind of data, or registered by a plug-in
    bare, kinds = _ARGUMENTS[check]
    value = holder[key]
    if not isinstance(value, dict):
        if bare is None:
            expected = ", ".join(kinds)
            raise SchemaFileError(source, field, f"needs a mapping of its arguments ({expected})")
        holder[key] = _checked(kinds[bare], value, kind, field, source)
        return
    for name in list(value):
        where = f"{field}.{name}"
        if name == "options" or name in _CHECK_OPTIONS:
            _check_option(value[name], name, where, source)
        elif name == "value" and len(value) - _options_in(value) == 1 and bare is not None:
            value[name] = _checked(kinds[bare], value[name], kind, where, source)
        elif name in kinds:
            value[name] = _checked(kinds[name], value[name], kind, where, source)
        else:
            expected = ", ".join(kinds)
            raise SchemaFileError(source, where, f"is not an argument of {check} ({expected})")


def _options_in(arguments: dict[Any, Any]) -> int:
    return sum(1 for k in arguments if k == "options" or k in _CHECK_OPTIONS)


def _check_option(value: Any, name: str, field: str, source: str) -> None:
    if name == "options":
        if not isinstance(value, dict):
            raise SchemaFileError(source, field, "must be a mapping")
        for key, option in value.items():
            if key != "check_name":
                _check_option(option, str(key), f"{field}.{key}", source)
    elif name in ("ignore_na", "raise_warning"):
        _require_flag(value, field, source)
    elif name == "n_failure_cases" and value is not None and not _is_whole(value):
        raise SchemaFileError(source, field, f"must be a whole number, not {_shown(value)}")


def _checked(argument: str, value: Any, column: str, field: str, source: str) -> Any:
    """``value`` if it suits an argument of this kind on a column of this kind."""
    if argument in ("bound", "value"):
        return _comparable(value, column, argument == "bound", field, source)
    if argument == "values":
        if not isinstance(value, list):
            raise SchemaFileError(source, field, f"must be a list of values, not {_shown(value)}")
        return [
            v if v is None else _comparable(v, column, False, f"{field}[{i}]", source)
            for i, v in enumerate(value)
        ]
    if argument == "flag":
        _require_flag(value, field, source)
    elif argument == "length" and not (_is_whole(value) and value >= 0):
        raise SchemaFileError(source, field, f"must be a whole number >= 0, not {_shown(value)}")
    elif argument in ("text", "pattern") and not isinstance(value, str):
        raise SchemaFileError(source, field, f"must be text, not {_shown(value)}")
    elif argument == "pattern":
        try:
            re.compile(value)
        except re.error as exc:
            problem = f"is not a valid regular expression: {exc}"
            raise SchemaFileError(source, field, problem) from None
    return value


_EXPECTED_VALUE = {
    "number": "a number",
    "bool": "true or false",
    "datetime": "a date or time such as '2024-01-31 12:00:00'",
    "datetime with timezone": "a date or time such as '2024-01-31 12:00:00+00:00'",
    "timedelta": "a duration such as '1 days 02:00:00' or a number of nanoseconds",
    "text": "text",
}


def _comparable(value: Any, column: str, ordered: bool, field: str, source: str) -> Any:
    """A value to compare a column's values with (``ordered``: by <, >), or an error.

    It must suit the column's dtype: a number for numbers, a date or time for
    datetimes (made text), and so on; with no dtype or an ``object`` one (which
    may hold dates), any single value, or for an order a number or a date.
    """
    if column.startswith("datetime"):
        return _moment(value, column, field, source)
    fits = {
        "number": _is_number(value),
        "bool": isinstance(value, bool) or (ordered and _is_number(value)),
        "timedelta": _is_duration(value),
        "text": isinstance(value, str),
        "any": (_is_number(value) or _is_moment(value))
        if ordered
        else isinstance(value, (str, int, float, datetime.date)),
    }[column]
    if not fits:
        expected = _EXPECTED_VALUE.get(column) or (
            "a number or a date" if ordered else "a single value"
        )
        raise SchemaFileError(source, field, f"must be {expected}, not {_shown(value)}")
    return value


def _is_moment(value: Any) -> bool:
    """A date YAML read as one, or text that reads as a date or time."""
    import pandas as pd

    if isinstance(value, datetime.date):
        return True
    if not isinstance(value, str) or _is_number_text(value):
        return False
    try:
        return not pd.isna(pd.Timestamp(value))
    except (TypeError, ValueError):
        return False


def _is_number_text(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _moment(value: Any, column: str, field: str, source: str) -> Any:
    """A date or time as text, the form pandas compares with datetime columns."""
    import pandas as pd

    moment = None
    if isinstance(value, (str, datetime.date)):
        try:
            moment = pd.Timestamp(value)
        except (TypeError, ValueError):
            moment = None
    if moment is None or pd.isna(moment):
        expected = _EXPECTED_VALUE.get(column, _EXPECTED_VALUE["datetime"])
        raise SchemaFileError(source, field, f"must be {expected}, not {_shown(value)}")
    if moment.tz is not None and column == "datetime":
        problem = f"has a timezone, and the column's dtype has none: {_shown(value)}"
        raise SchemaFileError(source, field, problem)
    return value if isinstance(value, str) else str(moment)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_duration(value: Any) -> bool:
    import pandas as pd

    if _is_number(value):
        return True
    if not isinstance(value, str):
        return False
    try:
        return not pd.isna(pd.Timedelta(value))
    except (TypeError, ValueError):
        return False


def _shown(value: Any) -> str:
    """A YAML value as the user wrote it, roughly."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- turning pandera's failure cases into a report -----------------------------------


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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
