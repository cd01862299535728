"""lockstep run: only what changed runs, known fingerprints come back from the run
cache, outputs are cached and carried by push/pull, failures leave things usable."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from tests.conftest import cli, git
from tests.pipeline.conftest import executions, write_params, write_pipeline


def run_json(*args: str) -> dict[str, str]:
    result = cli("run", "--json", *args)
    assert result.code == 0, result.err
    return {s["stage"]: s["action"] for s in json.loads(result.out)["stages"]}


def test_first_run_runs_everything_and_writes_the_lock(pipe: Path) -> None:
    assert run_json() == {"prepare": "ran", "train": "ran", "evaluate": "ran"}
    assert executions(pipe) == ["prepare", "train", "evaluate"]
    lock = yaml.safe_load((pipe / "lockstep.lock").read_text())
    assert lock["format"] == "lockstep/lock@1"
    assert list(lock["stages"]) == ["evaluate", "prepare", "train"]
    prepare = lock["stages"]["prepare"]
    assert prepare["params"] == {"prepare.rows": 4, "seed": 3}
    assert prepare["outs"][0]["kind"] == "dir" and prepare["outs"][0]["files"] == 4
    assert lock["stages"]["evaluate"]["metrics"] == {"score": 0.09, "nested.loss": 1.5}
    # outputs are in the cache and ignored by Git
    assert "/prepared" in (pipe / "data" / ".gitignore").read_text()
    assert "/metrics.json" in (pipe / ".gitignore").read_text()
    assert cli("status").out.startswith("Up to date")


def test_second_run_is_a_no_op(pipe: Path) -> None:
    run_json()
    assert run_json() == dict.fromkeys(("prepare", "train", "evaluate"), "up-to-date")
    assert len(executions(pipe)) == 3


def test_a_param_change_reruns_the_stage_and_what_depends_on_it(pipe: Path) -> None:
    run_json()
    write_params(pipe, train={"lr": 2.0})
    assert run_json() == {"prepare": "up-to-date", "train": "ran", "evaluate": "ran"}
    result = cli("run", "--dry")
    assert "prepare: up to date" in result.out


def test_reverting_a_param_restores_outputs_without_running(pipe: Path) -> None:
    run_json()
    first = (pipe / "models" / "model.json").read_bytes()
    write_params(pipe, train={"lr": 2.0})
    run_json()
    write_params(pipe)
    before = len(executions(pipe))
    started = time.monotonic()
    assert run_json() == {"prepare": "up-to-date", "train": "restored", "evaluate": "restored"}
    assert time.monotonic() - started < 2
    assert len(executions(pipe)) == before
    assert (pipe / "models" / "model.json").read_bytes() == first


def test_a_dep_change_is_detected_by_content(pipe: Path) -> None:
    run_json()
    (pipe / "evaluate.py").write_text((pipe / "evaluate.py").read_text() + "\n# note\n")
    assert run_json()["evaluate"] == "ran"


def test_deleted_outputs_come_back_from_the_cache(pipe: Path) -> None:
    run_json()
    (pipe / "models" / "model.json").unlink()
    assert run_json()["train"] == "restored"
    assert (pipe / "models" / "model.json").exists()


def test_force_dry_and_targets(pipe: Path) -> None:
    dry = cli("run", "--dry")
    assert dry.code == 0 and "prepare: would run (never ran)" in dry.out
    assert not (pipe / "lockstep.lock").exists() and executions(pipe) == []
    assert run_json("train") == {"prepare": "ran", "train": "ran"}
    assert run_json("--force", "prepare") == {"prepare": "ran"}


def test_parallel_stages_overlap(ws: Path) -> None:
    sleeper = "python -c \"import time; time.sleep(1); open('{0}', 'w').write('x')\""
    write_pipeline(
        ws, {n: {"cmd": sleeper.format(n + ".out"), "outs": [n + ".out"]} for n in "abc"}
    )
    started = time.monotonic()
    assert run_json("--jobs", "3") == dict.fromkeys("abc", "ran")
    assert time.monotonic() - started < 2.5


def test_failure_exits_1_keeps_the_lock_and_caches_nothing(pipe: Path) -> None:
    run_json()
    lock_before = (pipe / "lockstep.lock").read_text()
    (pipe / "train.py").write_text(
        "import sys\nprint('boom: bad lr', file=sys.stderr)\nsys.exit(3)\n"
    )
    result = cli("run")
    assert result.code == 1
    assert "train: FAILED" in result.out
    assert "boom: bad lr" in result.out
    assert result.err.splitlines()[-1] == "error: stage(s) failed: train: exit code 3: boom: bad lr"
    assert "evaluate: not run" in result.out
    assert (pipe / "lockstep.lock").read_text() == lock_before
    # the workspace stays usable: fix the script and go on
    (pipe / "train.py").write_text((pipe / "train.py").read_text().replace("exit(3)", "exit(0)"))
    (pipe / "train.py").write_text(
        "import os\nos.makedirs('models', exist_ok=True)\n"
        "open('models/model.json', 'w').write('{\"weights\": 1}')\n"
    )
    assert run_json() == {"prepare": "up-to-date", "train": "ran", "evaluate": "ran"}


def test_keep_going_runs_independent_branches(ws: Path) -> None:
    write_pipeline(
        ws,
        {
            "bad": {"cmd": "exit 1", "outs": ["bad.out"]},
            "after_bad": {"cmd": "cp bad.out x", "deps": ["bad.out"], "outs": ["x"]},
            "good": {"cmd": "echo ok > good.out", "outs": ["good.out"]},
        },
    )
    result = cli("run", "--keep-going", "--json")
    assert result.code == 1
    actions = {s["stage"]: s["action"] for s in json.loads(result.out)["stages"]}
    assert actions == {"bad": "failed", "after_bad": "not-run", "good": "ran"}


def test_missing_output_fails_the_stage(ws: Path) -> None:
    write_pipeline(ws, {"s": {"cmd": "true", "outs": ["never.txt"]}})
    result = cli("run")
    assert result.code == 1
    assert "did not write its output never.txt" in result.out


def test_missing_dependency_and_param_are_input_errors(ws: Path) -> None:
    write_pipeline(ws, {"s": {"cmd": "true", "deps": ["nope.csv"], "outs": ["o"]}})
    result = cli("run")
    assert result.code == 2
    assert "stage s: dependency nope.csv does not exist" in result.err
    write_pipeline(ws, {"s": {"cmd": "true", "params": ["train.lr"], "outs": ["o"]}})
    (ws / "params.yaml").write_text("train: {}\n")
    result = cli("run")
    assert result.code == 2
    assert result.err.startswith("error: params.yaml: train.lr: missing, but stage s lists it")


def test_outputs_travel_with_push_and_pull(pipe: Path, tmp_path: Path) -> None:
    run_json()
    assert cli("remote", "add", "origin", (tmp_path / "remote").as_uri()).code == 0
    assert cli("push").code == 0
    git(pipe, "add", "-A")
    git(pipe, "commit", "-qm", "pipeline")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(pipe), str(clone))
    import os

    os.chdir(clone)
    assert cli("pull").code == 0
    assert (clone / "models" / "model.json").read_bytes() == (
        pipe / "models/model.json"
    ).read_bytes()
    assert len(list((clone / "data" / "prepared").iterdir())) == 4
    assert cli("run", "--dry").out.count("up to date") == 3


def test_rollback_of_outputs_with_git_checkout(pipe: Path) -> None:
    run_json()
    git(pipe, "add", "-A")
    git(pipe, "commit", "-qm", "v1")
    v1 = (pipe / "models" / "model.json").read_bytes()
    write_params(pipe, train={"lr": 9.0})
    run_json()
    git(pipe, "commit", "-qam", "v2")
    git(pipe, "checkout", "-q", "HEAD~1")
    assert cli("checkout").code == 0
    assert (pipe / "models" / "model.json").read_bytes() == v1


def test_gc_keeps_stage_outputs(pipe: Path) -> None:
    run_json()
    result = cli("gc", "--json")
    assert json.loads(result.out)["removed"] == 0
    assert run_json()["train"] == "up-to-date"


def test_metrics_and_params_commands(pipe: Path) -> None:
    run_json()
    git(pipe, "add", "-A")
    git(pipe, "commit", "-qm", "v1")
    assert "score" in cli("metrics", "show").out
    write_params(pipe, train={"lr": 1.0})
    diff = json.loads(cli("params", "diff", "--json").out)
    assert diff == [{"stage": "train", "key": "train.lr", "old": 0.5, "new": 1.0, "delta": 0.5}]
    run_json()
    changes = json.loads(cli("metrics", "diff", "--json").out)
    assert {c["key"]: c["delta"] for c in changes} == {"score": 0.09}
    assert cli("metrics", "diff", "HEAD", "HEAD").out.strip() == "No metric changed."


def stage_runs(root: Path) -> list[object]:
    from lockstep.tracking import search_runs

    uri = f"sqlite:///{root}/.lockstep/runs.db"
    return list(reversed(search_runs(filter="kind = stage", uri=uri)))


def test_every_stage_run_is_recorded(pipe: Path) -> None:
    (pipe / "train.py").write_text(
        (pipe / "train.py").read_text()
        + "from lockstep import tracking\n"
        + "run = tracking.current()\n"
        + "for step in range(3):\n"
        + "    run.log_metric('loss', 1.0 / (step + 1), step=step)\n"
    )
    run_json()
    runs = stage_runs(pipe)
    assert [r.stage for r in runs] == ["prepare", "train", "evaluate"]
    train = runs[1]
    assert train.status == "finished" and train.params["train.lr"] == 0.5
    assert train.metrics["loss"] == 1.0 / 3
    assert train.outs["models/model.json"].startswith("sha256:")
    assert runs[2].metrics["score"] == 0.09
    parent = train.parent_id
    assert parent and all(r.parent_id == parent for r in runs)
    write_params(pipe, train={"lr": 2.0})
    run_json()
    write_params(pipe)
    run_json()
    restored = stage_runs(pipe)[-1]
    assert restored.status == "restored" and restored.tags["restored_from"] == runs[2].id


def test_a_failed_stage_is_recorded_with_its_stderr_tail(pipe: Path) -> None:
    (pipe / "train.py").write_text("import sys\nprint('no such column: x', file=sys.stderr)\n1/0\n")
    assert cli("run").code == 1
    failed = [r for r in stage_runs(pipe) if r.stage == "train"]
    assert failed[0].status == "failed"
    assert "no such column: x" in failed[0].error
    assert "ZeroDivisionError" in failed[0].error


def pipeline_runs(root: Path) -> list[object]:
    from lockstep.tracking import search_runs

    uri = f"sqlite:///{root}/.lockstep/runs.db"
    return list(reversed(search_runs(filter="kind = pipeline", uri=uri)))


def test_a_no_op_run_is_recorded_without_the_database_engine(pipe: Path) -> None:
    import subprocess
    import sys

    run_json()
    script = (
        "import sys\n"
        "from lockstep.cli.app import run\n"
        "code = run(['run'])\n"
        "assert 'sqlalchemy' not in sys.modules, 'the no-op run loaded SQLAlchemy'\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    runs = pipeline_runs(pipe)
    assert len(runs) == 2
    noop = runs[-1]
    assert noop.status == "finished" and noop.name == "pipeline"
    assert noop.tags["stages"] == "prepare=up-to-date train=up-to-date evaluate=up-to-date"
    assert noop.git_commit is None and noop.user == "Test <test@example.com>"
    assert runs[0].tags["stages"] == "prepare=ran train=ran evaluate=ran"


def test_bad_input_records_nothing(ws: Path) -> None:
    write_pipeline(ws, {"s": {"cmd": "true", "deps": ["nope"], "outs": ["o"]}})
    assert cli("run").code == 2
    assert not (ws / ".lockstep" / "runs.db").exists()
