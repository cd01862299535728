"""A small real pipeline in a fresh workspace: prepare -> train -> evaluate."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import lockstep_bin
from tests.pg import pg_cluster, pg_uri

__all__ = ["pg_cluster", "pg_uri"]  # fixtures for the tests below

PREPARE = """\
import os, sys, yaml
p = yaml.safe_load(open("params.yaml"))
os.makedirs("data/prepared", exist_ok=True)
for i in range(p["prepare"]["rows"]):
    open(f"data/prepared/part-{i}.txt", "w").write(f"{i * p['seed']}\\n")
open("executions.log", "a").write("prepare\\n")
"""
TRAIN = """\
import glob, json, os, yaml
p = yaml.safe_load(open("params.yaml"))
total = sum(int(open(f).read()) for f in glob.glob("data/prepared/*.txt"))
os.makedirs("models", exist_ok=True)
json.dump({"weights": total * p["train"]["lr"]}, open("models/model.json", "w"))
open("executions.log", "a").write("train\\n")
"""
EVALUATE = """\
import json
model = json.load(open("models/model.json"))
json.dump({"score": model["weights"] / 100, "nested": {"loss": 1.5}}, open("metrics.json", "w"))
open("executions.log", "a").write("evaluate\\n")
"""

STAGES = {
    "prepare": {
        "cmd": "python prepare.py",
        "deps": ["prepare.py"],
        "params": ["prepare.rows", "seed"],
        "outs": ["data/prepared"],
    },
    "train": {
        "cmd": "python train.py",
        "deps": ["train.py", "data/prepared"],
        "params": ["train.lr"],
        "outs": ["models/model.json"],
    },
    "evaluate": {
        "cmd": "python evaluate.py",
        "deps": ["evaluate.py", "models/model.json"],
        "metrics": ["metrics.json"],
    },
}
PARAMS = {"seed": 3, "prepare": {"rows": 4}, "train": {"lr": 0.5}}


def write_pipeline(root: Path, stages: dict[str, object] | None = None) -> None:
    body = {"version": 1, "stages": STAGES if stages is None else stages}
    (root / "lockstep.yaml").write_text(yaml.safe_dump(body, sort_keys=False))


def write_params(root: Path, **changes: object) -> None:
    params = {**PARAMS, **changes}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def executions(root: Path) -> list[str]:
    log = root / "executions.log"
    return log.read_text().split() if log.exists() else []


@pytest.fixture
def pipe(ws: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace with the three-stage pipeline, its scripts and params.yaml."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    for name, text in (("prepare", PREPARE), ("train", TRAIN), ("evaluate", EVALUATE)):
        (ws / f"{name}.py").write_text(textwrap.dedent(text))
    write_pipeline(ws)
    write_params(ws)
    (ws / ".gitignore").write_text("/executions.log\n")
    return ws


def run_with_slow_train(root: Path, train_cmd: str) -> subprocess.Popen[str]:
    """Start ``lockstep run`` in its own session with train's command replaced;
    return once prepare has finished and train has started."""
    stages = yaml.safe_load((root / "lockstep.yaml").read_text())["stages"]
    stages["train"]["cmd"] = train_cmd
    write_pipeline(root, stages)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.Popen(
        [lockstep_bin(), "run"],
        cwd=root,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while "prepare" not in executions(root) or not (root / "lockstep.lock").exists():
        assert time.monotonic() < deadline, "prepare never finished"
        time.sleep(0.05)
    time.sleep(0.5)
    return proc
