"""``lockstep monitor performance``: the inference log joined to labels that arrive
later, the metric per period, exit 1 on a drop."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd

from tests.conftest import cli
from tests.monitoring.conftest import serving, write_log  # noqa: F401


def labels(log: Path, out: Path, wrong: float) -> Path:
    """Truth for every logged row: the prediction, flipped for a share ``wrong``."""
    rows = pd.read_parquet(log)
    flip = (pd.Series(range(len(rows))) % 100) < wrong * 100
    truth = rows[["request_id", "row"]].copy()
    truth["label"] = rows["prediction"].where(~flip, 1 - rows["prediction"])
    truth.to_csv(out, index=False, mode="a" if out.exists() else "w", header=not out.exists())
    return out


def test_a_drop_is_flagged(serving: Path, tmp_path: Path) -> None:  # noqa: F811
    truth = tmp_path / "truth.csv"
    old = write_log(serving, age=timedelta(days=2), name="old", seed=1)
    labels(old, truth, wrong=0.05)
    new = write_log(serving, name="new", seed=2)
    new_rows = pd.read_parquet(new)
    new_rows["request_id"] = "n" + new_rows["request_id"]
    new_rows.to_parquet(new)
    labels(new, truth, wrong=0.30)
    result = cli("monitor", "performance", "churn", "--env", "staging", "--truth", str(truth),
                 "--json")  # fmt: skip
    assert result.code == 1, result.err
    found = json.loads(result.out)
    assert found["metric"] == "accuracy" and found["joined"] == 4000
    flagged = [b["flagged"] for b in found["buckets"]]
    assert flagged == [False, True]
    assert "accuracy dropped" in result.err
    calm = cli("monitor", "performance", "churn", "--env", "staging", "--truth", str(truth),
               "--max-drop", "0.5")  # fmt: skip
    assert calm.code == 0 and "DROP" not in calm.out


def test_an_unknown_metric_is_bad_input(serving: Path, tmp_path: Path) -> None:  # noqa: F811
    log = write_log(serving)
    truth = labels(log, tmp_path / "truth.csv", 0.0)
    result = cli("monitor", "performance", "churn", "--env", "staging", "--truth", str(truth),
                 "--metric", "vibes")  # fmt: skip
    assert result.code == 2 and "accuracy" in result.err
