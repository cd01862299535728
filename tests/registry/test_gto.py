"""GTO reads the registry lockstep writes: the same versions, the same version in each
environment, the same latest, the same history; and lockstep reads what GTO writes."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Result, cli, git
from tests.services import require

CONFIG = """\
version: 1
models:
  churn:
    path: models/model.pkl
environments:
  staging:
    gates: []
  production:
    gates:
      - approval: {count: 1}
"""


def gto(root: Path, *args: str) -> Any:
    """Run the GTO command line in ``root``; its JSON output."""
    binary = require(str(Path(sys.executable).parent / "gto"), "reads the registry tags")
    done = subprocess.run(
        [binary, *args], cwd=root, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, f"gto {' '.join(args)}: {done.stdout}{done.stderr}"
    return json.loads(done.stdout)


def ok(*args: str) -> Result:
    result = cli(*args)
    assert result.code == 0, f"lockstep {' '.join(args)}: {result.out}{result.err}"
    return result


def data(*args: str) -> Any:
    return json.loads(ok(*args, "--json").out)


def commit_model(root: Path, weight: int, message: str) -> str:
    """Write a new model file (replacing the read-only one), track it, commit; the commit."""
    target = root / "models" / "model.pkl"
    target.parent.mkdir(exist_ok=True)
    fresh = target.with_name("model.pkl.new")
    fresh.write_bytes(pickle.dumps({"w": weight}, protocol=4))
    os.replace(fresh, target)
    ok("add", "models/model.pkl")
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def registry_repo(ws: Path) -> dict[str, str]:
    """Three versions, five assignments (one a rollback) and three approvals.

    In the end: latest v0.0.3 (in no environment), staging runs v0.0.2,
    production runs v0.0.1 again after v0.0.2 was rolled back. Returns each
    version's commit.
    """
    require(str(Path(sys.executable).parent / "gto"), "reads the registry tags")
    (ws / "lockstep.yaml").write_text(CONFIG)
    commits = {"v0.0.1": commit_model(ws, 1, "First model")}
    ok("model", "register", "churn", "--path", "models/model.pkl")
    commits["v0.0.2"] = commit_model(ws, 2, "Second model")
    ok("model", "register", "churn")
    commits["v0.0.3"] = commit_model(ws, 3, "Third model")
    ok("model", "register", "churn", "--path", "models/model.pkl")
    ok("model", "promote", "churn@v0.0.1", "--to", "staging")
    for version in ("v0.0.1", "v0.0.2", "v0.0.3"):
        ok("model", "approve", f"churn@{version}", "--env", "production")
    ok("model", "promote", "churn@v0.0.1", "--to", "production")
    ok("model", "promote", "churn@v0.0.2", "--to", "production")
    ok("model", "promote", "churn@v0.0.2", "--to", "staging")
    ok("model", "rollback", "churn", "--env", "production")
    return commits


def test_gto_show_agrees_with_model_list(ws: Path, registry_repo: dict[str, str]) -> None:
    listed = data("model", "list")
    assert listed == [
        {
            "model": "churn",
            "latest": "v0.0.3",
            "versions": ["v0.0.1", "v0.0.2", "v0.0.3"],
            "environments": {"production": "v0.0.1", "staging": "v0.0.2"},
        }
    ]
    shown = gto(ws, "show", "--json")  # exits 0: the approval tags do not confuse it
    assert set(shown) == {"churn"}
    churn = shown["churn"]
    assert churn["version"] == listed[0]["latest"]
    assert {env: v for env, v in churn["stage"].items() if v} == listed[0]["environments"]
    assert churn["registered"] is True and churn["active"] is True


def test_gto_show_model_agrees_with_model_show(ws: Path, registry_repo: dict[str, str]) -> None:
    versions = gto(ws, "show", "churn", "--json")
    assert sorted(v["version"] for v in versions) == ["v0.0.1", "v0.0.2", "v0.0.3"]
    for found in versions:
        ours = data("model", "show", f"churn@{found['version']}")
        assert found["commit_hexsha"] == ours["commit"] == registry_repo[found["version"]]
        assert found["discovered"] is False
        assert [r["tag"] for r in found["registrations"]] == [ours["tag"]]
        message = found["registrations"][0]["message"]
        assert json.loads(message[message.index("{") :])["digest"] == ours["digest"]
        # GTO lists, for each version, the environments it runs in now.
        assert sorted(s["stage"] for s in found["stages"]) == ours["environments"]
    for env in ("staging", "production"):
        theirs = gto(ws, "show", f"churn#{env}", "--json")
        assert [v["version"] for v in theirs] == [data("model", "show", f"churn#{env}")["version"]]
    assert (
        data("model", "show", "churn")["version"] == gto(ws, "show", "--json")["churn"]["version"]
    )


def test_gto_history_agrees_with_the_registry(ws: Path, registry_repo: dict[str, str]) -> None:
    ours = data("model", "history", "churn")
    theirs = gto(ws, "history", "churn", "--json")
    assert not [e for e in theirs if e.get("ref", "").startswith("approval/")]
    assert {e["tag"] for e in ours if e["action"] == "approve"} == set(
        git(ws, "tag", "-l", "approval/*").split()
    )

    registered = {(e["tag"], e["version"], e["commit"]) for e in ours if e["action"] == "register"}
    assert registered == {
        (e["ref"], e["version"], e["commit"]) for e in theirs if e["event"] == "registration"
    }
    assert len(registered) == 3

    assigned = [e for e in ours if e["action"] in ("promote", "rollback")]
    assert [e["tag"] for e in assigned] == [
        f"churn#{env}#{n}"
        for n, env in enumerate(
            ["staging", "production", "production", "staging", "production"], start=1
        )
    ]
    assert assigned[-1]["action"] == "rollback" and assigned[-1]["version"] == "v0.0.1"
    # GTO orders by date, newest first; lockstep dates each assignment after the last.
    theirs_assigned = [e for e in reversed(theirs) if e["event"] == "assignment"]
    assert [
        (e["ref"], e["version"], e["stage"], e["commit"], e["timestamp"]) for e in theirs_assigned
    ] == [(e["tag"], e["version"], e["environment"], e["commit"], e["time"]) for e in assigned]
    times = [e["timestamp"] for e in theirs_assigned]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_lockstep_reads_an_assignment_gto_made(ws: Path) -> None:
    require(str(Path(sys.executable).parent / "gto"), "writes registry tags")
    (ws / "lockstep.yaml").write_text(CONFIG)
    first = commit_model(ws, 1, "First model")
    ok("model", "register", "churn")
    second = commit_model(ws, 2, "Second model")
    ok("model", "register", "churn")
    binary = str(Path(sys.executable).parent / "gto")
    subprocess.run(
        [binary, "assign", "churn", "--version", "v0.0.2", "--stage", "staging"],
        cwd=ws,
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert git(ws, "tag", "-l", "churn#*").split() == ["churn#staging#1"]
    assert data("model", "list")[0]["environments"] == {"staging": "v0.0.2"}
    shown = data("model", "show", "churn#staging")
    assert shown["version"] == "v0.0.2" and shown["commit"] == second
    gto_event = [e for e in data("model", "history", "churn") if e["tag"] == "churn#staging#1"]
    assert len(gto_event) == 1 and gto_event[0]["version"] == "v0.0.2"
    assert gto_event[0]["actor"] and "Test" in gto_event[0]["actor"]

    # The next assignment continues GTO's numbering and dates, and GTO agrees with it.
    promoted = data("model", "promote", "churn@v0.0.1", "--to", "staging")
    assert promoted["tag"] == "churn#staging#2"
    assert git(ws, "rev-parse", "churn#staging#2^{commit}").strip() == first
    assert gto(ws, "show", "--json")["churn"]["stage"]["staging"] == "v0.0.1"
    assert data("model", "list")[0]["environments"] == {"staging": "v0.0.1"}
