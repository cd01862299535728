"""lockstep.monitor.performance: real Parquet logs and CSV/Parquet truth, real sklearn metrics."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from lockstep.errors import FileFormatError, InputError, PathError, TableReadError
from lockstep.monitor.performance import METRICS, Bucket, parse_every, track

MONDAY = datetime(2024, 3, 4, tzinfo=timezone.utc)
_seq = itertools.count(1)


def served(
    day: int,
    predictions: Sequence[Any],
    *,
    version: str = "1",
    per_request: int = 2,
    proba: dict[str, Sequence[float]] | None = None,
    minute: int = 0,
) -> pd.DataFrame:
    """Log rows as the server writes them: inputs, prediction, proba_*, own columns."""
    n = len(predictions)
    return pd.DataFrame(
        {
            "x": np.arange(n, dtype=float),
            "city": ["ams"] * n,
            "prediction": list(predictions),
            **{f"proba_{c}": np.asarray(v, dtype=float) for c, v in (proba or {}).items()},
            "timestamp": pd.to_datetime(
                [MONDAY + timedelta(days=day, minutes=minute + i) for i in range(n)], utc=True
            ).astype("datetime64[us, UTC]"),
            "model": "churn",
            "version": version,
            "request_id": [f"d{day}m{minute}v{version}-{i // per_request}" for i in range(n)],
            "row": [i % per_request for i in range(n)],
        }
    )


def write_log(folder: Path, frame: pd.DataFrame, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    written = frame["timestamp"].max() + pd.Timedelta(seconds=1)
    stamp = written.strftime("%Y%m%dT%H%M%S.%fZ")
    path = folder / (name or f"{stamp}-4242-{next(_seq):06d}.parquet")
    frame.to_parquet(path, index=False)
    return path


def labelled(frame: pd.DataFrame, labels: Sequence[Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {"request_id": frame["request_id"], "row": frame["row"], "label": list(labels)}
    )


def flipped(predictions: Sequence[int], wrong: int) -> list[int]:
    """The predictions with the last ``wrong`` of them turned into errors."""
    keep = len(predictions) - wrong
    return [p if i < keep else 1 - p for i, p in enumerate(predictions)]


def alternating(n: int) -> list[int]:
    return [i % 2 for i in range(n)]


@pytest.fixture
def three_days(tmp_path: Path) -> tuple[Path, Path]:
    """60 rows a day; accuracy 0.9, 0.9, 0.7; 5 rows without truth, 2 truth rows without rows."""
    log = tmp_path / "log"
    truths = []
    for day, wrong in ((0, 6), (1, 6), (2, 18)):
        frame = served(day, alternating(60))
        write_log(log / ("later" if day == 2 else ""), frame)
        truths.append(labelled(frame, flipped(alternating(60), wrong)))
    write_log(log, served(1, [1] * 5, minute=600))  # served, never labelled
    (log / ".junk.parquet.lockstep-tmp").write_bytes(b"half a file")
    (log / ".hidden").mkdir()
    (log / ".hidden" / "old.parquet").write_bytes(b"not parquet")
    (log / "README.txt").write_text("not a table")
    ghosts = pd.DataFrame({"request_id": ["ghost-1", "ghost-2"], "row": [0, 0], "label": [1, 0]})
    truth = tmp_path / "truth.csv"
    pd.concat([*truths, ghosts]).assign(note="reviewed").to_csv(truth, index=False)
    return log, truth


# --- accuracy over three days --------------------------------------------------------------


def test_accuracy_drop_on_day_three_is_flagged_on_day_three_only(
    three_days: tuple[Path, Path],
) -> None:
    log, truth = three_days
    result = track(str(log), str(truth))

    assert [b.start for b in result.buckets] == [MONDAY + timedelta(days=d) for d in range(3)]
    assert [b.end - b.start for b in result.buckets] == [timedelta(days=1)] * 3
    assert [b.rows for b in result.buckets] == [60, 60, 60]
    assert [b.value for b in result.buckets] == pytest.approx([0.9, 0.9, 0.7])
    assert [b.flagged for b in result.buckets] == [False, False, True]
    assert {b.version for b in result.buckets} == {"1"}
    assert result.baseline == pytest.approx(0.9)
    assert result.dropped
    assert (result.joined, result.unlabelled, result.unmatched_truth) == (180, 5, 2)
    assert result.metric == "accuracy"
    assert result.higher_is_better


def test_to_dict_is_json_with_iso_times(three_days: tuple[Path, Path]) -> None:
    log, truth = three_days
    doc = track(str(log), str(truth)).to_dict()

    json.dumps(doc, allow_nan=False)
    assert doc["buckets"][0]["start"] == "2024-03-04T00:00:00+00:00"
    assert doc["buckets"][2]["end"] == "2024-03-07T00:00:00+00:00"
    assert doc["dropped"] is True
    assert {k: doc[k] for k in ("metric", "every", "joined", "unlabelled", "unmatched_truth")} == {
        "metric": "accuracy",
        "every": "1d",
        "joined": 180,
        "unlabelled": 5,
        "unmatched_truth": 2,
    }
    assert set(doc["buckets"][0]) == {"start", "end", "version", "rows", "value", "flagged"}


def test_baseline_given_instead_of_the_first_bucket(three_days: tuple[Path, Path]) -> None:
    log, truth = three_days

    high = track(str(log), str(truth), baseline=0.99)
    assert high.baseline == 0.99
    assert [b.flagged for b in high.buckets] == [True, True, True]

    low = track(str(log), str(truth), baseline=0.74)
    assert [b.flagged for b in low.buckets] == [False, False, False]
    assert not low.dropped

    tolerant = track(str(log), str(truth), max_drop=0.2)
    assert tolerant.baseline == pytest.approx(0.9)
    assert not tolerant.dropped


def test_a_drop_of_exactly_max_drop_is_not_flagged(three_days: tuple[Path, Path]) -> None:
    log, truth = three_days
    result = track(str(log), str(truth), max_drop=0.2)  # 0.9 - 0.7 is 0.20000000000000007
    assert [b.flagged for b in result.buckets] == [False, False, False]


def test_buckets_of_six_hours_and_a_window(three_days: tuple[Path, Path]) -> None:
    log, truth = three_days
    result = track(str(log), str(truth), every="6h", min_rows=1)
    # each day's 60 rows are served in its first hour; day 1's 5 unlabelled ones at 10:00
    assert [b.start for b in result.buckets] == [MONDAY + timedelta(days=d) for d in range(3)]
    assert [b.end - b.start for b in result.buckets] == [timedelta(hours=6)] * 3
    assert result.unlabelled == 5

    since = MONDAY + timedelta(days=1)
    until = MONDAY + timedelta(days=2)
    window = track(str(log), str(truth), since=since, until=until.replace(tzinfo=None))
    assert [b.start for b in window.buckets] == [since]
    assert (window.joined, window.unlabelled, window.unmatched_truth) == (60, 5, 122)


def test_week_buckets_start_on_mondays(three_days: tuple[Path, Path]) -> None:
    log, truth = three_days
    result = track(str(log), str(truth), every="7d")
    assert len(result.buckets) == 1
    assert result.buckets[0].start == MONDAY
    assert result.buckets[0].value == pytest.approx(150 / 180)


# --- min_rows --------------------------------------------------------------------------------


def test_buckets_below_min_rows_are_reported_but_never_flagged(tmp_path: Path) -> None:
    log, truths = tmp_path / "log", []
    for day, n, wrong in ((0, 10, 5), (1, 40, 4), (2, 10, 10), (3, 40, 20)):
        frame = served(day, alternating(n))
        write_log(log, frame)
        truths.append(labelled(frame, flipped(alternating(n), wrong)))
    pd.concat(truths).to_csv(tmp_path / "truth.csv", index=False)

    result = track(str(log), str(tmp_path / "truth.csv"))

    assert [b.rows for b in result.buckets] == [10, 40, 10, 40]
    assert [b.value for b in result.buckets] == pytest.approx([0.5, 0.9, 0.0, 0.5])
    assert result.baseline == pytest.approx(0.9)  # the first bucket with 30 rows
    assert [b.flagged for b in result.buckets] == [False, False, False, True]

    none_big_enough = track(str(log), str(tmp_path / "truth.csv"), min_rows=100)
    assert none_big_enough.baseline is None
    assert not none_big_enough.dropped


# --- classifiers with probabilities ---------------------------------------------------------


def binary_day(day: int, rng: np.random.Generator, noise: float) -> tuple[pd.DataFrame, list[int]]:
    p1 = rng.uniform(size=80)
    frame = served(day, (p1 > 0.5).astype(int).tolist(), proba={"0": 1 - p1, "1": p1})
    labels = (p1 + rng.normal(scale=noise, size=80) > 0.5).astype(int).tolist()
    return frame, labels


@pytest.mark.parametrize("metric", ["f1", "precision", "recall", "roc_auc", "accuracy"])
def test_binary_metrics_match_sklearn_per_day(tmp_path: Path, metric: str) -> None:
    rng = np.random.default_rng(7)
    days = [binary_day(day, rng, noise) for day, noise in ((0, 0.05), (1, 0.1), (2, 0.6))]
    for frame, _ in days:
        write_log(tmp_path / "log", frame)
    truth = pd.concat([labelled(frame, labels) for frame, labels in days])
    truth.to_parquet(tmp_path / "truth.parquet", index=False)

    result = track(str(tmp_path / "log"), str(tmp_path / "truth.parquet"), metric=metric)

    expected = []
    for frame, labels in days:
        if metric == "roc_auc":
            expected.append(metrics.roc_auc_score(labels, frame["proba_1"]))
        elif metric == "accuracy":
            expected.append(metrics.accuracy_score(labels, frame["prediction"]))
        else:
            scorer = getattr(metrics, f"{metric}_score")
            expected.append(scorer(labels, frame["prediction"], pos_label=1))
    assert [b.value for b in result.buckets] == pytest.approx(expected)
    assert result.baseline == pytest.approx(expected[0])
    assert result.buckets[2].flagged
    assert [b.flagged for b in result.buckets] == [e < expected[0] - 0.05 for e in expected]


def test_binary_text_classes_use_the_larger_class_as_positive(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    p_yes = rng.uniform(size=60)
    names = np.where(p_yes > 0.5, "yes", "no").tolist()
    frame = served(0, names, proba={"no": 1 - p_yes, "yes": p_yes})
    write_log(tmp_path / "log", frame)
    labels = np.where(p_yes + rng.normal(scale=0.3, size=60) > 0.5, "yes", "no").tolist()
    labelled(frame, labels).to_csv(tmp_path / "truth.csv", index=False)

    f1 = track(str(tmp_path / "log"), str(tmp_path / "truth.csv"), metric="f1")
    auc = track(str(tmp_path / "log"), str(tmp_path / "truth.csv"), metric="roc_auc")

    assert f1.buckets[0].value == pytest.approx(metrics.f1_score(labels, names, pos_label="yes"))
    yes = [label == "yes" for label in labels]
    assert auc.buckets[0].value == pytest.approx(metrics.roc_auc_score(yes, p_yes))


def test_multiclass_metrics_average_over_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    raw = rng.dirichlet([1.0, 1.0, 1.0], size=90)
    classes = np.array(["a", "b", "c"])
    predictions = classes[raw.argmax(axis=1)].tolist()
    frame = served(0, predictions, proba={c: raw[:, k] for k, c in enumerate(classes)})
    write_log(tmp_path / "log", frame)
    labels = [p if rng.uniform() < 0.7 else str(rng.choice(classes)) for p in predictions]
    labelled(frame, labels).to_csv(tmp_path / "truth.csv", index=False)
    args = (str(tmp_path / "log"), str(tmp_path / "truth.csv"))

    f1 = track(*args, metric="f1")
    recall = track(*args, metric="recall")
    auc = track(*args, metric="roc_auc")

    assert f1.buckets[0].value == pytest.approx(
        metrics.f1_score(labels, predictions, average="macro")
    )
    assert recall.buckets[0].value == pytest.approx(
        metrics.recall_score(labels, predictions, average="macro")
    )
    assert auc.buckets[0].value == pytest.approx(
        metrics.roc_auc_score(labels, raw, multi_class="ovr", labels=list(classes))
    )


def test_roc_auc_of_a_bucket_with_one_class_is_none(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    days = [binary_day(day, rng, 0.1) for day in (0, 1)]
    for frame, _ in days:
        write_log(tmp_path / "log", frame)
    labels = [days[0][1], [1] * 80]
    truth = pd.concat([labelled(frame, lab) for (frame, _), lab in zip(days, labels, strict=True)])
    truth.to_csv(tmp_path / "truth.csv", index=False)

    result = track(str(tmp_path / "log"), str(tmp_path / "truth.csv"), metric="roc_auc")

    assert result.buckets[1].value is None
    assert not result.buckets[1].flagged
    assert result.to_dict()["buckets"][1]["value"] is None


def test_roc_auc_without_probabilities_is_an_input_error(three_days: tuple[Path, Path]) -> None:
    log, truth = three_days
    with pytest.raises(
        InputError, match=r"roc_auc needs .*no column proba_1 \(proba columns: none"
    ):
        track(str(log), str(truth), metric="roc_auc")


# --- regressors -------------------------------------------------------------------------------


@pytest.fixture
def regressor_log(tmp_path: Path) -> tuple[Path, Path, list[tuple[list[float], list[float]]]]:
    rng = np.random.default_rng(1)
    days = []
    for day, noise in ((0, 0.2), (1, 0.2), (2, 1.5)):
        predictions = rng.normal(loc=10, scale=3, size=50).tolist()
        actual = (np.asarray(predictions) + rng.normal(scale=noise, size=50)).tolist()
        write_log(tmp_path / "log", served(day, predictions, per_request=1))
        days.append((predictions, actual))
    truth = pd.concat(
        labelled(served(day, p, per_request=1), a) for day, (p, a) in enumerate(days)
    ).drop(columns="row")  # one row a request: truth without a row column
    truth.to_csv(tmp_path / "truth.csv", index=False)
    return tmp_path / "log", tmp_path / "truth.csv", days


def test_mae_rising_on_day_three_is_flagged(regressor_log: Any) -> None:
    log, truth, days = regressor_log
    result = track(str(log), str(truth), metric="mae", max_drop=0.5)

    expected = [metrics.mean_absolute_error(a, p) for p, a in days]
    assert [b.value for b in result.buckets] == pytest.approx(expected)
    assert [b.flagged for b in result.buckets] == [False, False, True]
    assert not result.higher_is_better
    assert result.baseline == pytest.approx(expected[0])


@pytest.mark.parametrize("metric", ["rmse", "r2"])
def test_rmse_and_r2_match_sklearn(regressor_log: Any, metric: str) -> None:
    log, truth, days = regressor_log
    result = track(str(log), str(truth), metric=metric, max_drop=0.5)

    if metric == "rmse":
        expected = [metrics.mean_squared_error(a, p) ** 0.5 for p, a in days]
    else:
        expected = [metrics.r2_score(a, p) for p, a in days]
    assert [b.value for b in result.buckets] == pytest.approx(expected)
    assert result.buckets[2].flagged == (metric == "rmse")


def test_a_classification_metric_on_a_regressor_is_an_input_error(regressor_log: Any) -> None:
    log, truth, _ = regressor_log
    with pytest.raises(InputError, match="metric f1 cannot score the predictions"):
        track(str(log), str(truth), metric="f1")


# --- versions, rows, files ----------------------------------------------------------------


def test_each_version_has_its_own_buckets(tmp_path: Path) -> None:
    old = served(0, alternating(40), version="1")
    new = served(0, alternating(40), version="2", minute=100)
    write_log(tmp_path / "log", old)
    write_log(tmp_path / "log", new)
    pd.concat([labelled(old, alternating(40)), labelled(new, flipped(alternating(40), 10))]).to_csv(
        tmp_path / "truth.csv", index=False
    )

    result = track(str(tmp_path / "log"), str(tmp_path / "truth.csv"))

    assert [(b.version, b.rows, b.value) for b in result.buckets] == [
        ("1", 40, 1.0),
        ("2", 40, 0.75),
    ]
    assert [b.flagged for b in result.buckets] == [False, True]


def test_a_log_without_row_column_counts_each_request_as_row_zero(tmp_path: Path) -> None:
    frame = served(0, alternating(40), per_request=1)
    write_log(tmp_path / "log", frame.drop(columns=["row", "version"]))
    truth = labelled(frame, flipped(alternating(40), 4))
    truth.drop(columns="row").to_csv(tmp_path / "no-row.csv", index=False)
    truth.to_csv(tmp_path / "with-row.csv", index=False)

    for name in ("no-row.csv", "with-row.csv"):
        result = track(str(tmp_path / "log"), str(tmp_path / name))
        assert (result.joined, result.buckets[0].value) == (40, pytest.approx(0.9))
        assert result.buckets[0].version is None  # an old file without a version column


def test_numeric_ids_and_text_labels_still_match(tmp_path: Path) -> None:
    frame = served(0, ["1", "0"] * 20, per_request=1)
    frame["request_id"] = [str(1000 + i) for i in range(40)]
    write_log(tmp_path / "log", frame)
    truth = pd.DataFrame({"id": range(1000, 1040), "y": [1, 0] * 20})  # ints, read back as ints
    truth.to_parquet(tmp_path / "truth.parquet", index=False)

    result = track(
        str(tmp_path / "log"), str(tmp_path / "truth.parquet"), id_column="id", label_column="y"
    )
    assert (result.joined, result.buckets[0].value) == (40, 1.0)


def test_truth_in_a_folder_keeps_the_last_label_of_a_key(tmp_path: Path) -> None:
    frame = served(0, alternating(40))
    write_log(tmp_path / "log", frame)
    (tmp_path / "truth").mkdir()
    labelled(frame, alternating(40)).to_csv(tmp_path / "truth" / "a.csv", index=False)
    correction = labelled(frame.iloc[:4], [1 - p for p in alternating(4)])
    correction.to_parquet(tmp_path / "truth" / "b.parquet", index=False)
    pd.DataFrame({"request_id": ["x"], "row": [0], "label": [None]}).to_csv(
        tmp_path / "truth" / "c.csv", index=False
    )

    result = track(str(tmp_path / "log"), str(tmp_path / "truth"))
    assert (result.joined, result.unmatched_truth) == (40, 0)
    assert result.buckets[0].value == pytest.approx(0.9)


def test_since_skips_log_files_written_before_it(tmp_path: Path, three_days: Any) -> None:
    log, truth = three_days
    (log / "20240101T000000.000000Z-1-000001.parquet").write_bytes(b"never opened")
    with pytest.raises(TableReadError):
        track(str(log), str(truth))
    result = track(str(log), str(truth), since=MONDAY)
    assert result.joined == 180


@pytest.fixture
def memory_url() -> Iterator[str]:
    url = f"memory://perf-{uuid.uuid4().hex}"
    yield url
    filesystem = fsspec.filesystem("memory")
    if filesystem.exists(url):
        filesystem.rm(url, recursive=True)


def test_log_and_truth_behind_an_fsspec_url(memory_url: str) -> None:
    filesystem = fsspec.filesystem("memory")
    frames = [served(day, alternating(40)) for day in range(2)]
    for day, frame in enumerate(frames):
        with filesystem.open(f"{memory_url}/log/{day}/part.parquet", "wb") as handle:
            frame.to_parquet(handle, index=False)
    with filesystem.open(f"{memory_url}/log/.tmp/part.parquet", "wb") as handle:
        handle.write(b"hidden")
    truth = pd.concat([labelled(frames[0], alternating(40)), labelled(frames[1], [0] * 40)])
    with filesystem.open(f"{memory_url}/truth.csv", "w") as handle:
        truth.to_csv(handle, index=False)

    result = track(f"{memory_url}/log", f"{memory_url}/truth.csv", storage_options={})

    assert [b.value for b in result.buckets] == pytest.approx([1.0, 0.5])
    assert result.dropped


# --- errors ---------------------------------------------------------------------------------


def test_unknown_metric_names_the_known_ones(three_days: tuple[Path, Path]) -> None:
    log, truth = three_days
    with pytest.raises(InputError) as caught:
        track(str(log), str(truth), metric="auc")
    assert str(caught.value) == (
        "unknown metric 'auc' (known: accuracy, f1, precision, recall, roc_auc, mae, rmse, r2)"
    )
    assert METRICS == ("accuracy", "f1", "precision", "recall", "roc_auc", "mae", "rmse", "r2")


@pytest.mark.parametrize("every", ["", "1", "d", "0d", "1.5h", "1x", "-1d", "1 day", "h1"])
def test_bad_every_is_an_input_error(three_days: tuple[Path, Path], every: str) -> None:
    log, truth = three_days
    with pytest.raises(InputError, match="is not a bucket width like 1h, 6h, 1d or 7d"):
        track(str(log), str(truth), every=every)


def test_every_parses_minutes_hours_days_and_weeks() -> None:
    assert parse_every("30m") == timedelta(minutes=30)
    assert parse_every("6h") == timedelta(hours=6)
    assert parse_every(" 7d ") == timedelta(days=7)
    assert parse_every("2w") == timedelta(weeks=2)
    assert parse_every("1H") == timedelta(hours=1)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"max_drop": -0.1}, "max_drop -0.1 is not a number >= 0"),
        ({"min_rows": 0}, "min_rows 0 is not a whole number >= 1"),
        ({"label_column": "request_id"}, "id_column and label_column are both 'request_id'"),
        ({"since": MONDAY, "until": MONDAY}, "is not before until"),
    ],
)
def test_bad_settings_are_input_errors(
    three_days: tuple[Path, Path], settings: dict[str, Any], problem: str
) -> None:
    log, truth = three_days
    with pytest.raises(InputError, match=problem):
        track(str(log), str(truth), **settings)


def test_missing_label_column_names_file_and_column(three_days: tuple[Path, Path]) -> None:
    log, truth = three_days
    with pytest.raises(FileFormatError) as caught:
        track(str(log), str(truth), label_column="outcome")
    assert caught.value.file == str(truth)
    assert caught.value.field == "outcome"
    assert str(caught.value).startswith(f"{truth}: outcome: no such column")
    assert "columns: request_id, row, label, note" in str(caught.value)


def test_missing_id_column_in_parquet_truth(tmp_path: Path, three_days: Any) -> None:
    log, truth = three_days
    pd.read_csv(truth).rename(columns={"request_id": "rid"}).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(FileFormatError, match=r"t\.parquet: request_id: no such column"):
        track(str(log), str(tmp_path / "t.parquet"))


def test_no_overlap_between_log_and_truth(three_days: tuple[Path, Path], tmp_path: Path) -> None:
    log, _ = three_days
    other = tmp_path / "other.csv"
    pd.DataFrame({"request_id": ["a", "b"], "label": [0, 1]}).to_csv(other, index=False)
    with pytest.raises(InputError, match=r"no request id of .*other\.csv is in the log"):
        track(str(log), str(other))


def test_matching_ids_with_other_rows_say_so(three_days: tuple[Path, Path], tmp_path: Path) -> None:
    log, truth = three_days
    shifted = tmp_path / "shifted.csv"
    pd.read_csv(truth).assign(row=lambda t: t["row"] + 5).to_csv(shifted, index=False)
    with pytest.raises(InputError, match=r"its request ids are there but not its rows \[5, 6\]"):
        track(str(log), str(shifted))


def test_unreadable_log_file_is_named(three_days: tuple[Path, Path]) -> None:
    log, truth = three_days
    (log / "later" / "broken.parquet").write_bytes(b"PAR1 but not really")
    with pytest.raises(TableReadError, match=r"later/broken\.parquet: not a readable Parquet"):
        track(str(log), str(truth))


def test_log_file_without_prediction_is_named(tmp_path: Path, three_days: Any) -> None:
    _, truth = three_days
    write_log(tmp_path / "bad", served(0, alternating(4)).drop(columns="prediction"), "x.parquet")
    with pytest.raises(FileFormatError, match=r"x\.parquet: prediction: no such column"):
        track(str(tmp_path / "bad"), str(truth))


def test_unreadable_truth_csv_is_named(three_days: tuple[Path, Path], tmp_path: Path) -> None:
    log, _ = three_days
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(TableReadError, match=r"empty\.csv: not a readable CSV file"):
        track(str(log), str(tmp_path / "empty.csv"))


def test_missing_paths(three_days: tuple[Path, Path], tmp_path: Path) -> None:
    log, truth = three_days
    with pytest.raises(PathError, match="nowhere: does not exist"):
        track(str(tmp_path / "nowhere"), str(truth))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PathError, match="empty: holds no Parquet files"):
        track(str(tmp_path / "empty"), str(truth))
    with pytest.raises(PathError, match=r"README\.txt: is not a CSV or Parquet file"):
        track(str(log), str(log / "README.txt"))


def test_a_window_without_rows_says_so(three_days: tuple[Path, Path]) -> None:
    log, truth = three_days
    with pytest.raises(InputError, match="has no served rows from 2025-01-01T00:00:00"):
        track(str(log), str(truth), since=datetime(2025, 1, 1))


def test_bucket_is_a_plain_value() -> None:
    bucket = Bucket(MONDAY, MONDAY + timedelta(days=1), None, 3, None, False)
    assert bucket.to_dict() == {
        "start": "2024-03-04T00:00:00+00:00",
        "end": "2024-03-05T00:00:00+00:00",
        "version": None,
        "rows": 3,
        "value": None,
        "flagged": False,
    }
