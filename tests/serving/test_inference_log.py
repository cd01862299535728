"""The inference log writes sampled rows to new Parquet files, locally or through fsspec,
and never lets a failed write reach the caller."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lockstep.errors import ServingError
from lockstep.serving.inference_log import InferenceLog
from lockstep.serving.spec import Column, LogSettings, Signature
from tests.serving.conftest import PIPELINE_SIGNATURE

NUMERIC = Signature((Column("a", "double"), Column("n", "long")))
NAME = re.compile(r"\d{8}T\d{6}\.\d{6}Z-\d+-\d{6}\.parquet")


def _read(folder: Path) -> pd.DataFrame:
    files = sorted(folder.glob("*.parquet"))
    assert files and all(NAME.fullmatch(f.name) for f in files), files
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def test_rows_with_and_without_probabilities(tmp_path: Path) -> None:
    log = InferenceLog(LogSettings(url=str(tmp_path)), NUMERIC, "churn", "1.2.0", ["no", "yes"])
    log.record(
        np.array([[0.5, 3.0], [1.5, 4.0]]),
        np.array(["no", "yes"], dtype=object),
        np.array([[0.9, 0.1], [0.2, 0.8]]),
        [("r1", 1), ("r2", 1)],
    )
    log.record(np.array([[2.5, 5.0]]), np.array(["no"], dtype=object), None, [("r3", 1)])
    log.close()
    rows = _read(tmp_path)
    assert list(rows.columns) == [
        *("a", "n", "prediction", "proba_no", "proba_yes"),
        *("timestamp", "model", "version", "request_id", "row"),
    ]
    assert rows["n"].dtype == np.int64 and rows["n"].tolist() == [3, 4, 5]
    assert rows["row"].tolist() == [0, 0, 0]
    assert rows["prediction"].tolist() == ["no", "yes", "no"]
    assert rows["proba_yes"].tolist()[:2] == [0.1, 0.8] and np.isnan(rows["proba_yes"][2])
    assert rows["request_id"].tolist() == ["r1", "r2", "r3"]
    assert set(rows["model"]) == {"churn"} and set(rows["version"]) == {"1.2.0"}
    assert str(rows["timestamp"].dt.tz) == "UTC"
    assert not list(tmp_path.glob(".*"))


def test_each_row_knows_its_place_in_its_request(tmp_path: Path) -> None:
    log = InferenceLog(
        LogSettings(url=str(tmp_path), sample_rate=0.5), NUMERIC, "churn", "1", ["no", "yes"]
    )
    data = np.arange(400, dtype=np.float64).reshape(200, 2)
    log.record(data, np.zeros(200), None, [("a", 150), ("b", 50)])
    log.close()
    rows = _read(tmp_path)
    assert 40 < len(rows) < 160  # a sample
    for rid, offset in (("a", 0), ("b", 150)):
        mine = rows[rows["request_id"] == rid]
        assert (mine["a"].to_numpy() == (mine["row"].to_numpy() + offset) * 2).all()


def test_dataframes_flush_by_rows_and_sampling(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    log = InferenceLog(
        LogSettings(url=str(folder), flush_rows=2, flush_seconds=60),
        PIPELINE_SIGNATURE,
        "m",
        "",
        None,
    )
    frame = pd.DataFrame({"age": [30.0, 40.0], "city": ["paris", "nice"], "visits": [1, 2]})
    for i in range(3):
        log.record(frame, np.array([0, 1]), None, [(f"r{i}", 2)])
    log.close()
    assert len(list(folder.glob("*.parquet"))) == 3
    rows = _read(folder)
    assert rows["city"].tolist() == ["paris", "nice"] * 3
    sampled = tmp_path / "sampled"
    log = InferenceLog(LogSettings(url=str(sampled), sample_rate=0.5), NUMERIC, "m", "1", None)
    data = np.column_stack([np.arange(1000.0), np.arange(1000.0)])
    log.record(data, np.zeros(1000), None, [("a", 500), ("b", 500)])
    log.close()
    kept = _read(sampled)
    assert 350 < len(kept) < 650
    assert (kept["a"] == kept["n"]).all()
    assert kept.groupby("request_id").size().to_dict().keys() == {"a", "b"}
    nothing = tmp_path / "nothing"
    log = InferenceLog(LogSettings(url=str(nothing), sample_rate=0.0), NUMERIC, "m", "1", None)
    log.record(data, np.zeros(1000), None, [("a", 1000)])
    log.close()
    assert not nothing.exists()


def test_an_fsspec_url(tmp_path: Path) -> None:
    import fsspec

    log = InferenceLog(LogSettings(url="memory://inference/logs"), NUMERIC, "m", "1", None)
    log.record(np.array([[1.0, 2.0]]), np.array([1.0]), None, [("r", 1)])
    log.close()
    memory = fsspec.filesystem("memory")
    (name,) = memory.ls("/inference/logs", detail=False)
    with memory.open(name, "rb") as handle:
        assert pd.read_parquet(handle)["a"].tolist() == [1.0]


def test_a_failed_write_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    log = InferenceLog(LogSettings(url=str(blocker)), NUMERIC, "m", "1", None)
    log.record(np.array([[1.0, 2.0]]), np.array([1.0]), None, [("r", 1)])
    with caplog.at_level(logging.ERROR, logger="lockstep.serve.log"):
        log.close()
    assert "could not write 1 rows" in caplog.text


def test_settings_and_clashing_columns() -> None:
    clash = Signature((Column("prediction", "double"),))
    with pytest.raises(ServingError, match="prediction clash with the inference log"):
        InferenceLog(LogSettings(url="/tmp/x"), clash, "m", "1", None)
    with pytest.raises(ServingError, match="sample_rate 2"):
        InferenceLog(LogSettings(url="/tmp/x", sample_rate=2), NUMERIC, "m", "1", None)


def test_a_row_that_cannot_be_written_drops_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A client's lone-surrogate id (JSON allows the escape) or one chunk Parquet cannot
    take used to lose every row of its flush."""
    log = InferenceLog(LogSettings(url=str(tmp_path)), NUMERIC, "m", "1", ["no", "yes"])
    row = np.array([[1.0, 2.0]])
    log.record(row, np.array([0]), np.array([[0.5, 0.5]]), [("first", 1)])
    log.record(row, np.array([1]), np.array([[0.5, 0.5]]), [("\ud800sent-by-a-client", 1)])
    log.record(row, np.array([1]), np.array([[1.0]]), [("unwritable", 1)])
    log.record(row, np.array([0]), None, [("last", 1)])
    with caplog.at_level(logging.ERROR, logger="lockstep.serve.log"):
        log.close()
    rows = _read(tmp_path)
    assert rows["request_id"].tolist() == ["first", "\\ud800sent-by-a-client", "last"]
    assert "could not write 1 rows" in caplog.text and "index 1 is out of bounds" in caplog.text


def test_several_outputs_a_row_are_logged(tmp_path: Path) -> None:
    numbers = tmp_path / "numbers"
    log = InferenceLog(LogSettings(url=str(numbers)), NUMERIC, "m", "1", None)
    log.record(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.5, 1.5], [2.5, 3.5]]), None,
               [("r", 2)])  # fmt: skip
    log.record(np.array([[5.0, 6.0]]), np.array([[4.5, 5.5]]), None, [("s", 1)])
    log.close()
    assert [list(p) for p in _read(numbers)["prediction"]] == [[0.5, 1.5], [2.5, 3.5], [4.5, 5.5]]
    labels = tmp_path / "labels"
    log = InferenceLog(LogSettings(url=str(labels)), NUMERIC, "m", "1", None)
    log.record(np.array([[5.0, 6.0]]), np.array([[b"a", "b"]], dtype=object), None, [("t", 1)])
    log.close()
    assert [list(p) for p in _read(labels)["prediction"]] == [["a", "b"]]


def test_the_thread_runs_only_with_rows_to_write(tmp_path: Path) -> None:
    def running() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "lockstep-inference-log"]

    before = running()
    log = InferenceLog(LogSettings(url=str(tmp_path)), NUMERIC, "m", "1", None)
    assert running() == before
    log.close()
    assert not list(tmp_path.iterdir())
    for i in range(2):
        log.record(np.array([[float(i), 1.0]]), np.array([i]), None, [(f"r{i}", 1)])
        assert len(running()) == len(before) + 1
        log.close()
        assert running() == before
    assert _read(tmp_path)["request_id"].tolist() == ["r0", "r1"]
    assert len(list(tmp_path.glob("*.parquet"))) == 2
