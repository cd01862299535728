"""Model performance over time: the inference log joined with ground truth.

The model server appends every served row it samples to its inference log, Parquet
files under a folder or fsspec URL; ground truth (the labels the world revealed
later) arrives as CSV or Parquet files keyed by request id. :func:`track` joins
the two and scores the model per time bucket and per version::

    result = track("s3://logs/churn", "labels.csv", metric="f1", every="1d")
    result.dropped                      # True when some bucket fell below baseline
    [b.to_dict() for b in result.buckets]

The design, step by step:

* **Reading.** Both inputs are a file or a folder (searched recursively, hidden
  files and folders skipped: the server's ``.<name>.lockstep-tmp`` files are
  hidden) on any fsspec file system. Only the columns needed are read from
  Parquet (``timestamp``, ``request_id``, ``row``, ``prediction``, ``version``,
  ``proba_*``; for truth the id, ``row`` and label columns), so wide input rows
  cost nothing. Log files are named ``<UTC time>-<pid>-<seq>.parquet`` and are
  written after the rows they hold were served, so with ``since`` a file named
  before it is not opened at all.
* **Joining.** A served row is identified by ``(request_id, row)``: ``row`` is its
  position inside its request. Files without a ``row`` column (older logs, or
  truth labelled per request) count every request as one row, row 0. Truth rows
  without a label are not truth; a key labelled twice keeps its last label. Log
  rows without truth are left out and counted (``unlabelled``), as are truth
  rows that match no log row in the time window (``unmatched_truth``).
* **Scoring.** scikit-learn computes the metric. The classes are the labels seen
  in truth and predictions plus the classes named by ``proba_<class>`` columns;
  two classes make a binary problem whose positive class is the larger one (1,
  ``"yes"``), more average over classes (macro). ``roc_auc`` scores the
  probabilities (of the positive class when binary) and uses only rows that have
  them. A metric that cannot be computed from the data at all (a classification
  metric on numbers, ``mae`` on text labels) is an :class:`InputError`; one
  undefined inside a bucket (``roc_auc`` with one class only) is ``None`` there.
* **Bucketing.** Rows fall into buckets of width ``every`` (``30m``, ``1h``,
  ``6h``, ``1d``, ``7d``, ``2w``), aligned to ``since`` when given and else to
  UTC midnights and Mondays, and are scored per bucket and version.
* **Flagging.** The baseline is the value given (the metric recorded when the
  model was registered) or else the first bucket, in time order, with at least
  ``min_rows`` rows. A bucket with at least ``min_rows`` rows is flagged when its
  value falls more than ``max_drop`` (absolute) below the baseline, or for the
  error metrics ``mae`` and ``rmse`` rises more than ``max_drop`` above it.

Errors are one line and name the file and column: :class:`PathError` for a path
that does not exist or holds no tables, :class:`TableReadError` for an unreadable
file, :class:`FileFormatError` for a missing column, :class:`InputError` for a
bad setting or when log and truth do not overlap at all.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from lockstep.datacheck.report import first_line
from lockstep.datacheck.tables import table_format
from lockstep.errors import FileFormatError, InputError, PathError, TableReadError

if TYPE_CHECKING:
    import pandas as pd

PROBA_PREFIX = "proba_"
LOG_COLUMNS = ("timestamp", "request_id", "row", "prediction", "version")
_REQUIRED_LOG_COLUMNS = ("timestamp", "request_id", "prediction")
_KEYS = ["request_id", "row"]
_TRUTH = "_truth"  # the label column, renamed so it cannot clash with a log column
_LOG_SUFFIXES = (".parquet", ".pq")
_TRUTH_SUFFIXES = (".csv", ".parquet", ".pq")
_EVERY = re.compile(r"\s*([1-9][0-9]*)\s*([mhdw])\s*", re.IGNORECASE)
_UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_ORIGIN = datetime(1970, 1, 5, tzinfo=timezone.utc)  # a Monday, at UTC midnight
_FILE_STAMP = re.compile(r"(\d{8}T\d{6}\.\d{6})Z-")
_EPSILON = 1e-12  # 0.90 - 0.85 is 0.0500000001: not a drop of more than 0.05


@dataclass(frozen=True)
class _Metric:
    name: str
    kind: str  # "label": predicted labels, "proba": probabilities, "number": regression
    higher_is_better: bool = True


_METRICS = {
    m.name: m
    for m in (
        _Metric("accuracy", "label"),
        _Metric("f1", "label"),
        _Metric("precision", "label"),
        _Metric("recall", "label"),
        _Metric("roc_auc", "proba"),
        _Metric("mae", "number", higher_is_better=False),
        _Metric("rmse", "number", higher_is_better=False),
        _Metric("r2", "number"),
    )
}
METRICS = tuple(_METRICS)
"""The names :func:`track` accepts as ``metric``."""


@dataclass(frozen=True)
class Bucket:
    """The rows of one version served in ``[start, end)``, and their score."""

    start: datetime
    end: datetime
    version: str | None
    rows: int
    value: float | None  # None when the metric is undefined for these rows
    flagged: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "version": self.version,
            "rows": self.rows,
            "value": self.value,
            "flagged": self.flagged,
        }


@dataclass(frozen=True)
class PerformanceResult:
    """What :func:`track` found: one :class:`Bucket` per time bucket and version."""

    metric: str
    every: str
    higher_is_better: bool
    baseline: float | None
    max_drop: float
    min_rows: int
    joined: int  # log rows that have truth
    unmatched_truth: int  # truth rows that match no log row in the time window
    unlabelled: int  # log rows in the time window without truth
    buckets: list[Bucket]

    @property
    def dropped(self) -> bool:
        """True when any bucket is flagged."""
        return any(bucket.flagged for bucket in self.buckets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "every": self.every,
            "higher_is_better": self.higher_is_better,
            "baseline": self.baseline,
            "max_drop": self.max_drop,
            "min_rows": self.min_rows,
            "joined": self.joined,
            "unmatched_truth": self.unmatched_truth,
            "unlabelled": self.unlabelled,
            "dropped": self.dropped,
            "buckets": [bucket.to_dict() for bucket in self.buckets],
        }


def track(
    log: str,
    truth: str,
    *,
    metric: str = "accuracy",
    every: str = "1d",
    id_column: str = "request_id",
    label_column: str = "label",
    since: datetime | None = None,
    until: datetime | None = None,
    baseline: float | None = None,
    max_drop: float = 0.05,
    min_rows: int = 30,
    storage_options: dict[str, Any] | None = None,
) -> PerformanceResult:
    """Score the served rows of ``log`` against the labels of ``truth`` over time.

    ``since`` and ``until`` (naive means UTC) keep log rows served in
    ``[since, until)``. See the module documentation for the rest.
    """
    spec = _metric(metric)
    width = parse_every(every)
    _check_settings(id_column, label_column, max_drop, min_rows)
    window = _window(since, until)
    options = storage_options or {}
    served = _read_log(log, window, options)
    labels = _read_truth(truth, id_column, label_column, options)
    joined, unmatched, unlabelled = _join(served, labels)
    if joined.empty:
        raise _no_overlap(log, truth, served, labels)
    scored, classes = _prepare(spec, joined, log, truth)
    origin = window[0] or _ORIGIN
    scores = _score_buckets(spec, scored, classes, origin, width)
    base = _baseline(baseline, scores, min_rows)
    buckets = [
        Bucket(
            start,
            start + width,
            version or None,
            rows,
            value,
            _flagged(spec, value, base, rows >= min_rows, max_drop),
        )
        for start, version, rows, value in scores
    ]
    return PerformanceResult(
        metric=spec.name,
        every="".join(every.split()).lower(),
        higher_is_better=spec.higher_is_better,
        baseline=base,
        max_drop=max_drop,
        min_rows=min_rows,
        joined=len(joined),
        unmatched_truth=unmatched,
        unlabelled=unlabelled,
        buckets=buckets,
    )


# --- settings ---------------------------------------------------------------------------


def parse_every(every: str) -> timedelta:
    """The width of a time bucket: ``30m``, ``1h``, ``6h``, ``1d``, ``7d``, ``2w``."""
    found = _EVERY.fullmatch(every) if isinstance(every, str) else None
    if found is None:
        raise InputError(
            f"every {every!r} is not a bucket width like 1h, 6h, 1d or 7d "
            "(a whole number and m, h, d or w)"
        )
    return int(found[1]) * _UNITS[found[2].lower()]


def _metric(name: str) -> _Metric:
    spec = _METRICS.get(name)
    if spec is None:
        raise InputError(f"unknown metric {name!r} (known: {', '.join(METRICS)})")
    return spec


def _check_settings(id_column: str, label_column: str, max_drop: float, min_rows: int) -> None:
    if id_column == label_column:
        raise InputError(f"id_column and label_column are both {id_column!r}")
    if not max_drop >= 0:  # also refuses NaN
        raise InputError(f"max_drop {max_drop} is not a number >= 0")
    if min_rows < 1:
        raise InputError(f"min_rows {min_rows} is not a whole number >= 1")


def _window(since: datetime | None, until: datetime | None) -> tuple[datetime | None, ...]:
    start, end = _utc(since), _utc(until)
    if start is not None and end is not None and start >= end:
        raise InputError(f"since {start.isoformat()} is not before until {end.isoformat()}")
    return start, end


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


# --- reading ----------------------------------------------------------------------------


def _files(url: str, suffixes: tuple[str, ...], kinds: str, options: dict[str, Any]) -> Any:
    """The file system of ``url`` and its table files, as (display name, path) pairs."""
    import fsspec

    try:
        filesystem, root = fsspec.core.url_to_fs(url, **options)
        if filesystem.isfile(root):
            if not root.lower().endswith(suffixes):
                raise PathError(url, f"is not a {kinds} file ({', '.join(suffixes)})")
            return filesystem, [(url, root)]
        if not filesystem.isdir(root):
            raise PathError(url, "does not exist")
        found = sorted(filesystem.find(root))
    except (OSError, ValueError, ImportError) as exc:
        raise PathError(url, f"cannot be read: {first_line(exc)}") from exc
    files = list(_visible(url, root, found, suffixes))
    if not files:
        raise PathError(url, f"holds no {kinds} files ({', '.join(suffixes)})")
    return filesystem, files


def _visible(
    url: str, root: str, paths: Iterable[str], suffixes: tuple[str, ...]
) -> Iterable[tuple[str, str]]:
    base = root.rstrip("/")
    for path in paths:
        relative = path[len(base) :].lstrip("/") if path.startswith(base) else path
        hidden = any(part.startswith(".") for part in relative.split("/"))
        if not hidden and relative.lower().endswith(suffixes):
            yield f"{url.rstrip('/')}/{relative}", path


def _read_log(log: str, window: tuple[datetime | None, ...], options: dict[str, Any]) -> Any:
    """The served rows in the window: timestamp, request_id, row, prediction, version,
    proba_*."""
    import pandas as pd

    filesystem, files = _files(log, _LOG_SUFFIXES, "Parquet", options)
    since, until = window
    frames = []
    for shown, path in files:
        if since is not None and _written_before(path, since):
            continue
        frame = _log_frame(_read_parquet(filesystem, shown, path, _log_columns), shown)
        if since is not None:
            frame = frame[frame["timestamp"] >= since]
        if until is not None:
            frame = frame[frame["timestamp"] < until]
        if len(frame):
            frames.append(frame)
    if not frames:
        raise InputError(f"the log {log} has no served rows{_shown_window(since, until)}")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _shown_window(since: datetime | None, until: datetime | None) -> str:
    parts = [
        f" from {since.isoformat()}" if since else "",
        f" until {until.isoformat()}" if until else "",
    ]
    return "".join(parts)


def _written_before(path: str, since: datetime) -> bool:
    """True when the log file at ``path`` was written before ``since``: all its rows were
    served before then."""
    found = _FILE_STAMP.match(path.rsplit("/", 1)[-1])
    if found is None:
        return False
    written = datetime.strptime(found[1], "%Y%m%dT%H%M%S.%f").replace(tzinfo=timezone.utc)
    return written < since


def _log_columns(shown: str, names: list[str]) -> list[str]:
    _require(shown, names, _REQUIRED_LOG_COLUMNS, "an inference log file has it")
    return [n for n in names if n in LOG_COLUMNS or n.startswith(PROBA_PREFIX)]


def _require(shown: str, names: list[str], columns: Iterable[str], why: str) -> None:
    for column in columns:
        if column not in names:
            listed = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
            raise FileFormatError(shown, column, f"no such column, {why} (columns: {listed})")


def _read_parquet(filesystem: Any, shown: str, path: str, pick: Any) -> Any:
    """The columns ``pick(shown, names)`` chooses of a Parquet file, as a DataFrame."""
    import pyarrow
    import pyarrow.parquet as pq

    try:
        with filesystem.open(path, "rb") as handle:
            parquet = pq.ParquetFile(handle)
            table = parquet.read(columns=pick(shown, list(parquet.schema_arrow.names)))
    except (OSError, ValueError, pyarrow.ArrowException) as exc:
        raise TableReadError(
            shown, None, f"not a readable Parquet file: {first_line(exc)}"
        ) from exc
    return table.to_pandas()


def _log_frame(frame: pd.DataFrame, shown: str) -> pd.DataFrame:
    import pandas as pd

    try:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    except (ValueError, TypeError) as exc:
        raise FileFormatError(shown, "timestamp", f"holds no times: {first_line(exc)}") from exc
    frame["request_id"] = _ids(frame["request_id"])
    frame["row"] = _rows(frame, shown)
    if "version" in frame:  # "" for rows without one: reported as version None
        frame["version"] = frame["version"].astype("string").fillna("").astype(str)
    else:
        frame["version"] = ""
    return frame


def _ids(values: pd.Series) -> Any:
    """Request ids as text; numbers (ids a truth file stores as numbers) without ``.0``."""
    from pandas.api import types

    return values.map(_key) if types.is_numeric_dtype(values) else values.astype(str)


def _rows(frame: pd.DataFrame, shown: str) -> Any:
    """The ``row`` column as integers, 0 where it is missing."""
    import pandas as pd

    if "row" not in frame:
        return 0
    values = pd.to_numeric(frame["row"], errors="coerce")
    if (values.isna() & frame["row"].notna()).any():
        raise FileFormatError(shown, "row", "holds values that are not row numbers")
    return values.fillna(0).astype("int64")


def _read_truth(truth: str, id_column: str, label_column: str, options: dict[str, Any]) -> Any:
    """The labelled keys of ``truth``: request_id, row and the label (as ``_TRUTH``)."""
    import pandas as pd

    filesystem, files = _files(truth, _TRUTH_SUFFIXES, "CSV or Parquet", options)
    columns = (id_column, label_column)
    frames = [
        _truth_frame(_read_truth_file(filesystem, shown, path, columns), shown, *columns)
        for shown, path in files
    ]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame = frame.dropna(subset=[_TRUTH]).drop_duplicates(_KEYS, keep="last")
    if frame.empty:
        raise InputError(f"{truth}: column {label_column} holds no labels")
    return frame


def _read_truth_file(filesystem: Any, shown: str, path: str, columns: tuple[str, str]) -> Any:
    def pick(shown: str, names: list[str]) -> list[str]:
        _require(shown, names, columns, "the truth needs it")
        return [c for c in (columns[0], "row", columns[1]) if c in names]

    if table_format(shown) != "csv":
        return _read_parquet(filesystem, shown, path, pick)
    import pandas as pd

    try:
        with filesystem.open(path, "rb") as handle:
            header = [str(c) for c in pd.read_csv(handle, nrows=0).columns]
            handle.seek(0)
            return pd.read_csv(handle, usecols=pick(shown, header), dtype={columns[0]: str})
    except (OSError, ValueError) as exc:  # ParserError, EmptyDataError, UnicodeDecodeError
        raise TableReadError(shown, None, f"not a readable CSV file: {first_line(exc)}") from exc


def _truth_frame(frame: pd.DataFrame, shown: str, id_column: str, label_column: str) -> Any:
    frame = frame.dropna(subset=[id_column])
    return frame.assign(
        request_id=_ids(frame[id_column]), row=_rows(frame, shown), _truth=frame[label_column]
    )[[*_KEYS, _TRUTH]]


def _key(value: Any) -> str:
    """A label or id as text: ``1.0`` as ``1``, so numbers read as floats still match."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- joining ----------------------------------------------------------------------------


def _join(served: pd.DataFrame, labels: pd.DataFrame) -> tuple[Any, int, int]:
    """The served rows that have truth, the truth rows without a served row, and the
    served rows without truth."""
    import pandas as pd

    joined = served.merge(labels, on=_KEYS, how="inner")
    known = pd.MultiIndex.from_frame(served[_KEYS])
    matched = pd.MultiIndex.from_frame(labels[_KEYS]).isin(known)
    return joined, int((~matched).sum()), len(served) - len(joined)


def _no_overlap(log: str, truth: str, served: pd.DataFrame, labels: pd.DataFrame) -> InputError:
    ids = served["request_id"].isin(set(labels["request_id"]))
    if ids.any():
        shown = sorted(set(labels["row"]))[:5]
        return InputError(
            f"no (request id, row) of {truth} is in the log {log}: its request ids are there "
            f"but not its rows {shown} (the log's rows are numbered from 0 in each request)"
        )
    return InputError(
        f"no request id of {truth} is in the log {log} ({len(served)} served rows; "
        f"log ids look like {served['request_id'].iloc[0]!r}, "
        f"truth ids like {labels['request_id'].iloc[0]!r})"
    )


# --- scoring ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Classes:
    labels: list[Any]  # sorted
    positive: Any  # the positive class of a binary problem, else None
    proba: dict[Any, str]  # class -> its proba_ column


def _prepare(spec: _Metric, joined: pd.DataFrame, log: str, truth: str) -> tuple[Any, Any]:
    """The rows to score and the classes of a classifier; checks the metric fits them."""
    joined = _aligned(joined)
    classes = None if spec.kind == "number" else _classes(joined)
    scored = joined
    if spec.kind == "proba":
        columns = _proba_columns(spec, classes, log)  # type: ignore[arg-type]
        scored = joined.dropna(subset=columns)
        if scored.empty:
            raise InputError(
                f"{spec.name} needs probabilities: no row of {log} with truth has them"
            )
    try:
        _score(spec, scored, classes)
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"metric {spec.name} cannot score the predictions of {log} against the labels of "
            f"{truth}: {first_line(exc)}"
        ) from exc
    return scored, classes


def _aligned(joined: pd.DataFrame) -> pd.DataFrame:
    """Labels and predictions compared as text when only one of them is numeric."""
    from pandas.api import types

    numeric = [types.is_numeric_dtype(joined[c]) for c in (_TRUTH, "prediction")]
    if numeric[0] == numeric[1]:
        return joined
    return joined.assign(_truth=joined[_TRUTH].map(_key), prediction=joined["prediction"].map(_key))


def _classes(joined: pd.DataFrame) -> _Classes:
    seen = set(joined[_TRUTH].unique().tolist()) | set(joined["prediction"].unique().tolist())
    by_key = {_key(v): v for v in seen}
    numeric = all(isinstance(v, (int, float)) for v in seen)
    proba = {
        _class_of(c[len(PROBA_PREFIX) :], by_key, numeric): c
        for c in joined.columns
        if c.startswith(PROBA_PREFIX)
    }
    labels = _sorted(seen | set(proba))
    return _Classes(labels, labels[-1] if len(labels) <= 2 else None, proba)


def _class_of(name: str, by_key: dict[str, Any], numeric: bool) -> Any:
    """The class a ``proba_<name>`` column is for."""
    if name in by_key or not numeric:
        return by_key.get(name, name)
    try:
        return int(name)
    except ValueError:
        try:
            return float(name)
        except ValueError:
            return name


def _sorted(values: Iterable[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _proba_columns(spec: _Metric, classes: _Classes, log: str) -> list[str]:
    """The proba_ columns the metric needs, in the order of ``classes.labels``."""
    found = ", ".join(classes.proba.values()) or "none"
    wanted = [classes.positive] if classes.positive is not None else classes.labels
    missing = [c for c in wanted if c not in classes.proba]
    if missing:
        raise InputError(
            f"{spec.name} needs the log's probabilities: {log} has no column "
            f"{PROBA_PREFIX}{_key(missing[0])} (proba columns: {found})"
        )
    return [classes.proba[c] for c in wanted]


def _score(spec: _Metric, frame: pd.DataFrame, classes: _Classes | None) -> float:
    """The metric over ``frame``; NaN when it is undefined there."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UndefinedMetricWarning: the value is NaN then
        if spec.kind == "number":
            return _regression(spec.name, frame)
        assert classes is not None
        if spec.kind == "proba":
            return _roc_auc(frame, classes)
        return _classification(spec.name, frame, classes)


def _regression(name: str, frame: pd.DataFrame) -> float:
    from sklearn import metrics  # type: ignore[import-untyped]

    y_true = frame[_TRUTH].to_numpy(dtype=float)
    y_pred = frame["prediction"].to_numpy(dtype=float)
    if name == "mae":
        return float(metrics.mean_absolute_error(y_true, y_pred))
    if name == "rmse":
        return math.sqrt(float(metrics.mean_squared_error(y_true, y_pred)))
    return float(metrics.r2_score(y_true, y_pred))


def _classification(name: str, frame: pd.DataFrame, classes: _Classes) -> float:
    from sklearn import metrics

    y_true, y_pred = frame[_TRUTH].to_numpy(), frame["prediction"].to_numpy()
    if name == "accuracy":
        return float(metrics.accuracy_score(y_true, y_pred))
    scorer = {
        "f1": metrics.f1_score,
        "precision": metrics.precision_score,
        "recall": metrics.recall_score,
    }[name]
    if classes.positive is not None:
        return float(scorer(y_true, y_pred, pos_label=classes.positive, zero_division=0))
    return float(scorer(y_true, y_pred, average="macro", zero_division=0))


def _roc_auc(frame: pd.DataFrame, classes: _Classes) -> float:
    from sklearn import metrics

    y_true = frame[_TRUTH].to_numpy()
    if classes.positive is not None:
        score = frame[classes.proba[classes.positive]].to_numpy(dtype=float)
        return float(metrics.roc_auc_score(y_true == classes.positive, score))
    scores = frame[[classes.proba[c] for c in classes.labels]].to_numpy(dtype=float)
    return float(metrics.roc_auc_score(y_true, scores, multi_class="ovr", labels=classes.labels))


# --- buckets ----------------------------------------------------------------------------

_Scores = list[tuple[datetime, str, int, float | None]]


def _score_buckets(
    spec: _Metric,
    scored: pd.DataFrame,
    classes: _Classes | None,
    origin: datetime,
    width: timedelta,
) -> _Scores:
    """(start, version, rows, value) per time bucket and version, in time order."""
    import pandas as pd

    start = pd.Timestamp(origin)
    step = pd.Timedelta(width)
    starts = start + ((scored["timestamp"] - start) // step) * step
    out: _Scores = []
    for (when, version), part in scored.groupby([starts.rename("start"), "version"], sort=True):
        out.append((when.to_pydatetime(), version, len(part), _bucket_value(spec, part, classes)))
    return out


def _bucket_value(spec: _Metric, part: pd.DataFrame, classes: _Classes | None) -> float | None:
    try:
        value = _score(spec, part, classes)
    except ValueError:  # undefined for these rows (sklearn versions raise or return NaN)
        return None
    return None if math.isnan(value) else value


def _baseline(given: float | None, scores: _Scores, min_rows: int) -> float | None:
    if given is not None:
        return float(given)
    for _, _, rows, value in scores:
        if rows >= min_rows and value is not None:
            return value
    return None


def _flagged(
    spec: _Metric, value: float | None, baseline: float | None, enough: bool, max_drop: float
) -> bool:
    if baseline is None or value is None or not enough:
        return False
    change = baseline - value if spec.higher_is_better else value - baseline
    return change > max_drop + _EPSILON
