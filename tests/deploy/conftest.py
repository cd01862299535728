"""A workspace with a real scikit-learn model (LogisticRegression on 20 features,
saved with skops) tracked, committed and registered as churn v0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import cli, git

FEATURES = [f"x{i}" for i in range(20)]


def write_data(root: Path, rows: int = 200, seed: int = 0) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 20)), columns=FEATURES)
    frame["y"] = (frame["x0"] + frame["x1"] > 0).astype(int)
    (root / "data").mkdir(exist_ok=True)
    frame.to_csv(root / "data" / "train.csv", index=False)


def train(root: Path, c: float = 1.0, features: list[str] = FEATURES) -> None:
    """Fit on data/train.csv and save models/model.skops (replacing the tracked copy)."""
    import pandas as pd
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    frame = pd.read_csv(root / "data" / "train.csv")
    model = LogisticRegression(C=c, max_iter=200).fit(frame[features], frame["y"])
    (root / "models").mkdir(exist_ok=True)
    target = root / "models" / "model.skops"
    if target.exists():
        target.unlink()
    sio.dump(model, target)


def config(root: Path, **environments: object) -> None:
    body = {
        "version": 1,
        "models": {
            "churn": {"path": "models/model.skops", "data": ["data/train.csv"], "target": "y"}
        },
        "environments": environments or {"staging": {"gates": []}},
    }
    (root / "lockstep.yaml").write_text(yaml.safe_dump(body, sort_keys=False))


def commit_version(root: Path, c: float, message: str, features: list[str] = FEATURES) -> None:
    """Train with C=c, track, commit and register the next version."""
    train(root, c, features)
    assert cli("add", "models/model.skops").code == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    done = cli("model", "register", "churn")
    assert done.code == 0, done.err


@pytest.fixture
def model_ws(ws: Path) -> Path:
    config(ws)
    write_data(ws)
    assert cli("add", "data").code == 0
    commit_version(ws, 1.0, "First model")
    return ws
