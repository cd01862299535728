"""Registry edge cases: rollback chains, approvals by one person, tags lockstep did
not write, signed tags, references, lineage of a retrained model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import cli, git
from tests.registry.conftest import train, write_config


def ok(*args: str) -> str:
    result = cli(*args)
    assert result.code == 0, result.out + result.err
    return result.out


def three_in_staging(reg: Path) -> None:
    for i, score in enumerate((0.8, 0.85, 0.9)):
        if i:
            train(reg, float(i + 1), score, f"Model {i + 1}")
        ok("model", "register", "churn")
        ok("model", "promote", "churn", "--to", "staging")


def staging(reg: Path) -> str:
    return json.loads(ok("model", "list", "--json"))[0]["environments"]["staging"]


def test_rolling_back_twice_goes_further_back(reg: Path) -> None:
    three_in_staging(reg)
    assert staging(reg) == "v0.0.3"
    ok("model", "rollback", "churn", "--env", "staging")
    assert staging(reg) == "v0.0.2"
    ok("model", "rollback", "churn", "--env", "staging")
    assert staging(reg) == "v0.0.1"
    last = cli("model", "rollback", "churn", "--env", "staging")
    assert last.code == 2 and "nothing earlier" in last.err


def test_rollback_to_only_reaches_versions_the_environment_ran(reg: Path) -> None:
    three_in_staging(reg)
    train(reg, 9.0, 0.95, "Model 4")
    ok("model", "register", "churn")
    never = cli("model", "rollback", "churn", "--env", "staging", "--to", "0.0.4")
    assert never.code == 2 and "never ran v0.0.4" in never.err
    same = cli("model", "rollback", "churn", "--env", "staging", "--to", "0.0.3")
    assert same.code == 2 and "runs v0.0.3 already" in same.err
    ok("model", "rollback", "churn", "--env", "staging", "--to", "0.0.1")
    assert staging(reg) == "v0.0.1"


def test_promoting_the_running_version_changes_nothing(reg: Path) -> None:
    ok("model", "register", "churn")
    ok("model", "promote", "churn", "--to", "staging")
    tags = git(reg, "tag")
    assert "runs churn@v0.0.1 already" in ok("model", "promote", "churn", "--to", "staging")
    assert git(reg, "tag") == tags


def test_one_person_is_one_approver_and_env_names_may_use_underscores(
    reg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(reg, environments={"prod_EU": {"gates": [{"approval": {"count": 2}}]}})
    ok("model", "register", "churn")
    ok("model", "approve", "churn", "--env", "prod_EU")
    again = ok("model", "approve", "churn", "--env", "prod_EU")
    assert "already" in again
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Someone Else")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "TEST@example.com")
    assert "already" in ok("model", "approve", "churn", "--env", "prod_EU")
    result = cli("check", "churn", "--env", "prod_EU", "--json")
    assert json.loads(result.out)["gates"][0]["summary"].startswith("1 of 2")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "other@example.com")
    ok("model", "approve", "churn", "--env", "prod_EU")
    assert cli("check", "churn", "--env", "prod_EU").code == 0


def test_lightweight_and_unassignment_tags(reg: Path) -> None:
    ok("model", "register", "churn")
    ok("model", "promote", "churn", "--to", "staging")
    git(reg, "tag", "churn@v9.0.0")  # lightweight: GTO ignores it, so does lockstep
    git(reg, "tag", "churn#production#99")
    listed = json.loads(ok("model", "list", "--json"))[0]
    assert listed["latest"] == "v0.0.1" and listed["environments"] == {"staging": "v0.0.1"}
    # GTO's unassignment: staging runs nothing any more; the counter goes on
    commit = git(reg, "rev-parse", "churn@v0.0.1^{commit}").strip()
    git(reg, "tag", "-a", "churn#staging!#2", commit, "-m", "Unassign")
    listed = json.loads(ok("model", "list", "--json"))[0]
    assert listed["environments"] == {}
    assert "churn#staging#3" in ok("model", "promote", "churn", "--to", "staging")


def test_signed_tags_keep_their_metadata(reg: Path, tmp_path: Path) -> None:
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.skip("ssh-keygen is not installed")
    key = tmp_path / "key"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    git(reg, "config", "gpg.format", "ssh")
    git(reg, "config", "user.signingkey", str(key))
    git(reg, "config", "tag.gpgSign", "true")
    found = json.loads(ok("model", "register", "churn", "--json"))
    assert "BEGIN SSH SIGNATURE" in git(reg, "cat-file", "-p", "churn@v0.0.1")
    assert found["flavor"] == "pickle" and found["metrics"]["f1"] == 0.8


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ("churn@v0.0.1#x", "is not a model reference"),
        ("churn#", "is not a model reference"),
        ("churn@", "is not a model reference"),
        ("nosuch#staging", "no registered model named 'nosuch'"),
        ("churn@v7.0.0", "has no version v7.0.0"),
    ],
)
def test_bad_references(reg: Path, ref: str, problem: str) -> None:
    ok("model", "register", "churn")
    result = cli("model", "show", ref)
    assert result.code == 2 and problem in result.err, result.err


def test_latest_reference_and_model_path_from_a_subfolder(reg: Path) -> None:
    (reg / "src").mkdir()
    os.chdir(reg / "src")
    ok("model", "register", "churn")
    assert json.loads(ok("model", "show", "churn@latest", "--json"))["version"] == "v0.0.1"


def test_metrics_of_an_older_model_are_not_recorded(reg: Path) -> None:
    (reg / "params.yaml").write_text("train: {w: 5.0}\nscore: 0.99\n")
    assert cli("run", "train").code == 0  # the model changed; evaluate did not run
    git(reg, "add", "-A")
    git(reg, "commit", "-qm", "Retrained, not evaluated")
    found = json.loads(ok("model", "register", "churn", "--json"))
    assert found["metrics"] == {}
    assert found["evaluation"] == {"stages": [], "data": {}}


def test_a_model_file_inside_a_tracked_folder(reg: Path) -> None:
    bundle = reg / "bundle"
    bundle.mkdir()
    (bundle / "model.json").write_text('{"learner": {}}')
    (bundle / "README").write_text("notes")
    ok("add", "bundle")
    git(reg, "add", "-A")
    git(reg, "commit", "-qm", "Bundle")
    found = json.loads(ok("model", "register", "inner", "--path", "bundle/model.json", "--json"))
    assert found["flavor"] == "xgboost" and found["kind"] == "file"
    missing = cli("model", "register", "other", "--path", "bundle/nope.bin")
    assert missing.code == 2 and "is not a file of bundle" in missing.err


def test_data_gate_checks_a_file_inside_a_recorded_folder(reg: Path) -> None:
    from tests.registry.conftest import CONFIG

    stages = json.loads(json.dumps(CONFIG["stages"]))
    stages["train"]["deps"] = ["train.py", "data"]
    stages["evaluate"]["deps"] = ["evaluate.py", "models/model.pkl"]
    models = {
        "churn": {"path": "models/model.pkl", "schema": "schema.yaml", "data": ["./data/train.csv"]}
    }
    write_config(reg, stages=stages, models=models, environments={"staging": {"gates": ["data"]}})
    assert cli("data", "infer-schema", "data/train.csv", "--out", "schema.yaml").code == 0
    train(reg, 1.5, 0.8, "Train on the whole folder")
    found = json.loads(ok("model", "register", "churn", "--json"))
    assert set(found["inputs"]) == {"data"}
    result = cli("check", "churn", "--env", "staging", "--json")
    verdict = json.loads(result.out)["gates"][0]
    assert result.code == 0, verdict
    assert list(verdict["evidence"]["datasets"]) == ["data/train.csv"]


def test_history_finds_issue_references_not_standards(reg: Path) -> None:
    from lockstep.git import Commit
    from lockstep.registry.history import _issues

    commit = Commit("x", "a", 0.0, "Fix #12 and CHURN-7", "see org/repo#34; SHA-256, UTF-8")
    assert _issues(commit) == ["#12", "CHURN-7", "org/repo#34"]


def test_a_push_refused_by_a_hook_is_not_a_race(reg: Path, tmp_path: Path) -> None:
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'tags are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    git(reg, "remote", "add", "origin", str(remote))
    result = cli("model", "register", "churn", "--push")
    assert result.code == 1
    assert "won the race" not in result.err and "refused churn@v0.0.1" in result.err
    assert git(reg, "tag", "-l", "churn@*").strip() == ""  # nothing local-only remains
