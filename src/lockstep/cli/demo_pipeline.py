"""The demo's pipeline: prepare, train and evaluate a classifier on a dataset that
ships with scikit-learn (breast cancer, 569 rows), tracked and cached by lockstep."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lockstep.errors import OperationError
from lockstep.fs import atomic_write_text
from lockstep.project import Project

if TYPE_CHECKING:
    from lockstep.cli.demo_loop import Steps

PREPARE = '''\
"""Read every batch of labelled data in data/cancer/ and split it."""
import glob
import os

import pandas as pd
import yaml
from sklearn.model_selection import train_test_split

params = yaml.safe_load(open("params.yaml"))["prepare"]
frame = pd.concat([pd.read_csv(f) for f in sorted(glob.glob("data/cancer/*.csv"))])
train, test = train_test_split(
    frame, test_size=params["test_size"], random_state=params["seed"], stratify=frame["target"]
)
os.makedirs("data/prepared", exist_ok=True)
train.to_csv("data/prepared/train.csv", index=False)
test.to_csv("data/prepared/test.csv", index=False)
print(f"prepared {len(train)} training and {len(test)} test rows")
'''

TRAIN = '''\
"""Train a random forest, logging its out-of-bag score as trees are added."""
import os
import pickle

import pandas as pd
import yaml
from sklearn.ensemble import RandomForestClassifier

from lockstep import tracking

params = yaml.safe_load(open("params.yaml"))["train"]
train = pd.read_csv("data/prepared/train.csv")
x, y = train.drop(columns="target"), train["target"]
run = tracking.current()
run.log_params(params)
model = RandomForestClassifier(
    n_estimators=10, max_depth=params["max_depth"], oob_score=True, warm_start=True,
    random_state=0,
)
for step, trees in enumerate(range(10, params["n_estimators"] + 1, 10), start=1):
    model.set_params(n_estimators=trees)
    model.fit(x, y)
    run.log_metric("oob_score", model.oob_score_, step=step)
os.makedirs("models", exist_ok=True)
with open("models/model.pkl", "wb") as handle:
    pickle.dump(model, handle)
print(f"trained {params['n_estimators']} trees")
'''

EVALUATE = '''\
"""Score the model on the held-out rows."""
import json
import pickle

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

test = pd.read_csv("data/prepared/test.csv")
x, y = test.drop(columns="target"), test["target"]
with open("models/model.pkl", "rb") as handle:
    model = pickle.load(handle)
scores = {
    "accuracy": accuracy_score(y, model.predict(x)),
    "f1": f1_score(y, model.predict(x)),
    "roc_auc": roc_auc_score(y, model.predict_proba(x)[:, 1]),
}
with open("metrics.json", "w") as handle:
    json.dump(scores, handle, indent=2)
print(json.dumps(scores))
'''

STAGES = """\
# lockstep project file: pipeline stages, models and environments live here.
version: 1
stages:
  prepare:
    cmd: python src/prepare.py
    deps: [src/prepare.py, data/cancer]
    params: [prepare.seed, prepare.test_size]
    outs: [data/prepared]
  train:
    cmd: python src/train.py
    deps: [src/train.py, data/prepared]
    params: [train.n_estimators, train.max_depth]
    outs: [models/model.pkl]
  evaluate:
    cmd: python src/evaluate.py
    deps: [src/evaluate.py, models/model.pkl, data/prepared]
    metrics: [metrics.json]
"""

PARAMS = """\
prepare:
  seed: 42
  test_size: 0.25
train:
  n_estimators: {trees}
  max_depth: 6
"""


REFRESH = '''\
"""A new batch of labelled data arrives: data/cancer/2026-02.csv (for the demo: the
cases of the first batch drawn again, larger tumours far more often)."""
import pandas as pd

first = pd.read_csv("data/cancer/2026-01.csv")
weights = first["mean radius"].rank() ** 4
fresh = first.sample(n=300, replace=True, weights=weights, random_state=7)
fresh.to_csv("data/cancer/2026-02.csv", index=False)
print(f"{len(fresh)} new labelled cases")
'''


def write(repo: Path, trees: int = 50) -> None:
    """The data, the scripts, lockstep.yaml with its stages, and params.yaml."""
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]

    scripts = (("prepare", PREPARE), ("train", TRAIN), ("evaluate", EVALUATE), ("refresh", REFRESH))
    for name, text in scripts:
        (repo / "src").mkdir(exist_ok=True)
        atomic_write_text(repo / "src" / f"{name}.py", text)
    (repo / "data" / "cancer").mkdir(parents=True, exist_ok=True)
    frame = load_breast_cancer(as_frame=True).frame
    atomic_write_text(repo / "data" / "cancer" / "2026-01.csv", frame.to_csv(index=False))
    project = Project.open(repo)
    try:
        project.add([str(repo / "data" / "cancer")])
    finally:
        project.close()
    atomic_write_text(repo / "lockstep.yaml", STAGES)
    set_trees(repo, trees)


def set_trees(repo: Path, trees: int) -> None:
    atomic_write_text(repo / "params.yaml", PARAMS.format(trees=trees))


def run(repo: Path) -> dict[str, str]:
    """Run the pipeline in-process with this interpreter's ``python`` first on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    project = Project.open(repo)
    try:
        report = project.run()
    finally:
        project.close()
    if not report.ok:
        raise OperationError(f"the demo pipeline failed: {report.failures}")
    return {r.name: r.action for r in report.results}


def summary(actions: dict[str, str]) -> str:
    return ", ".join(f"{stage} {action}" for stage, action in actions.items())


def run_steps(steps: Steps, repo: Path) -> None:
    """The pipeline part of the demo loop, in the workspace the data part built."""
    from lockstep.cli.demo_loop import git

    def define() -> str:
        write(repo)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "Pipeline: prepare, train, evaluate")
        return "data/cancer tracked; 3 stages in lockstep.yaml, params in params.yaml"

    def first() -> str:
        actions = run(repo)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "Run the pipeline")
        return summary(actions) + f"; {_metric(repo)}"

    def change() -> str:
        set_trees(repo, 80)
        return summary(run(repo)) + f"; {_metric(repo)}"

    def revert() -> str:
        set_trees(repo, 50)
        return summary(run(repo))

    steps.run("define a pipeline: prepare, train, evaluate", define)
    steps.run("run it on scikit-learn's breast cancer data", first)
    steps.run("run again: nothing changed, nothing runs", lambda: summary(run(repo)))
    steps.run("change train.n_estimators: two stages rerun", change)
    steps.run("change it back: outputs from the run cache", revert)
    steps.run("every stage run is tracked", lambda: _runs(repo))


def _metric(repo: Path) -> str:
    import json

    scores = json.loads((repo / "metrics.json").read_text())
    return f"f1 {scores['f1']:.3f}"


def _runs(repo: Path) -> str:
    from lockstep.tracking import search_runs

    project = Project.open(repo)
    try:
        runs = search_runs(filter="kind = stage", uri=project.tracking_uri())
    finally:
        project.close()
    trained = [r for r in runs if r.stage == "train" and r.status == "finished"]
    steps = len(trained[0].metrics) if trained else 0
    oob = trained[0].metrics.get("oob_score", 0.0) if trained else 0.0
    restored = sum(r.status == "restored" for r in runs)
    return (
        f"{len(runs)} stage runs ({restored} restored) in .lockstep/runs.db; "
        f"last train: oob_score {oob:.3f} ({steps} metric)"
    )
