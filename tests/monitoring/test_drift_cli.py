"""``lockstep monitor drift``: the registered training data against the environment's
inference log, by default; exit 1 naming the drifted features."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import yaml

from tests.conftest import cli
from tests.monitoring.conftest import serving, write_log  # noqa: F401


def drift(*args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    result = cli("monitor", "drift", "churn", *args, "--json")
    return result.code, json.loads(result.out) if result.out else {}, result.err


def test_same_distribution_is_no_drift(serving: Path) -> None:  # noqa: F811
    write_log(serving)
    code, found, err = drift("--env", "staging")
    assert code == 0, err
    assert found["drifted"] is False and found["version"] == "0.0.1"
    assert found["reference"].startswith("data/train.csv")
    assert [f["name"] for f in found["features"]] == [f"x{i}" for i in range(20)]  # no y


def test_a_shift_is_drift_naming_the_feature(serving: Path) -> None:  # noqa: F811
    write_log(serving, shift=1.0)
    code, found, err = drift("--env", "staging")
    assert code == 1
    assert found["drifted_features"] == ["x0"]
    assert "x0" in err and "drift in 1 feature" in err
    text = cli("monitor", "drift", "churn", "--env", "staging")
    assert text.code == 1 and "DRIFT" in text.out and "x0" in text.out


def test_reports(serving: Path, tmp_path: Path) -> None:  # noqa: F811
    write_log(serving, shift=1.0)
    html = tmp_path / "drift.html"
    code, found, _ = drift("--env", "staging", "--report", str(html))
    assert code == 1 and found["report"] == [str(html)]
    page = html.read_text()
    assert "data:image/png;base64," in page and "x0" in page
    markdown = tmp_path / "drift.md"
    assert cli("monitor", "drift", "churn", "--env", "staging", "--report", str(markdown)).code == 1
    assert list((tmp_path / "drift_files").glob("*.png"))


def test_the_window_leaves_old_traffic_out(serving: Path) -> None:  # noqa: F811
    write_log(serving, shift=1.0, age=timedelta(days=3), name="old")
    write_log(serving, name="new")
    assert drift("--env", "staging", "--window", "24h")[0] == 0
    assert drift("--env", "staging", "--window", "7d")[0] == 1
    bad = cli("monitor", "drift", "churn", "--env", "staging", "--window", "soon")
    assert bad.code == 2 and "soon" in bad.err


def test_explicit_sources_and_per_feature_thresholds(serving: Path) -> None:  # noqa: F811
    current = write_log(serving, shift=0.3, env="elsewhere")
    code, found, _ = drift("--reference", "data/train.csv", "--current", str(current))
    assert code == 1 and found["drifted_features"] == ["x0"]
    assert found["reference"] == "data/train.csv" and found["window"] is None
    body = yaml.safe_load((serving / "lockstep.yaml").read_text())
    loose = {"ks": 0.9, "psi": 9.0, "wasserstein": 9.0}
    # the configured window is for the inference log, not for a file given with --current
    body["models"]["churn"]["monitor"] = {"window": "24h", "features": {"x0": loose}}
    (serving / "lockstep.yaml").write_text(yaml.safe_dump(body))
    code, found, _ = drift("--reference", "data/train.csv", "--current", str(current))
    assert code == 0 and found["drifted_features"] == []


def test_bad_thresholds_name_the_field(serving: Path) -> None:  # noqa: F811
    write_log(serving)
    body = yaml.safe_load((serving / "lockstep.yaml").read_text())
    body["models"]["churn"]["monitor"] = {"psi": "high"}
    (serving / "lockstep.yaml").write_text(yaml.safe_dump(body))
    result = cli("monitor", "drift", "churn", "--env", "staging")
    assert result.code == 2 and "models.churn.monitor.psi" in result.err


def test_nothing_logged_is_a_clear_error(serving: Path) -> None:  # noqa: F811
    result = cli("monitor", "drift", "churn", "--env", "staging")
    assert result.code == 2
    assert "monitor/churn/staging" in result.err and "Traceback" not in result.err


def test_the_reference_is_the_data_as_registered(serving: Path) -> None:  # noqa: F811
    """New training data committed since registration does not move the reference."""
    import numpy as np
    import pandas as pd

    from tests.conftest import git
    from tests.deploy.conftest import FEATURES

    write_log(serving)
    frame = pd.DataFrame(np.random.default_rng(5).normal(size=(200, 20)), columns=FEATURES)
    frame["x0"] += 2.0
    frame["y"] = 0
    (serving / "data" / "train.csv").unlink()
    frame.to_csv(serving / "data" / "train.csv", index=False)
    assert cli("add", "data").code == 0
    git(serving, "commit", "-qam", "New training data")
    code, found, err = drift("--env", "staging")
    assert code == 0, err
    assert found["drifted"] is False


def test_model_inputs_missing_from_the_traffic_are_drift(serving: Path, tmp_path: Path) -> None:  # noqa: F811
    import pandas as pd

    log = write_log(serving)
    pd.read_parquet(log).drop(columns=["x5"]).to_parquet(log)
    code, found, err = drift("--env", "staging")
    assert code == 1 and found["missing_columns"] == ["x5"]
    assert "x5 (missing)" in err


def test_an_unknown_environment_is_bad_input(serving: Path) -> None:  # noqa: F811
    result = cli("monitor", "drift", "churn", "--env", "nope")
    assert result.code == 2 and "no environment named 'nope'" in result.err
