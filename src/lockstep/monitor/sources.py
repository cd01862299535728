"""Tables to compare, opened once and read one column at a time.

:func:`open_source` opens a CSV or Parquet file, or a folder of them (searched
recursively, hidden files and folders skipped, in path order), on the local disk
or behind any fsspec URL (``s3://``, ``file://``, ...). The files of a folder are
one table: their rows follow each other; a column that some files lack is missing
(null) in their rows.

**Columns and kinds.** :meth:`TableSource.schema` names each column's kind.
Integers, floats and decimals are ``numeric``; strings, booleans and dictionary
(pandas ``category``) columns are ``categorical``. Date and time columns are left
out: time itself always drifts. A column that is numeric in one file and text in
another is an error naming both files. An all-null column takes the kind of the
other files' column, else ``numeric``.

**Memory.** Parquet is never read whole: :meth:`TableSource.numeric` reads one
column, one row group at a time, straight into one float64 array (8 bytes a row),
so a numeric feature costs 8 bytes a row on each side whatever the table's width;
categorical columns are counted row group by row group
(:meth:`TableSource.value_counts`) and never held; memory grows only with the
number of distinct categories. A drift run over 10 million rows x 20 features on
each side peaks near 600 MiB. CSV has no row groups: each CSV file is read whole
when the source is opened (with :mod:`lockstep.datacheck.tables`, so with the same
type inference as ``lockstep data validate``) and kept in memory while the source
lives. Bounded memory is a property of Parquet sources.

**Time window.** With ``since`` and/or ``until`` (UTC; a naive datetime is taken
as UTC) only rows with ``since <= timestamp < until`` count; the ``timestamp``
column is then required (a Parquet timestamp, or ISO 8601 text in CSV). Row
groups whose timestamp statistics lie wholly inside the window are read without
looking at their times, those wholly outside are skipped, the others filtered
row by row. An inference-log file (named ``<UTC time>-<pid>-<seq>.parquet`` when
it was written, after the rows it holds were served) named before ``since`` is
not opened at all.

A source is described by a :class:`SourceSpec` (location, the files found, the
window, the storage options), which :func:`reopen` turns back into a source
without listing the location again: that is what a Dask worker receives.

Errors name the file and column: :class:`PathError` for a location that does not
exist or holds no tables, :class:`TableReadError` for a file that cannot be read
or whose column kinds disagree, :class:`FileFormatError` for a window over a file
without usable times, :class:`InputError` for a column the source does not have.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from lockstep.datacheck.report import first_line
from lockstep.datacheck.tables import SUFFIXES, files_under, is_table_file, read_one, table_format
from lockstep.errors import FileFormatError, InputError, PathError, TableReadError

if TYPE_CHECKING:
    import pandas as pd

FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]
Selection = bool | npt.NDArray[np.bool_]  # a row group's rows: all, none, or a mask

NUMERIC = "numeric"
CATEGORICAL = "categorical"
UNKNOWN = "unknown"  # an all-null column: whatever the other files say
TIMESTAMP = "timestamp"
_LOG_FILE = re.compile(r"(\d{8}T\d{6}\.\d{6})Z-\d+-\d+\.parquet$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_FIRST = np.iinfo(np.int64).min
_LAST = np.iinfo(np.int64).max


@dataclass(frozen=True)
class SourceSpec:
    """Everything needed to open a source again, and no data: picklable."""

    location: str
    files: tuple[tuple[str, str], ...]  # (display name, path on its file system)
    since: datetime | None = None
    until: datetime | None = None
    storage_options: Mapping[str, Any] | None = None

    def window(self) -> str | None:
        """``since .. until`` in ISO 8601, or None without a window."""
        if self.since is None and self.until is None:
            return None
        return f"{_iso(self.since) or '...'} .. {_iso(self.until) or '...'}"


def open_source(
    location: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    storage_options: dict[str, Any] | None = None,
) -> TableSource:
    """Open the CSV and Parquet files at ``location`` as one table (see the module
    docstring); footers and CSV files are read now, Parquet data only on demand."""
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since >= until:
        raise InputError(
            f"the time window is empty: since {_iso(since)} is not before {_iso(until)}"
        )
    filesystem, files = list_files(location, storage_options)
    options = dict(storage_options) if storage_options else None
    return _open(SourceSpec(location, tuple(files), since, until, options), filesystem)


def reopen(spec: SourceSpec) -> TableSource:
    """The source ``spec`` describes, over the same files (no new listing)."""
    filesystem = _filesystem(spec.location, spec.storage_options)[0]
    return _open(spec, filesystem)


def _open(spec: SourceSpec, filesystem: Any) -> TableSource:
    parts: list[_Part] = []
    for name, path in spec.files:
        if _written_before(name, spec.since):
            continue
        if table_format(name) == "parquet":
            parts.append(_ParquetPart(name, path, filesystem, spec))
        else:
            parts.append(_FramePart(name, _read_csv(name, path, filesystem, spec)))
    return TableSource(spec, parts)


class _Part(Protocol):
    name: str
    kinds: dict[str, str]

    def rows(self) -> int: ...

    def numeric(self, column: str) -> Iterator[FloatArray]: ...

    def texts(self, column: str) -> Iterator[list[str | None]]: ...

    def value_counts(self, column: str, counts: dict[str, int]) -> int: ...


class TableSource:
    """One table made of the files of a location; see the module docstring."""

    def __init__(self, spec: SourceSpec, parts: list[_Part]) -> None:
        self.spec = spec
        self._parts = parts
        self._kinds = _merged_kinds(parts)
        self._rows: int | None = None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, name: str = "(data frame)") -> TableSource:
        """A source over a pandas DataFrame in memory (it cannot go to a Dask cluster)."""
        return cls(SourceSpec(name, ()), [_FramePart(name, frame)])

    @property
    def location(self) -> str:
        return self.spec.location

    @property
    def files(self) -> list[str]:
        """The files read (those named before ``since`` are not)."""
        return [part.name for part in self._parts]

    def describe(self) -> str:
        window = self.spec.window()
        return self.location if window is None else f"{self.location} ({window})"

    def schema(self) -> dict[str, str]:
        """Column name -> ``numeric`` or ``categorical``, in file order."""
        return {name: NUMERIC if kind == UNKNOWN else kind for name, kind in self._kinds.items()}

    def kind(self, name: str) -> str:
        if name not in self._kinds:
            raise InputError(f"column {name!r} is not in {self.describe()}")
        return self.schema()[name]

    @property
    def rows(self) -> int:
        """Rows in the window (all rows without one)."""
        if self._rows is None:
            self._rows = sum(part.rows() for part in self._parts)
        return self._rows

    def column(self, name: str) -> FloatArray | ObjectArray:
        """The column's values in row order, in a new array the caller owns: float64
        with NaN for missing (numeric), or objects, str or None (categorical)."""
        if self.kind(name) == NUMERIC:
            return self.numeric(name)
        out = np.empty(self.rows, dtype=object)
        start = 0
        for part in self._parts:
            for chunk in part.texts(name):
                out[start : start + len(chunk)] = chunk
                start += len(chunk)
        return out

    def numeric(self, name: str) -> FloatArray:
        """A numeric column as a new float64 array, NaN where missing."""
        if self.kind(name) != NUMERIC:
            raise InputError(f"column {name!r} of {self.describe()} is not numeric")
        out = np.empty(self.rows, dtype=np.float64)
        start = 0
        for part in self._parts:
            for chunk in part.numeric(name):
                out[start : start + len(chunk)] = chunk
                start += len(chunk)
        return out

    def value_counts(self, name: str) -> tuple[dict[str, int], int]:
        """(rows per category as text, missing rows) of a column, counted file by file
        and row group by row group."""
        self.kind(name)
        counts: dict[str, int] = {}
        missing = sum(part.value_counts(name, counts) for part in self._parts)
        return counts, missing


# --- listing ------------------------------------------------------------------------------


def list_files(
    location: str, options: Mapping[str, Any] | None
) -> tuple[Any, list[tuple[str, str]]]:
    """(the file system, [(display name, path)]) of the tables at ``location``."""
    if "://" not in location:
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem(), files_under(Path(location))
    filesystem, root = _filesystem(location, options)
    root = root.rstrip("/")
    try:
        if filesystem.isfile(root):
            if table_format(root) is None:
                raise PathError(location, "is not a .csv, .parquet or .pq file")
            return filesystem, [(location, root)]
        if not filesystem.isdir(root):
            raise PathError(location, "does not exist")
        found = sorted(filesystem.find(root))
    except PathError:
        raise
    except Exception as exc:  # each fsspec backend raises its own (botocore: no credentials)
        raise PathError(location, f"cannot be listed: {first_line(exc)}") from exc
    files = [(f"{location.rstrip('/')}/{rel}", path) for rel, path in _visible(root, found)]
    if not files:
        raise PathError(location, f"holds no CSV or Parquet files ({', '.join(SUFFIXES)})")
    return filesystem, files


def _visible(root: str, paths: list[str]) -> Iterator[tuple[str, str]]:
    for path in paths:
        rel = path[len(root) :].lstrip("/")
        if rel and is_table_file(rel) and not any(p.startswith(".") for p in rel.split("/")):
            yield rel, path


def _filesystem(location: str, options: Mapping[str, Any] | None) -> tuple[Any, str]:
    """(the file system of ``location``, its path there)."""
    import fsspec

    if "://" not in location:
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem(), location
    try:
        found: tuple[Any, str] = fsspec.core.url_to_fs(location, **dict(options or {}))
    except (ImportError, ValueError, TypeError) as exc:
        raise PathError(location, f"cannot be opened: {first_line(exc)}") from exc
    return found


def _is_local(filesystem: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(filesystem, LocalFileSystem)


def _written_before(name: str, since: datetime | None) -> bool:
    """An inference-log file written before ``since`` holds only older rows."""
    match = _LOG_FILE.search(name)
    if since is None or match is None:
        return False
    written = datetime.strptime(match[1], "%Y%m%dT%H%M%S.%f").replace(tzinfo=timezone.utc)
    return written < since


def _merged_kinds(parts: list[_Part]) -> dict[str, str]:
    kinds: dict[str, str] = {}
    first: dict[str, str] = {}
    for part in parts:
        for column, kind in part.kinds.items():
            known = kinds.get(column, UNKNOWN)
            if kind != UNKNOWN and known not in (UNKNOWN, kind):
                problem = f"is {kind} here but {known} in {first[column]}"
                raise TableReadError(part.name, column, problem)
            if kind != UNKNOWN or column not in kinds:
                kinds[column] = kind if kind != UNKNOWN else known
                first.setdefault(column, part.name)
    return kinds


# --- Parquet ------------------------------------------------------------------------------


class _ParquetPart:
    """One Parquet file, read one column and one row group at a time."""

    def __init__(self, name: str, path: str, filesystem: Any, spec: SourceSpec) -> None:
        self.name = name
        self.path = path
        self._filesystem = filesystem
        self._local = _is_local(filesystem)
        self._window = (_micros(spec.since, _FIRST + 1), _micros(spec.until, _LAST))
        self._windowed = spec.since is not None or spec.until is not None
        self._meta: Any = None
        self._selection: list[Selection] | None = None
        with self._reading() as handle:
            self._meta = handle.metadata
            schema = handle.schema_arrow
        self._types = {field.name: field.type for field in schema}
        self.kinds = {n: k for n, t in self._types.items() if (k := _arrow_kind(t)) is not None}

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            with contextlib.ExitStack() as stack:
                source = self.path if self._local else stack.enter_context(self._open())
                handle = pq.ParquetFile(source, metadata=self._meta)
                stack.callback(handle.close)
                yield handle
        except (OSError, pa.ArrowException) as exc:
            problem = f"not a readable Parquet file: {first_line(exc)}"
            raise TableReadError(self.name, None, problem) from exc

    def _open(self) -> Any:
        return self._filesystem.open(self.path, "rb")

    def rows(self) -> int:
        return sum(self._group_rows(i, chosen) for i, chosen in enumerate(self._selected()))

    def _group_rows(self, index: int, chosen: Selection) -> int:
        if chosen is True:
            return int(self._meta.row_group(index).num_rows)
        return 0 if chosen is False else int(np.count_nonzero(chosen))

    def numeric(self, column: str) -> Iterator[FloatArray]:
        selection = self._selected()
        if column not in self.kinds:
            for index, chosen in enumerate(selection):
                yield np.full(self._group_rows(index, chosen), np.nan)
            return
        for chunk in self._chunks(column, selection):
            yield _floats(chunk)

    def texts(self, column: str) -> Iterator[list[str | None]]:
        selection = self._selected()
        if column not in self.kinds:
            for index, chosen in enumerate(selection):
                yield [None] * self._group_rows(index, chosen)
            return
        for chunk in self._chunks(column, selection):
            yield [None if v is None else _text(v) for v in _decoded(chunk).to_pylist()]

    def value_counts(self, column: str, counts: dict[str, int]) -> int:
        import pyarrow.compute as pc

        selection = self._selected()
        if column not in self.kinds:
            return sum(self._group_rows(i, chosen) for i, chosen in enumerate(selection))
        missing = 0
        for chunk in self._chunks(column, selection):
            missing += chunk.null_count
            found = pc.value_counts(_decoded(chunk).drop_null())
            values = found.field("values").to_pylist()
            for value, count in zip(values, found.field("counts").to_pylist(), strict=True):
                key = _text(value)
                counts[key] = counts.get(key, 0) + count
        return missing

    def _chunks(self, column: str, selection: list[Selection]) -> Iterator[Any]:
        """The column's values in each selected row group, window applied."""
        import pyarrow as pa

        with self._reading() as handle:
            for index, chosen in enumerate(selection):
                if chosen is False:
                    continue
                values = handle.read_row_group(index, columns=[column]).column(0)
                yield values if chosen is True else values.filter(pa.array(chosen))

    def _selected(self) -> list[Selection]:
        if self._selection is None:
            groups = self._meta.num_row_groups
            if not self._windowed:
                self._selection = [True] * groups
            else:
                self._selection = self._select(groups)
        return self._selection

    def _select(self, groups: int) -> list[Selection]:
        kind = self._types.get(TIMESTAMP)
        if kind is None:
            raise FileFormatError(self.name, TIMESTAMP, "no such column; a time window needs it")
        import pyarrow.types as pat

        if not pat.is_timestamp(kind):
            raise FileFormatError(self.name, TIMESTAMP, f"is {kind}, not a timestamp")
        position = self._meta.schema.names.index(TIMESTAMP)
        with self._reading() as handle:
            return [self._group_selection(handle, i, position) for i in range(groups)]

    def _group_selection(self, handle: Any, index: int, position: int) -> Selection:
        low, high = self._window
        bounds = _time_bounds(self._meta.row_group(index).column(position).statistics)
        if bounds is not None:
            if bounds[1] < low or bounds[0] >= high:
                return False
            if bounds[0] >= low and bounds[1] < high:
                return True
        stamps = _stamps(handle.read_row_group(index, columns=[TIMESTAMP]).column(0))
        mask = (stamps >= low) & (stamps < high)
        return True if mask.all() else False if not mask.any() else mask


def _arrow_kind(data_type: Any) -> str | None:
    import pyarrow.types as pat

    if pat.is_dictionary(data_type) or pat.is_boolean(data_type):
        return CATEGORICAL
    if pat.is_string(data_type) or pat.is_large_string(data_type):
        return CATEGORICAL
    if getattr(pat, "is_string_view", lambda _: False)(data_type):
        return CATEGORICAL
    if pat.is_integer(data_type) or pat.is_floating(data_type) or pat.is_decimal(data_type):
        return NUMERIC
    return UNKNOWN if pat.is_null(data_type) else None


def _floats(values: Any) -> FloatArray:
    import pyarrow as pa
    import pyarrow.compute as pc

    found: FloatArray = pc.cast(values, pa.float64(), safe=False).to_numpy()
    return found


def _decoded(values: Any) -> Any:
    import pyarrow.compute as pc
    import pyarrow.types as pat

    if pat.is_dictionary(values.type):
        return pc.cast(values, values.type.value_type)
    return values


def _text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def _stamps(values: Any) -> npt.NDArray[np.int64]:
    """Microseconds since the epoch (UTC), the smallest integer where null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    micros = pc.cast(values, pa.timestamp("us", tz=values.type.tz), safe=False)
    found: npt.NDArray[np.int64] = (
        pc.cast(micros, pa.int64()).fill_null(_FIRST).to_numpy().astype(np.int64, copy=False)
    )
    return found


def _time_bounds(statistics: Any) -> tuple[int, int] | None:
    """(min, max) of a row group's timestamps in microseconds, when recorded."""
    if statistics is None or not statistics.has_min_max:
        return None
    low, high = statistics.min, statistics.max
    if not isinstance(low, datetime) or not isinstance(high, datetime):
        return None
    return _micros(low, _FIRST), _micros(high, _LAST)


def _micros(moment: datetime | None, default: int) -> int:
    if moment is None:
        return default
    return (_utc_required(moment) - _EPOCH) // _MICROSECOND


# --- CSV ----------------------------------------------------------------------------------


class _FramePart:
    """A table held in memory: a CSV file read whole, or a DataFrame given."""

    def __init__(self, name: str, frame: pd.DataFrame) -> None:
        self.name = name
        self.frame = frame
        self.kinds = {str(c): k for c in frame.columns if (k := _pandas_kind(frame[c])) is not None}

    def rows(self) -> int:
        return len(self.frame)

    def numeric(self, column: str) -> Iterator[FloatArray]:
        if column not in self.kinds:
            yield np.full(len(self.frame), np.nan)
            return
        yield self.frame[column].to_numpy(dtype=np.float64, na_value=np.nan)

    def texts(self, column: str) -> Iterator[list[str | None]]:
        if column not in self.kinds:
            yield [None] * len(self.frame)
            return
        values = self.frame[column]
        yield [
            None if missing else _text(v) for v, missing in zip(values, values.isna(), strict=True)
        ]

    def value_counts(self, column: str, counts: dict[str, int]) -> int:
        if column not in self.kinds:
            return len(self.frame)
        values = self.frame[column]
        present = values.dropna()
        for value, count in present.map(_text).value_counts(sort=False).items():
            counts[str(value)] = counts.get(str(value), 0) + int(count)
        return len(values) - len(present)


def _pandas_kind(values: pd.Series) -> str | None:
    from pandas.api import types

    if bool(values.isna().all()):
        return UNKNOWN
    if types.is_bool_dtype(values.dtype):
        return CATEGORICAL
    if types.is_numeric_dtype(values.dtype):
        return NUMERIC
    if types.is_datetime64_any_dtype(values.dtype) or types.is_timedelta64_dtype(values.dtype):
        return None
    return CATEGORICAL


def _read_csv(name: str, path: str, filesystem: Any, spec: SourceSpec) -> pd.DataFrame:
    """The CSV file as a DataFrame, window applied; a remote file is copied to a
    temporary folder first."""
    if _is_local(filesystem):
        frame = read_one(name, path)
    else:
        with tempfile.TemporaryDirectory(prefix="lockstep-csv-") as folder:
            local = os.path.join(folder, "table.csv")
            try:
                filesystem.get_file(path, local)
            except OSError as exc:
                raise TableReadError(name, None, f"cannot be read: {first_line(exc)}") from exc
            frame = read_one(name, local)
    if spec.since is None and spec.until is None:
        return frame
    return _in_window(name, frame, spec)


def _in_window(name: str, frame: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
    import pandas as pd

    if TIMESTAMP not in frame.columns:
        raise FileFormatError(name, TIMESTAMP, "no such column; a time window needs it")
    text = frame[TIMESTAMP]
    stamps = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = stamps.isna() & text.notna()
    if bool(bad.any()):
        example = text[bad].iloc[0]
        raise FileFormatError(name, TIMESTAMP, f"{example!r} is not an ISO 8601 time")
    keep = stamps.notna()
    if spec.since is not None:
        keep &= stamps >= pd.Timestamp(spec.since)
    if spec.until is not None:
        keep &= stamps < pd.Timestamp(spec.until)
    return frame.loc[keep].reset_index(drop=True)


# --- time ---------------------------------------------------------------------------------


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else _utc_required(moment)


def _utc_required(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
