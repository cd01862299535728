"""A registered model serving staging, and inference logs written the way the server
writes them (Parquet files under .lockstep/monitor/NAME/ENV/)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import cli
from tests.deploy.conftest import FEATURES, model_ws  # noqa: F401  (the fixture)


def write_log(
    root: Path,
    rows: int = 2000,
    *,
    shift: float = 0.0,
    seed: int = 1,
    age: timedelta = timedelta(minutes=5),
    name: str = "part",
    env: str = "staging",
) -> Path:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 20)), columns=FEATURES)
    frame["x0"] += shift
    frame["prediction"] = (frame["x0"] + frame["x1"] > 0).astype(int)
    frame["timestamp"] = pd.Timestamp(datetime.now(timezone.utc) - age)
    frame["model"] = "churn"
    frame["version"] = "0.0.1"
    frame["request_id"] = [f"r{i // 2}" for i in range(rows)]
    frame["row"] = [i % 2 for i in range(rows)]
    folder = root / ".lockstep" / "monitor" / "churn" / env
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    frame.to_parquet(path)
    return path


@pytest.fixture
def serving(model_ws: Path) -> Path:  # noqa: F811
    assert cli("model", "promote", "churn@v0.0.1", "--to", "staging").code == 0
    return model_ws
