"""lockstep run records into PostgreSQL as into SQLite, and a run killed mid-stage
leaves a workspace the next run completes."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import yaml

from tests.conftest import cli
from tests.pipeline.conftest import run_with_slow_train, write_pipeline


@pytest.mark.services
def test_runs_are_recorded_in_postgresql(
    pipe: Path, pg_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lockstep.tracking import search_runs
    from lockstep.tracking.client import close_shared_stores

    monkeypatch.setenv("LOCKSTEP_TRACKING_URI", pg_uri)
    assert cli("run").code == 0
    assert cli("run").code == 0  # a no-op: recorded through the store, not the SQLite path
    try:
        stages = search_runs(filter="kind = stage", uri=pg_uri)
        pipelines = search_runs(filter="kind = pipeline", uri=pg_uri)
    finally:
        close_shared_stores()
    assert sorted(r.stage or "" for r in stages) == ["evaluate", "prepare", "train"]
    assert [r.status for r in pipelines] == ["finished", "finished"]
    assert not (pipe / ".lockstep" / "runs.db").exists()
    listed = json.loads(cli("runs", "list", "--json").out)
    assert len(listed) == 5


def test_a_killed_run_leaves_a_usable_workspace(pipe: Path) -> None:
    proc = run_with_slow_train(pipe, 'python -c "import time; time.sleep(30)" && python train.py')
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    lock = yaml.safe_load((pipe / "lockstep.lock").read_text())
    assert list(lock["stages"]) == ["prepare"]  # train never finished: no entry
    stages = yaml.safe_load((pipe / "lockstep.yaml").read_text())["stages"]
    stages["train"]["cmd"] = "python train.py"
    write_pipeline(pipe, stages)
    result = cli("run", "--json")
    assert result.code == 0, result.err
    actions = {s["stage"]: s["action"] for s in json.loads(result.out)["stages"]}
    assert actions == {"prepare": "up-to-date", "train": "ran", "evaluate": "ran"}
    assert cli("status").code == 0
