"""Load CSV and Parquet files into one pandas DataFrame.

A table is named by a pair (display name, absolute path): the display name
(``data/raw/part-1.csv``) picks the format by its suffix and names the file in
errors; the path is where the bytes are, which may be a cache object without
any extension. Files of one table must have the same columns; their rows are
concatenated in the order given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lockstep.errors import InputError, PathError, TableReadError

if TYPE_CHECKING:
    import pandas as pd

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES
_EXPECTED = "a .csv, .parquet or .pq file"


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
    first_name, first_columns = files[0][0], None
    for name, path in files:
        frame = read_one(name, path)
        if first_columns is None:
            first_columns = list(frame.columns)
        else:
            _same_columns(name, list(frame.columns), first_name, first_columns)
        frames.append(frame)
    if len(frames) == 1:
        return frames[0]
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def read_one(name: str, path: str) -> pd.DataFrame:
    """One file as a DataFrame; its format comes from ``name``'s suffix."""
    kind = table_format(name)
    if kind is None:
        raise PathError(name, f"is not {_EXPECTED}")
    return _read_csv(name, path) if kind == "csv" else _read_parquet(name, path)


def _read_csv(name: str, path: str) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(path, low_memory=False)
    except pd.errors.EmptyDataError:
        raise TableReadError(name, None, "is empty: a CSV file needs a header row") from None
    except ValueError as exc:  # ParserError, UnicodeDecodeError
        raise TableReadError(name, None, f"not a readable CSV file: {_first_line(exc)}") from exc


def _read_parquet(name: str, path: str) -> pd.DataFrame:
    import pandas as pd
    import pyarrow

    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except (ValueError, pyarrow.ArrowException) as exc:
        problem = f"not a readable Parquet file: {_first_line(exc)}"
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
