"""``lockstep monitor retrain``: on drift (or --force) fresh data comes in, the model
is rebuilt, registered and promoted behind the gates, and the history says why."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import cli, git
from tests.monitoring.conftest import serving, write_log  # noqa: F401
from tests.registry.conftest import reg  # noqa: F401

REFRESH = """\
import os
import numpy as np, pandas as pd, skops.io as sio
from sklearn.linear_model import LogisticRegression

rng = np.random.default_rng(7)
frame = pd.DataFrame(rng.normal(size=(300, 20)), columns=[f"x{i}" for i in range(20)])
frame["x0"] += 1.0  # the world moved
frame["y"] = (frame["x0"] + frame["x1"] > 1.0).astype(int)
for path in ("data/train.csv", "models/model.skops"):
    os.remove(path)  # tracked files are read-only links into the cache: replace them
frame.to_csv("data/train.csv", index=False)
model = LogisticRegression(max_iter=200).fit(frame.drop(columns="y"), frame["y"])
sio.dump(model, "models/model.skops")
print("refreshed:", os.environ["LOCKSTEP_RETRAIN_REASON"])
"""


@pytest.fixture
def loop(serving: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    (serving / "refresh.py").write_text(REFRESH)
    body = yaml.safe_load((serving / "lockstep.yaml").read_text())
    body["models"]["churn"]["retrain"] = {"command": "python refresh.py", "env": "staging"}
    (serving / "lockstep.yaml").write_text(yaml.safe_dump(body))
    git(serving, "add", "-A")
    git(serving, "commit", "-qm", "How to refresh the model")
    return serving


def retrain(*args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    result = cli("monitor", "retrain", "churn", *args, "--json")
    return result.code, json.loads(result.out) if result.out else {}, result.err


def test_no_drift_no_retrain(loop: Path) -> None:
    write_log(loop)
    code, found, err = retrain()
    assert code == 0, err
    assert found["skipped"] is True and found["version"] is None
    assert "Retrain" not in git(loop, "log", "--oneline")


def test_drift_retrains_registers_and_promotes(loop: Path) -> None:
    write_log(loop, shift=1.0)
    code, found, err = retrain()
    assert code == 0, err
    assert found["version"] == "churn@v0.0.2" and found["promoted"] is True
    assert found["reason"].startswith("drift in x0")
    assert found["steps"][:3] == [
        "ran python refresh.py",
        "re-added data, models/model.skops",
        "committed",
    ]
    subject = git(loop, "log", "-1", "--format=%s").strip()
    assert subject.startswith("Retrain churn: drift in x0")
    history = json.loads(cli("model", "history", "churn", "--json").out)
    reasons = {(e["action"], e["version"]): e["reason"] for e in history}
    assert reasons[("register", "v0.0.2")].startswith("drift in x0")
    assert reasons[("promote", "v0.0.2")].startswith("drift in x0")
    current = json.loads(cli("model", "show", "churn#staging", "--json").out)
    assert current["version"] in ("0.0.2", "v0.0.2")


def test_failed_gates_register_but_do_not_promote(loop: Path) -> None:
    body = yaml.safe_load((loop / "lockstep.yaml").read_text())
    body["environments"]["staging"] = {"gates": [{"approval": {"count": 1}}]}
    (loop / "lockstep.yaml").write_text(yaml.safe_dump(body))
    git(loop, "commit", "-qam", "Staging needs an approval")
    code, found, err = retrain("--force")
    assert code == 1
    assert found["version"] == "churn@v0.0.2" and found["promoted"] is False
    assert found["failed_gates"] == ["approval"] and "approval" in err


def test_a_failing_retrain_command_stops_before_anything_changes(loop: Path) -> None:
    body = yaml.safe_load((loop / "lockstep.yaml").read_text())
    body["models"]["churn"]["retrain"]["command"] = "python -c 'raise SystemExit(3)'"
    (loop / "lockstep.yaml").write_text(yaml.safe_dump(body))
    git(loop, "commit", "-qam", "A broken refresh")
    tags = git(loop, "tag")
    code, _, err = retrain("--force")
    assert code == 1 and "exited 3" in err
    assert git(loop, "tag") == tags


def bumping(root: Path, message: str) -> None:
    """v0.0.1 registered; retrain's command sets train.w to 2.0; all committed."""
    from tests.registry.conftest import CONFIG, write_config

    assert cli("model", "register", "churn").code == 0
    (root / "bump.py").write_text(
        "import yaml\n"
        "p = yaml.safe_load(open('params.yaml'))\n"
        "p['train']['w'] = 2.0\n"
        "yaml.safe_dump(p, open('params.yaml', 'w'))\n"
    )
    churn = {**CONFIG["models"]["churn"], "retrain": {"command": "python bump.py"}}
    write_config(root, models={"churn": churn})
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


def test_forced_retrain_runs_the_pipeline(reg: Path) -> None:  # noqa: F811
    bumping(reg, "How to refresh the model")
    code, found, err = retrain("--force")
    assert code == 0, err
    assert found["reason"] == "retrain forced" and found["promoted"] is True
    assert found["steps"][1] == "ran the pipeline (train, evaluate)"
    assert found["version"] == "churn@v0.0.2"


def test_no_traffic_is_no_retrain_unless_forced(loop: Path) -> None:
    code, found, err = retrain()
    assert code == 0, err
    assert found["skipped"] is True and found["reason"] == "no traffic to judge"
    bad = cli("monitor", "retrain", "churn", "--watch", "stagign")
    assert bad.code == 2 and "stagign" in bad.err


def test_uncommitted_changes_are_never_swept_into_the_retrain(loop: Path) -> None:
    write_log(loop, shift=1.0)
    (loop / ".env.local").write_text("secret=x\n")
    code, _, err = retrain()
    assert code == 2 and "uncommitted changes" in err
    assert "Retrain" not in git(loop, "log", "--oneline")


def test_push_sends_the_commit_and_the_tags(loop: Path, tmp_path: Path) -> None:
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(loop, "remote", "add", "origin", str(bare))
    git(loop, "push", "-q", "origin", "main", "--tags")
    write_log(loop, shift=1.0)
    code, found, err = retrain("--push")
    assert code == 0, err
    assert found["steps"][-1].startswith("pushed") and "main" in found["steps"][-1]
    assert git(bare, "log", "-1", "--format=%s", "main").startswith("Retrain churn: drift in x0")
    tags = git(bare, "tag").split()
    assert "churn@v0.0.2" in tags and "churn#staging#2" in tags


def test_a_failed_pipeline_says_what_changed_and_how_to_undo(reg: Path) -> None:  # noqa: F811
    from tests.registry.conftest import TRAIN

    (reg / "train.py").write_text(TRAIN + "assert p['train']['w'] != 2.0, 'w=2 diverges'\n")
    bumping(reg, "A refresh the pipeline cannot take")
    code, _, err = retrain("--force")
    assert code == 1
    assert (
        "ran python bump.py" in err
        and "to undo: git checkout -- . && lockstep checkout --force" in err
    )
    git(reg, "checkout", "--", ".")
    assert cli("checkout", "--force").code == 0
    assert git(reg, "status", "--porcelain").strip() == ""
