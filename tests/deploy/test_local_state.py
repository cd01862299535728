"""The state of local deployments survives what can go wrong around it: a deploy
killed before it switched, a PID reused by an unrelated process, bad names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from lockstep.deploy import processes
from lockstep.deploy.local import LocalDeployer, folder, read_state, write_state
from tests.conftest import cli


def sleeper() -> int:
    return processes.start(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        Path.cwd(),
        Path(os.devnull),
        os.environ,
    )


def test_stop_ends_what_a_killed_deploy_left_running(ws: Path) -> None:
    pending = sleeper()
    where = folder(ws, "churn", "staging")
    write_state(
        where,
        {"model": "churn", "env": "staging", "active": None, "router": None,
         "pending": {"pid": pending, "since": processes.started(pending), "port": 1}},
    )  # fmt: skip
    result = cli("deploy", "stop", "churn", "--env", "staging")
    assert result.code == 0, result.err
    assert not processes.alive(pending)
    assert read_state(where)["pending"] is None


def test_a_reused_pid_is_never_signalled(ws: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        where = folder(ws, "churn", "staging")
        stale = {"pid": other.pid, "since": "1", "port": 1}  # started long ago: not this one
        write_state(where, {"model": "churn", "env": "staging", "active": stale, "router": stale})
        assert cli("deploy", "stop", "churn", "--env", "staging").code == 0
        time.sleep(0.2)
        assert other.poll() is None
        assert LocalDeployer(ws).status()[0]["serving"] is False
    finally:
        other.kill()
        other.wait()


def test_bad_names_are_bad_input(ws: Path) -> None:
    result = cli("deploy", "stop", "../../escaped", "--env", "x")
    assert result.code == 2
    assert not (ws.parent / "escaped").exists()
    missing = cli("deploy", "stop", "churn", "--env", "nope")
    assert missing.code == 1 and "not deployed" in missing.err
    assert not (ws / ".lockstep/deploy/churn/nope").exists()


def test_smoke_body_files_stay_in_the_workspace(ws: Path) -> None:
    body = {
        "version": 1,
        "environments": {"staging": {"smoke": {"requests": [{"body_file": "../x.json"}]}}},
    }
    (ws / "lockstep.yaml").write_text(json.dumps(body))
    result = cli("deploy", "churn", "--env", "staging")
    assert result.code == 2 and "environments.staging.smoke.requests[0].body_file" in result.err


def test_a_smoke_command_that_hangs_is_stopped_with_its_children(tmp_path: Path) -> None:
    from lockstep.deploy.checks import smoke
    from lockstep.registry.smoke import SmokeSpec

    marker = tmp_path / "child.pid"
    command = f"sh -c 'echo $$ > {marker}; sleep 30' & wait"
    started = time.monotonic()
    [found] = smoke(SmokeSpec((), command, 1.0), "http://127.0.0.1:1", tmp_path, None, {})
    assert not found.passed and "did not finish in 1 s" in found.detail
    assert time.monotonic() - started < 10
    child = int(marker.read_text())
    time.sleep(0.2)
    assert not processes.alive(child)
