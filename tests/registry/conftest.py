"""A workspace whose pipeline trains and evaluates a tiny model, with the registry
settings in lockstep.yaml."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import cli, git

TRAIN = """\
import os, pickle, yaml
p = yaml.safe_load(open("params.yaml"))
os.makedirs("models", exist_ok=True)
pickle.dump({"w": p["train"]["w"]}, open("models/model.pkl", "wb"), protocol=4)
"""
EVALUATE = """\
import json, yaml
p = yaml.safe_load(open("params.yaml"))
json.dump({"f1": p["score"], "loss": 1 - p["score"]}, open("metrics.json", "w"))
"""
CONFIG = {
    "version": 1,
    "stages": {
        "train": {
            "cmd": "python train.py",
            "deps": ["train.py", "data/train.csv"],
            "params": ["train.w"],
            "outs": ["models/model.pkl"],
        },
        "evaluate": {
            "cmd": "python evaluate.py",
            "deps": ["evaluate.py", "models/model.pkl", "data/eval.csv"],
            "params": ["score"],
            "metrics": ["metrics.json"],
        },
    },
    "models": {"churn": {"path": "models/model.pkl", "schema": "schema.yaml"}},
    "environments": {
        "staging": {"gates": []},
        "production": {
            "gates": [{"champion": {"metric": "f1", "min_delta": 0.01}}, {"approval": {"count": 1}}]
        },
    },
}


def write_config(root: Path, **changes: object) -> None:
    (root / "lockstep.yaml").write_text(yaml.safe_dump({**CONFIG, **changes}, sort_keys=False))


def train(root: Path, w: float, score: float, message: str) -> None:
    """Run the pipeline with these params and commit everything."""
    (root / "params.yaml").write_text(yaml.safe_dump({"train": {"w": w}, "score": score}))
    result = cli("run")
    assert result.code == 0, result.out + result.err
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


def write_data(root: Path, eval_rows: str = "x,y\n1,0\n2,1\n") -> None:
    data = root / "data"
    data.mkdir(exist_ok=True)
    for name, text in (("train.csv", "x,y\n1,0\n2,1\n3,0\n"), ("eval.csv", eval_rows)):
        if (data / name).exists():
            (data / name).unlink()
        (data / name).write_text(text)
    assert cli("add", "data").code == 0


@pytest.fixture
def reg(ws: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace with one trained, committed model (w=1, f1=0.80), not registered."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    (ws / "train.py").write_text(TRAIN)
    (ws / "evaluate.py").write_text(EVALUATE)
    write_config(ws)
    write_data(ws)
    train(ws, 1.0, 0.80, "First model")
    return ws
