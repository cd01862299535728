"""Reading a schema file strictly: its layout, and the type of every value.

A key under a column that is neither a column option nor a check pandera knows
is an error, not ignored, and so is a value of the wrong type: a check's
argument must suit the column's dtype (a number to compare numbers with, a date
or time for datetimes, a list for ``isin``, a valid regular expression for
``str_matches``), column options such as ``nullable`` must be true or false.
Dates YAML reads as dates become text, as the schemas lockstep writes have them.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from typing import Any

from lockstep.datacheck.report import first_line
from lockstep.errors import SchemaFileError

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


def parse_yaml(text: str, source: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or first_line(exc)
        raise SchemaFileError(source, None, f"not valid YAML{where}: {problem}") from exc


def check_layout(body: Any, source: str) -> None:
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
