"""A workspace with a train/evaluate pipeline (see tests/registry/conftest.py), models
and environments in lockstep.yaml, one committed run, nothing registered."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.registry.conftest import EVALUATE, TRAIN, train, write_config, write_data


@pytest.fixture
def pipe(ws: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    (ws / "train.py").write_text(TRAIN)
    (ws / "evaluate.py").write_text(EVALUATE)
    write_config(ws)
    write_data(ws)
    train(ws, 1.0, 0.80, "First model")
    return ws
