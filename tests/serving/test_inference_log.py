"""The inference log writes sampled rows to new Parquet files, locally or through fsspec,
and never lets a failed write reach the caller."""

from __future__ import annotations

import logging
import re
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
        *("timestamp", "model", "version", "request_id"),
    ]
    assert rows["n"].dtype == np.int64 and rows["n"].tolist() == [3, 4, 5]
    assert rows["prediction"].tolist() == ["no", "yes", "no"]
    assert rows["proba_yes"].tolist()[:2] == [0.1, 0.8] and np.isnan(rows["proba_yes"][2])
    assert rows["request_id"].tolist() == ["r1", "r2", "r3"]
    assert set(rows["model"]) == {"churn"} and set(rows["version"]) == {"1.2.0"}
    assert str(rows["timestamp"].dt.tz) == "UTC"
    assert not list(tmp_path.glob(".*"))


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
