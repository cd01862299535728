"""What lockstep run refuses before touching anything, and how it stops."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from lockstep.pipeline.executors.base import Job, ProcessGroup, run_commands
from lockstep.pipeline.locks import StageLock
from tests.conftest import cli, git
from tests.pipeline.conftest import (
    executions,
    run_with_slow_train,
    write_params,
    write_pipeline,
)


@pytest.mark.parametrize(
    ("stage", "problem"),
    [
        ({"cmd": "true", "outs": ["lockstep.yaml"]}, "a file lockstep or Git owns"),
        ({"cmd": "true", "outs": ["params.yaml"]}, "a file lockstep or Git owns"),
        ({"cmd": "true", "outs": ["sub/.gitignore"]}, "a file lockstep or Git owns"),
        ({"cmd": "true", "deps": ["log.txt"], "outs": ["log.txt"]}, "own dependency"),
        ({"cmd": "true", "deps": ["data"], "outs": ["data/out.txt"]}, "own dependency"),
        ({"cmd": "true", "outs": ["a", "a/b"]}, "overlapping outputs"),
    ],
)
def test_outputs_that_would_destroy_files_are_refused(
    ws: Path, stage: dict[str, object], problem: str
) -> None:
    (ws / "log.txt").write_text("start\n")
    (ws / "data").mkdir()
    write_pipeline(ws, {"s": stage})
    before = (ws / "lockstep.yaml").read_text()
    result = cli("run")
    assert result.code == 2
    assert problem in result.err and len(result.err.splitlines()) == 1
    assert (ws / "lockstep.yaml").read_text() == before
    assert (ws / "log.txt").read_text() == "start\n"


def test_an_output_tracked_by_git_is_refused(ws: Path) -> None:
    (ws / "src").mkdir()
    (ws / "src" / "train.py").write_text("print(1)\n")
    git(ws, "add", "src/train.py")
    write_pipeline(ws, {"s": {"cmd": "true", "outs": ["src"]}})
    result = cli("run")
    assert result.code == 2 and "Git tracks src/train.py" in result.err
    assert (ws / "src" / "train.py").exists()


def test_a_bad_tracking_database_touches_no_output(
    pipe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("run").code == 0
    monkeypatch.setenv("LOCKSTEP_TRACKING_URI", "bogus://nowhere")
    result = cli("run", "--force", "train")
    assert result.code == 1 and "unsupported database" in result.err
    assert (pipe / "models" / "model.json").exists()


def test_a_missing_param_stops_the_run_before_any_stage(pipe: Path) -> None:
    stages = yaml.safe_load((pipe / "lockstep.yaml").read_text())["stages"]
    stages["evaluate"]["params"] = ["evaluate.threshold"]
    write_pipeline(pipe, stages)
    result = cli("run")
    assert result.code == 2 and "evaluate.threshold: missing" in result.err
    assert executions(pipe) == []


def test_odd_params_and_metrics_values(ws: Path) -> None:
    (ws / "params.yaml").write_text("train:\n  since: 2020-01-01\n")
    script = (
        "import json; json.dump({'acc': 0.5, 'huge': int('9' * 400), 'inf': float('inf'),"
        " '': 1.0}, open('m.json', 'w'))"
    )
    write_pipeline(
        ws,
        {
            "s": {
                "cmd": f'{sys.executable} -c "{script}"',
                "params": ["train.since"],
                "metrics": ["m.json"],
            }
        },
    )
    result = cli("run", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["stages"][0]["metrics"] == {"acc": 0.5}
    lock = yaml.safe_load((ws / "lockstep.lock").read_text())
    assert lock["stages"]["s"]["params"] == {"train.since": "2020-01-01"}
    assert cli("run", "--json").out.count("up-to-date") == 1


def test_a_stage_missing_one_output_caches_none(ws: Path) -> None:
    write_pipeline(ws, {"s": {"cmd": "echo x > a.txt", "outs": ["a.txt", "b.txt"]}})
    assert cli("run").code == 1
    assert not (ws / ".gitignore").exists()
    assert not (ws / "lockstep.lock").exists()


def test_a_stage_run_by_another_process_is_refused(pipe: Path) -> None:
    claim = StageLock(pipe, "train")
    try:
        result = cli("run", "--json")
    finally:
        claim.release()
    assert result.code == 1
    stages = {s["stage"]: s for s in json.loads(result.out)["stages"]}
    assert stages["prepare"]["action"] == "ran"
    assert "being run by another lockstep process" in stages["train"]["error"]
    assert cli("run").code == 0


def test_dry_run_knows_a_restored_upstream_changes_its_outputs(pipe: Path) -> None:
    assert cli("run").code == 0
    write_params(pipe, train={"lr": 2.0})
    assert cli("run").code == 0
    write_params(pipe)
    result = cli("run", "--dry")
    assert "train: would restore" in result.out
    assert "evaluate: would run (upstream stage train will change)" in result.out


def test_sigterm_stops_the_stages_and_records_them(pipe: Path) -> None:
    proc = run_with_slow_train(pipe, 'python -c "import time; time.sleep(60)"')
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "train: stopped" in out
    left = subprocess.run(["pgrep", "-f", "time.sleep\\(60\\)"], capture_output=True, check=False)
    assert left.stdout == b""
    from lockstep.tracking import search_runs

    runs = search_runs(filter="stage = train", uri=f"sqlite:///{pipe}/.lockstep/runs.db")
    assert [r.status for r in runs] == ["stopped"]


def test_a_command_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    group = ProcessGroup()
    job = Job("s", ("trap '' TERM; sleep 30",), str(tmp_path))
    outcome = []
    worker = threading.Thread(
        target=lambda: outcome.append(run_commands(job, str(tmp_path), None, group))
    )
    worker.start()
    time.sleep(0.5)
    started = time.monotonic()
    group.stop(grace=0.5)
    worker.join(timeout=10)
    assert outcome and outcome[0].returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5
