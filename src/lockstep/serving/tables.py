"""Turn decoded request values into the model's input, checked against the signature.

Every protocol (Open Inference Protocol tensors, MLflow's four JSON layouts, CSV)
reduces a request to one of three shapes: rows in signature order, a mapping of column
name to values, or a 2-D numpy array. :class:`InputBuilder` validates that against the
served :class:`~lockstep.serving.spec.Signature` and builds the model input:

* every column numeric: one float64 ``ndarray`` of shape ``[N, F]``; no pandas on the
  request path. ``np.asarray`` over the whole payload is tried first; only when it does
  not give a clean numeric matrix are the columns walked one by one, which is also what
  names the offending column and value;
* a string column present: a pandas ``DataFrame`` with the signature's columns and
  dtypes.

Null is accepted only in ``double``/``float`` columns (as NaN); ``long``/``integer``
columns take integral numbers within int64/int32, ``float`` columns numbers within
float32 (the DataFrame a model gets would otherwise hold a wrapped integer or an
infinity), ``boolean`` columns 0/1 (JSON booleans are numbers here). Anything a client
gets wrong raises :class:`RequestError` with the HTTP status (400: malformed body or
structure, 422: wrong column, type, value or shape) and a message that names the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lockstep.errors import InputError
from lockstep.serving.spec import Column, Signature

Array = npt.NDArray[Any]
NULLABLE = frozenset({"double", "float"})
INTEGRAL = frozenset({"long", "integer"})
# The finite values a column's type holds, as float64 (the largest below 2**63 for long).
BOUNDS = {
    "long": (-(2.0**63), float(np.nextafter(2.0**63, 0))),
    "integer": (-(2.0**31), 2.0**31 - 1),
    "float": (-float(np.finfo(np.float32).max), float(np.finfo(np.float32).max)),
}
PANDAS_DTYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "object",
}


class RequestError(InputError):
    """A client mistake: answered with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def shown(value: object) -> str:
    """A short printable form of a client value for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def as_text(value: object) -> str:
    """A model output or logged value as text: bytes decoded as UTF-8, numpy scalars as
    their Python value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return as_text(value.item())
    return str(value)


def finite_or_none(values: Array) -> Array:
    """``values`` for JSON, which has no NaN or infinity: those become None (null)."""
    if values.dtype.kind != "f" or np.isfinite(values).all():
        return values
    out = values.astype(object)
    out[~np.isfinite(values)] = None
    return out


@dataclass(frozen=True)
class ModelInput:
    """A validated request: the model input (ndarray or DataFrame) and its row count."""

    data: Any
    rows: int


class InputBuilder:
    """Builds model inputs for one signature; shared by every request."""

    def __init__(self, signature: Signature) -> None:
        self.signature = signature
        self.columns: tuple[Column, ...] = signature.inputs
        self.names = [c.name for c in self.columns]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.width = len(self.columns)
        self.numeric = all(c.type != "string" for c in self.columns)
        self._integral = [i for i, c in enumerate(self.columns) if c.type in INTEGRAL]
        self._boolean = [i for i, c in enumerate(self.columns) if c.type == "boolean"]
        self._non_null = [i for i, c in enumerate(self.columns) if c.type not in NULLABLE]
        self._bounded = [i for i, c in enumerate(self.columns) if c.type in BOUNDS]
        self._low = np.array([BOUNDS[self.columns[i].type][0] for i in self._bounded])
        self._high = np.array([BOUNDS[self.columns[i].type][1] for i in self._bounded])

    # -- rows in signature order ------------------------------------------------------

    def from_rows(self, rows: object, where: str) -> ModelInput:
        """``rows``: a list of lists, each holding one value per column in order."""
        if not isinstance(rows, list):
            raise RequestError(400, f"{where} must be a list of rows")
        if not rows:
            raise RequestError(422, f"{where} holds no rows")
        if self.numeric:
            fast = _numeric_matrix(rows)
            if fast is not None and fast.shape[1] == self.width:
                return self._checked(fast, where)
        for i, row in enumerate(rows):
            if not isinstance(row, list):
                raise RequestError(422, f"{where}[{i}] must be a list of {self.width} values")
            if len(row) != self.width:
                raise RequestError(
                    422, f"{where}[{i}] has {len(row)} values; the model takes {self.width}"
                )
        return self.from_columns({n: [row[j] for row in rows] for j, n in enumerate(self.names)})

    def from_matrix(self, matrix: Array, where: str) -> ModelInput:
        """A 2-D array whose columns are the signature's, in order."""
        if matrix.ndim != 2 or matrix.shape[1] != self.width:
            raise RequestError(
                422, f"{where} has shape {list(matrix.shape)}; expected [N, {self.width}]"
            )
        if matrix.shape[0] == 0:
            raise RequestError(422, f"{where} holds no rows")
        if self.numeric and matrix.dtype.kind in "biuf":
            return self._checked(matrix.astype(np.float64, copy=False), where)
        return self.from_columns({n: matrix[:, j] for j, n in enumerate(self.names)})

    # -- named columns ----------------------------------------------------------------

    def from_columns(self, columns: Mapping[str, Sequence[Any] | Array]) -> ModelInput:
        """``columns``: every signature column, by name, with one value per row."""
        self.check_names(columns.keys(), "columns")
        rows = -1
        for name in self.names:
            count = len(columns[name])
            if rows not in (-1, count):
                raise RequestError(
                    422, f"column {name!r} has {count} values; the others have {rows}"
                )
            rows = count
        if rows == 0:
            raise RequestError(422, "the request holds no rows")
        arrays = [column_values(c, columns[c.name]) for c in self.columns]
        if self.numeric:
            return ModelInput(np.column_stack(arrays), rows)
        return ModelInput(self._frame(arrays), rows)

    def check_names(self, given: Any, what: str) -> None:
        """422 naming the missing and unexpected columns, if any."""
        names = set(given)
        if len(names) == self.width and all(n in self.index for n in names):
            return
        missing = [n for n in self.names if n not in names]
        extra = sorted(str(n) for n in names if n not in self.index)
        problems = []
        if missing:
            problems.append("missing column(s) " + ", ".join(map(repr, missing)))
        if extra:
            problems.append("unknown column(s) " + ", ".join(map(repr, extra)))
        raise RequestError(
            422, f"{what}: {'; '.join(problems)} (the model takes {', '.join(self.names)})"
        )

    # -- helpers ----------------------------------------------------------------------

    def _checked(self, matrix: Array, where: str) -> ModelInput:
        """The fast path's column checks: integral, 0/1 and non-null columns."""
        if self._non_null:
            part = matrix[:, self._non_null]
            if np.isnan(part).any():
                i, j = np.argwhere(np.isnan(part))[0]
                column = self.columns[self._non_null[j]]
                raise RequestError(
                    422,
                    f"{where}: row {i}: column {column.name!r} ({column.type}) "
                    "cannot be null or NaN",
                )
        for indices, test, kind in (
            (self._integral, _not_integral, "an integral number"),
            (self._boolean, _not_boolean, "0/1 or true/false"),
            (self._bounded, self._out_of_range, "a value within its type's range"),
        ):
            if indices:
                bad = test(matrix[:, indices])
                if bad.any():
                    i, j = np.argwhere(bad)[0]
                    column = self.columns[indices[j]]
                    raise RequestError(
                        422,
                        f"{where}: row {i}: column {column.name!r} ({column.type}) "
                        f"needs {kind}, got {shown(float(matrix[i, indices[j]]))}",
                    )
        return ModelInput(matrix, matrix.shape[0])

    def _out_of_range(self, part: Array) -> Array:
        return _outside(part, self._low, self._high)

    def _frame(self, arrays: list[Array]) -> Any:
        import pandas as pd

        data = {c.name: _pandas_column(c, a) for c, a in zip(self.columns, arrays, strict=True)}
        try:
            return pd.DataFrame(data, columns=self.names)
        except UnicodeError:  # pandas' Arrow strings take no lone surrogate (JSON does)
            raise _not_unicode(self.columns, arrays) from None


def _not_unicode(columns: tuple[Column, ...], arrays: list[Array]) -> RequestError:
    for column, values in zip(columns, arrays, strict=True):
        for value in values if column.type == "string" else ():
            try:
                value.encode("utf-8")
            except UnicodeError:
                return RequestError(
                    422, f"column {column.name!r} (string): {shown(value)} is not valid Unicode"
                )
    return RequestError(422, "a string value is not valid Unicode")


def _numeric_matrix(rows: list[Any]) -> Array | None:
    """``rows`` as a numeric 2-D array, or None when it is not one (then the slow path
    finds and names what is wrong)."""
    try:
        matrix = np.asarray(rows)
    except (ValueError, TypeError, OverflowError, RecursionError):
        return None
    if matrix.ndim != 2 or matrix.dtype.kind not in "biuf":
        return None
    return matrix.astype(np.float64, copy=False)


def _not_integral(part: Array) -> Array:
    with np.errstate(invalid="ignore"):
        return np.asarray(~np.isfinite(part) | (np.floor(part) != part))


def _not_boolean(part: Array) -> Array:
    return np.asarray((part != 0) & (part != 1))


def _outside(part: Array, low: Array | float, high: Array | float) -> Array:
    with np.errstate(invalid="ignore"):
        return np.asarray(np.isfinite(part) & ((part < low) | (part > high)))


def _pandas_column(column: Column, values: Array) -> Array:
    if column.type == "string":
        return values
    return values.astype(PANDAS_DTYPES[column.type])


def column_values(column: Column, values: Sequence[Any] | Array) -> Array:
    """One column's values checked against its type: float64 for numeric columns,
    an object array of str for string columns."""
    try:
        array = np.asarray(values)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise RequestError(422, f"column {column.name!r}: values must be scalars") from exc
    if array.ndim != 1:
        raise RequestError(422, f"column {column.name!r}: values must be scalars, not lists")
    if column.type == "string":
        return _strings(column, array)
    numbers = _numbers(column, array, values)
    for test, need in _tests(column):
        bad = test(numbers)
        if bad.any():
            value = values[int(np.argmax(bad))]
            raise RequestError(
                422, f"column {column.name!r} ({column.type}) needs {need}, got {shown(value)}"
            )
    return numbers


def _tests(column: Column) -> list[tuple[Any, str]]:
    """The checks a column's numbers go through, and what each one needs."""
    tests: list[tuple[Any, str]] = []
    if column.type in INTEGRAL:
        tests.append((_not_integral, "an integral number"))
    elif column.type == "boolean":
        tests.append((_not_boolean, "0/1 or true/false"))
    if column.type in BOUNDS:
        low, high = BOUNDS[column.type]
        tests.append((lambda part: _outside(part, low, high), "a value within its type's range"))
    return tests


def _strings(column: Column, array: Array) -> Array:
    if array.dtype.kind == "U":
        return array.astype(object)
    if array.dtype.kind == "O":
        for value in array:
            if not isinstance(value, str):
                raise RequestError(
                    422, f"column {column.name!r} (string) needs strings, got {shown(value)}"
                )
        return array
    raise RequestError(
        422, f"column {column.name!r} (string) needs strings, got {shown(array[0].item())}"
    )


def _numbers(column: Column, array: Array, values: Sequence[Any] | Array) -> Array:
    kind = array.dtype.kind
    if kind in "biuf":
        return array.astype(np.float64, copy=False)
    if kind == "O":
        return _objects_as_numbers(column, array)
    first = next((v for v in values if isinstance(v, (str, bytes, np.str_))), array[0])
    raise RequestError(
        422, f"column {column.name!r} ({column.type}) needs numbers, got {shown(str(first))}"
    )


def _objects_as_numbers(column: Column, array: Array) -> Array:
    out = np.empty(len(array), dtype=np.float64)
    for i, value in enumerate(array):
        if value is None:
            if column.type not in NULLABLE:
                raise RequestError(
                    422, f"column {column.name!r} ({column.type}) cannot be null (row {i})"
                )
            out[i] = np.nan
        elif isinstance(value, (bool, int, float, np.number, np.bool_)):
            out[i] = _as_float(column, value)
        else:
            raise RequestError(
                422, f"column {column.name!r} ({column.type}) needs numbers, got {shown(value)}"
            )
    return out


def _as_float(column: Column, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        raise RequestError(
            422, f"column {column.name!r} ({column.type}): {shown(value)} is out of range"
        ) from None
