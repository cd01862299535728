"""Load CSV and Parquet files into one pandas DataFrame.

A table is named by a pair (display name, absolute path): the display name
(``data/raw/part-1.csv``) picks the format by its suffix and names the file in
errors; the path is where the bytes are, which may be a cache object without
any extension. Files of one table must have the same columns; their rows are
concatenated in the order given.

CSV files are read with pandas' type inference, with two exceptions. A row with
more fields than the header is an error: pandas would otherwise take the first
row's extra field for an index and shift its values one column to the right.
A column pandas reads as numbers is kept as text when one of its values has a
leading zero (``0123``, ``-007``): such a column holds codes (postcodes,
identifiers), and as numbers ``0123`` and ``123`` would be the same value. The
same column of the other CSV files of the table is then read as text as well.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lockstep.datacheck.report import first_line
from lockstep.errors import InputError, PathError, TableReadError

if TYPE_CHECKING:
    import pandas as pd

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES
_EXPECTED = "a .csv, .parquet or .pq file"
_LEADING_ZERO = r"\s*[+-]?0[0-9]"  # 0123, -007; not 0, 0.5 or 0e3


def table_format(name: str) -> str | None:
    """``"csv"`` or ``"parquet"`` by the suffix of ``name`` (any case), else None."""
    lower = name.lower()
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def is_table_file(name: str) -> bool:
    """True for a CSV or Parquet file name that is not hidden."""
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and table_format(base) is not None


def files_under(path: Path) -> list[tuple[str, str]]:
    """The CSV and Parquet files of a file or a folder, as (display name, absolute path).

    A folder is searched recursively, hidden files and folders skipped, sorted by
    path inside it. Display names start with ``path`` as given.
    """
    if path.is_file():
        if table_format(path.name) is None:
            raise PathError(str(path), f"is not {_EXPECTED}")
        return [(str(path), str(path.resolve()))]
    if not path.is_dir():
        raise PathError(str(path), "does not exist")
    found = [(path / rel, os.path.join(path.resolve(), rel)) for rel in sorted(_tables_in(path))]
    if not found:
        raise PathError(str(path), f"holds no CSV or Parquet files ({', '.join(SUFFIXES)})")
    return [(str(shown), absolute) for shown, absolute in found]


def _tables_in(folder: Path) -> list[str]:
    """POSIX paths, relative to ``folder``, of the table files below it."""
    rels = []
    for current, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel_dir = os.path.relpath(current, folder)
        for name in names:
            if is_table_file(name):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                rels.append(rel.replace(os.sep, "/"))
    return rels


def load_table(files: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Read the files and concatenate their rows (with a fresh 0..n-1 index).

    Raises :class:`TableReadError` naming the file that cannot be read or whose
    columns differ from the first file's, :class:`PathError` for an unknown suffix.
    """
    if not files:
        raise InputError("no CSV or Parquet files to read")
    frames = []
    codes: set[str] = set()  # CSV columns kept as text for their leading zeros
    first_name, first_columns = files[0][0], None
    for name, path in files:
        frame, zeros = _read(name, path)
        codes.update(zeros)
        if first_columns is None:
            first_columns = list(frame.columns)
        else:
            _same_columns(name, list(frame.columns), first_name, first_columns)
        frames.append(frame)
    if codes:
        frames = [
            _as_text(name, path, frame, codes) if table_format(name) == "csv" else frame
            for (name, path), frame in zip(files, frames, strict=True)
        ]
    if len(frames) == 1:
        return frames[0]
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def read_one(name: str, path: str) -> pd.DataFrame:
    """One file as a DataFrame; its format comes from ``name``'s suffix."""
    return _read(name, path)[0]


def _read(name: str, path: str) -> tuple[pd.DataFrame, list[str]]:
    """One file, and the columns kept as text for their leading zeros (CSV only)."""
    kind = table_format(name)
    if kind is None:
        raise PathError(name, f"is not {_EXPECTED}")
    if kind == "parquet":
        return _read_parquet(name, path), []
    frame = _read_csv(name, path)
    numeric = [i for i in range(frame.shape[1]) if _is_number(frame.iloc[:, i])]
    zeros = []
    for i, text in zip(numeric, _text_columns(name, path, numeric), strict=True):
        if text.str.match(_LEADING_ZERO, na=False).any():
            frame.isetitem(i, text.array)
            zeros.append(str(frame.columns[i]))
    return frame, zeros


def _as_text(name: str, path: str, frame: pd.DataFrame, codes: set[str]) -> pd.DataFrame:
    """``frame`` with its numeric columns among ``codes`` read again as text."""
    numeric = [
        i
        for i, column in enumerate(frame.columns)
        if column in codes and _is_number(frame.iloc[:, i])
    ]
    for i, text in zip(numeric, _text_columns(name, path, numeric), strict=True):
        frame.isetitem(i, text.array)
    return frame


def _text_columns(name: str, path: str, positions: list[int]) -> list[pd.Series]:
    """The columns at ``positions`` (ascending) of a CSV file, as strings."""
    if not positions:
        return []
    text = _read_csv(name, path, positions)
    return [text.iloc[:, i] for i in range(len(positions))]


def _is_number(values: pd.Series) -> bool:
    from pandas.api import types

    return types.is_numeric_dtype(values.dtype) and not types.is_bool_dtype(values.dtype)


def _read_csv(name: str, path: str, text: list[int] | None = None) -> pd.DataFrame:
    """The CSV file, or with ``text`` only the columns at those positions, as strings."""
    import pandas as pd

    options: dict[str, object] = {"low_memory": False}
    if text is not None:
        options.update(usecols=text, dtype=str)
    try:
        with warnings.catch_warnings():
            # index_col=False: a first row longer than the header is not an index
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, index_col=False, **options)
    except pd.errors.ParserWarning as warning:
        problem = "the first row has more fields than the header"
        if "Length of header" not in str(warning):
            problem = first_line(warning)
        raise TableReadError(name, None, f"not a readable CSV file: {problem}") from None
    except pd.errors.EmptyDataError:
        raise TableReadError(name, None, "is empty: a CSV file needs a header row") from None
    except ValueError as exc:  # ParserError, UnicodeDecodeError
        raise TableReadError(name, None, f"not a readable CSV file: {first_line(exc)}") from exc


def _read_parquet(name: str, path: str) -> pd.DataFrame:
    import pandas as pd
    import pyarrow

    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except (ValueError, pyarrow.ArrowException) as exc:
        problem = f"not a readable Parquet file: {first_line(exc)}"
        raise TableReadError(name, None, problem) from exc
    if any(level is not None for level in frame.index.names):
        return frame.reset_index()  # a named index is data: keep it as columns
    return frame.reset_index(drop=True)


def _same_columns(name: str, columns: list[str], first: str, expected: list[str]) -> None:
    if columns == expected or sorted(map(str, columns)) == sorted(map(str, expected)):
        return
    missing = [str(c) for c in expected if c not in columns]
    extra = [str(c) for c in columns if c not in expected]
    parts = [
        f"lacks {', '.join(missing)}" if missing else "",
        f"adds {', '.join(extra)}" if extra else "",
    ]
    detail = "; ".join(p for p in parts if p) or "repeats a column"
    raise TableReadError(name, None, f"columns differ from {first}'s: {detail}")
