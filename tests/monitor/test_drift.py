"""Verdicts on real samples: no false alarms for the same distribution at 30 rows or a
million, real changes flagged at 5,000 rows; which features are compared; thresholds
from lockstep.yaml; the result as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lockstep.errors import ConfigError, InputError
from lockstep.monitor.drift import DriftResult, detect
from lockstep.monitor.sources import TableSource, open_source
from lockstep.monitor.thresholds import Limits, Thresholds

LEVELS = ["a", "b", "c"]


def frame(
    rng: np.random.Generator, rows: int, shift: float = 0.0, mix: float = 0.2
) -> pd.DataFrame:
    rest = (1 - mix) / 2
    return pd.DataFrame(
        {
            "x": rng.normal(10 + shift * 2, 2, rows),
            "y": rng.exponential(1.0, rows),
            "level": rng.choice(LEVELS, rows, p=[mix, rest, rest]),
        }
    )


def compare(reference: pd.DataFrame, current: pd.DataFrame, **options: object) -> DriftResult:
    return detect(
        TableSource.from_frame(reference, "reference"),
        TableSource.from_frame(current, "current"),
        **options,  # type: ignore[arg-type]
    )


def test_a_million_rows_of_the_same_distribution_flag_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for name in ("reference", "current"):
        table = pa.table(
            {
                "x": rng.normal(0, 1, 1_000_000),
                "level": pa.array(rng.choice(LEVELS, 1_000_000, p=[0.2, 0.3, 0.5])),
            }
        )
        pq.write_table(table, tmp_path / f"{name}.parquet", row_group_size=250_000)
    result = detect(
        open_source(str(tmp_path / "reference.parquet")),
        open_source(str(tmp_path / "current.parquet")),
    )
    assert not result.drifted, [f.reasons for f in result.features]
    x = result.features[0]
    assert x.n_reference == x.n_current == 1_000_000
    assert x.statistics["ks_critical"] < 0.005  # a tiny D would be "significant" on its own


def test_thirty_rows_of_the_same_distribution_almost_never_flag() -> None:
    flagged = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        result = compare(frame(rng, 30), frame(rng, 30))
        flagged += result.drifted
    # 900 features tested at alpha 0.001: about one false alarm is expected (here: 2 runs,
    # each with a KS D of 15/30 or more, whose exact p-value is below 0.001 as well)
    assert flagged <= 3


def test_half_a_standard_deviation_over_5000_rows_flags() -> None:
    rng = np.random.default_rng(7)
    result = compare(frame(rng, 5_000), frame(rng, 5_000, shift=0.5))
    assert [f.name for f in result.drifted_features] == ["x"]
    reasons = " ".join(result.features[0].reasons)
    assert "KS D" in reasons and "Wasserstein" in reasons


def test_a_change_of_category_mix_over_5000_rows_flags() -> None:
    rng = np.random.default_rng(8)
    result = compare(frame(rng, 5_000), frame(rng, 5_000, mix=0.5))
    assert [f.name for f in result.drifted_features] == ["level"]
    (reason,) = result.features[2].reasons
    assert reason.startswith("JS distance 0.2") and "chi2 p" in reason


def test_missing_values_rising_from_none_to_a_fifth_flag() -> None:
    rng = np.random.default_rng(9)
    current = frame(rng, 5_000)
    current.loc[rng.random(5_000) < 0.2, "y"] = np.nan
    current.loc[rng.random(5_000) < 0.2, "level"] = None
    result = compare(frame(rng, 5_000), current)
    assert [f.name for f in result.drifted_features] == ["y", "level"]
    y = result.features[1]
    assert y.missing_reference == 0.0 and 0.18 < y.missing_current < 0.22
    assert y.reasons[-1].startswith("missing 0.0% -> ")
    assert all("missing" in r for r in y.reasons)  # the values left are not drifted


def test_a_side_without_values_is_judged_on_missing_values_alone() -> None:
    reference = pd.DataFrame({"x": np.arange(100.0)})
    current = pd.DataFrame({"x": [np.nan] * 50})
    (x,) = compare(reference, current).features
    assert x.drifted and x.histogram is None
    assert list(x.statistics) == ["missing_pvalue"]
    (reason,) = x.reasons
    assert reason.startswith("missing 0.0% -> 100.0% (+100.0% > 5.0%, p ")


def test_the_log_s_own_columns_and_excluded_ones_are_not_features() -> None:
    rng = np.random.default_rng(2)
    reference = frame(rng, 200).assign(target=rng.integers(0, 2, 200))
    current = frame(rng, 200).assign(
        prediction=1, proba_1=0.5, timestamp="t", model="m", version="1", request_id="r", row=0
    )
    result = compare(reference, current, exclude=["target"])
    assert [f.name for f in result.features] == ["x", "y", "level"]
    assert result.missing_columns == [] and result.new_columns == []


def test_a_reference_column_missing_from_the_current_data_is_an_error() -> None:
    rng = np.random.default_rng(3)
    current = frame(rng, 200).drop(columns=["y"]).assign(extra=1.0)
    result = compare(frame(rng, 200), current)
    assert [f.name for f in result.features] == ["x", "level"]
    assert result.missing_columns == ["y"] and result.new_columns == ["extra"]
    assert result.drifted and not result.drifted_features
    assert result.errors == ["column 'y' of the reference is not in the current data (current)"]


def test_named_features_missing_from_the_current_data_are_drift() -> None:
    rng = np.random.default_rng(4)
    current = frame(rng, 100).drop(columns=["y"])
    result = compare(frame(rng, 100), current, features=["level", "x"])
    assert [f.name for f in result.features] == ["level", "x"]
    lacking = compare(frame(rng, 100), current, features=["x", "y"])
    assert lacking.missing_columns == ["y"] and lacking.drifted
    with pytest.raises(InputError, match="feature 'nope' is not in the reference data"):
        compare(frame(rng, 100), current, features=["nope"])


def test_kinds_must_agree_and_there_must_be_rows() -> None:
    with pytest.raises(
        InputError, match=r"column 'x' is numeric in the reference .* but categorical"
    ):
        compare(pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"x": ["1", "2"]}))
    with pytest.raises(InputError, match="current has no rows to compare"):
        compare(pd.DataFrame({"x": [1.0]}), pd.DataFrame({"x": pd.Series([], dtype=float)}))
    with pytest.raises(InputError, match="no columns to compare"):
        compare(pd.DataFrame({"prediction": [1.0]}), pd.DataFrame({"prediction": [0.0]}))
    with pytest.raises(InputError, match="executor 'spark': use local or dask"):
        compare(pd.DataFrame({"x": [1.0]}), pd.DataFrame({"x": [1.0]}), executor="spark")


def test_per_feature_thresholds_change_the_verdict() -> None:
    rng = np.random.default_rng(7)
    reference, current = frame(rng, 5_000), frame(rng, 5_000, shift=0.5)
    lenient = Thresholds.from_mapping(
        {"features": {"x": {"ks": 0.5, "wasserstein": 2.0, "psi": 5.0}}}, "models.m.monitor"
    )
    assert not compare(reference, current, thresholds=lenient).drifted
    strict = Thresholds.from_mapping({"alpha": 1e-300}, "models.m.monitor")
    assert not compare(reference, current, thresholds=strict).drifted  # too few rows for that


def test_thresholds_from_lockstep_yaml() -> None:
    parsed = Thresholds.from_mapping(
        {"alpha": 0.01, "psi": 0.25, "features": {"mean radius": {"psi": 0.3}, "n": {"js": 1}}},
        "models.cancer.monitor",
    )
    assert parsed.defaults == Limits(alpha=0.01, psi=0.25)
    assert parsed.for_feature("mean radius") == Limits(alpha=0.01, psi=0.3)
    assert parsed.for_feature("n") == Limits(alpha=0.01, psi=0.25, js=1.0)
    assert parsed.for_feature("other") == parsed.defaults
    assert Thresholds.from_mapping(None, "x") == Thresholds()
    assert Thresholds.from_mapping({}, "x").to_dict()["defaults"] == Limits().to_dict()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"bogus": 1}, "models.m.monitor.bogus: unknown setting (known: alpha, ks, psi, "),
        ({"alpha": 1.0}, "models.m.monitor.alpha: must be a number between 0 and 1 (exclusive)"),
        ({"psi": -0.1}, "models.m.monitor.psi: must be a number >= 0, not -0.1"),
        ({"js": "0.1"}, "models.m.monitor.js: must be a number from 0 to 1, not '0.1'"),
        ({"ks": True}, "models.m.monitor.ks: must be a number from 0 to 1, not True"),
        ({"missing": float("nan")}, "models.m.monitor.missing: must be a number"),
        ({"features": ["x"]}, "models.m.monitor.features: must be a mapping of thresholds"),
        ({"features": {"x": 0.2}}, "models.m.monitor.features.x: must be a mapping"),
        ({"features": {"x": {"features": {}}}}, "models.m.monitor.features.x.features: unknown"),
        ({"features": {"x": {"wasserstein": -1}}}, "models.m.monitor.features.x.wasserstein: "),
        ("psi", "models.m.monitor: must be a mapping of thresholds"),
    ],
)
def test_bad_thresholds_name_the_file_and_field(data: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Thresholds.from_mapping(data, "models.m.monitor")  # type: ignore[arg-type]
    assert str(caught.value).startswith(f"lockstep.yaml: {message}")


def test_the_result_is_plain_json() -> None:
    rng = np.random.default_rng(5)
    current = frame(rng, 2_000, shift=0.5, mix=0.5).drop(columns=["y"])
    result = compare(frame(rng, 2_000), current)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["drifted"] is True
    assert data["drifted_features"] == ["x", "level"]
    assert data["missing_columns"] == ["y"]
    assert data["sources"]["reference"] == {
        "location": "reference",
        "window": None,
        "rows": 2_000,
        "files": 1,
    }
    assert data["thresholds"]["defaults"]["alpha"] == 0.001
    x, level = data["features"]
    assert x["kind"] == "numeric" and len(x["histogram"]["edges"]) == 31
    assert set(x["statistics"]) >= {"ks_statistic", "ks_pvalue", "psi", "wasserstein_normalised"}
    assert (
        level["histogram"]["categories"] == ["b", "c", "a"]
        or "a" in level["histogram"]["categories"]
    )
    assert not {"model", "version", "env", "reference", "current", "window", "report"} & set(data)
