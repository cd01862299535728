"""Two people share one registry through a Git remote: versions and approvals pushed
by one are seen by the other, and of two promotions racing for the same assignment
tag only one lands; the other is refused, never overwrites it, and removes its tag."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lockstep import git as lockstep_git
from lockstep.errors import PromotionRaceError
from lockstep.registry.promote import publish
from tests.conftest import Result, cli, git, lockstep_bin

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
      - approval: {count: 2}
"""
ALICE = "Alice <alice@example.com>"
BOB = "Bob <bob@example.com>"
RACE = "another change to the registry won the race"
PROMOTE_V2 = ("model", "promote", "churn@v0.0.2", "--to", "production")


@dataclass
class Team:
    origin: Path
    a: Path  # Alice's clone
    b: Path  # Bob's clone
    monkeypatch: pytest.MonkeyPatch

    def run(self, where: Path, *args: str) -> Result:
        self.monkeypatch.chdir(where)
        return cli(*args)

    def ok(self, where: Path, *args: str) -> Result:
        result = self.run(where, *args)
        assert result.code == 0, f"lockstep {' '.join(args)}: {result.out}{result.err}"
        return result

    def data(self, where: Path, *args: str) -> Any:
        return json.loads(self.ok(where, *args, "--json").out)

    def commit_model(self, weight: int, message: str) -> str:
        """In A: a new model file, tracked, committed and pushed; the commit."""
        target = self.a / "models" / "model.pkl"
        target.parent.mkdir(exist_ok=True)
        fresh = target.with_name("model.pkl.new")
        fresh.write_bytes(pickle.dumps({"w": weight}, protocol=4))
        os.replace(fresh, target)
        self.ok(self.a, "add", "models/model.pkl")
        git(self.a, "add", "-A")
        git(self.a, "commit", "-qm", message)
        git(self.a, "push", "-q", "origin", "main")
        return git(self.a, "rev-parse", "HEAD").strip()

    def remote_tags(self) -> dict[str, str]:
        """The remote's tags: name -> object (and name^{} -> commit for annotated ones)."""
        out = git(self.a, "ls-remote", "--tags", "origin")
        pairs = (line.split("\t") for line in out.splitlines())
        return {ref.removeprefix("refs/tags/"): sha for sha, ref in pairs}


def identify(root: Path, who: str) -> None:
    name, _, email = who.partition(" <")
    git(root, "config", "user.name", name)
    git(root, "config", "user.email", email.rstrip(">"))


@pytest.fixture
def team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Team:
    """A bare ``origin`` holding a lockstep workspace, cloned by Alice (A) and Bob (B);
    each clone has its own Git identity."""
    for name in ("AUTHOR", "COMMITTER"):
        monkeypatch.delenv(f"GIT_{name}_NAME", raising=False)
        monkeypatch.delenv(f"GIT_{name}_EMAIL", raising=False)
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    identify(seed, "Seed <seed@example.com>")
    monkeypatch.chdir(seed)
    assert cli("init").code == 0
    (seed / "lockstep.yaml").write_text(CONFIG)
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "Workspace")
    git(seed, "remote", "add", "origin", str(origin))
    git(seed, "push", "-q", "origin", "main")
    clones = {}
    for name, who in (("a", ALICE), ("b", BOB)):
        git(tmp_path, "clone", "-q", str(origin), name)
        identify(tmp_path / name, who)
        clones[name] = tmp_path / name
    return Team(origin, clones["a"], clones["b"], monkeypatch)


@pytest.fixture
def shared(team: Team) -> dict[str, str]:
    """Alice registered v0.0.1 and v0.0.2 and pushed them; both approved both for
    production; Bob fetched everything. Returns each version's commit."""
    commits = {"v0.0.1": team.commit_model(1, "First model")}
    team.ok(team.a, "model", "register", "churn", "--push")
    commits["v0.0.2"] = team.commit_model(2, "Second model")
    team.ok(team.a, "model", "register", "churn", "--push")
    for version in commits:
        team.ok(team.a, "model", "approve", f"churn@{version}", "--env", "production", "--push")
        team.ok(team.b, "model", "approve", f"churn@{version}", "--env", "production", "--push")
    git(team.a, "fetch", "-q", "--tags")
    git(team.b, "pull", "-q", "--tags")
    return commits


def test_a_version_pushed_by_one_clone_is_seen_by_the_other(team: Team) -> None:
    commit = team.commit_model(1, "First model")
    found = team.data(team.a, "model", "register", "churn", "--push")
    assert found["tag"] == "churn@v0.0.1" and found["actor"] == ALICE
    remote = team.remote_tags()
    assert remote["churn@v0.0.1^{}"] == commit
    assert remote["churn@v0.0.1"] == git(team.a, "rev-parse", "churn@v0.0.1").strip()

    assert team.data(team.b, "model", "list") == []
    git(team.b, "fetch", "-q", "--tags")
    assert team.data(team.b, "model", "list") == [
        {"model": "churn", "latest": "v0.0.1", "versions": ["v0.0.1"], "environments": {}}
    ]
    shown = team.data(team.b, "model", "show", "churn@v0.0.1")
    assert shown["commit"] == commit and shown["digest"] == found["digest"]
    assert shown["actor"] == ALICE


def test_approvals_from_two_clones_count_as_two_people(team: Team) -> None:
    team.commit_model(1, "First model")
    team.ok(team.a, "model", "register", "churn", "--push")
    git(team.b, "fetch", "-q", "--tags")

    mine = team.data(team.a, "model", "approve", "churn@v0.0.1", "--env", "production", "--push")
    assert mine["new"] is True
    again = team.data(team.a, "model", "approve", "churn", "--env", "production", "--push")
    assert again["new"] is False  # one person, one approval
    one = team.run(team.b, "check", "churn@v0.0.1", "--env", "production", "--json")
    assert one.code == 1 and json.loads(one.out)["gates"][0]["evidence"]["approvers"] == []

    theirs = team.data(team.b, "model", "approve", "churn@v0.0.1", "--env", "production", "--push")
    assert theirs["new"] is True and theirs["tag"] != mine["tag"]
    # Bob's --push fetched Alice's approval before pushing his own.
    both = team.data(team.b, "check", "churn@v0.0.1", "--env", "production")
    assert both["gates"][0]["passed"] is True
    assert both["gates"][0]["evidence"]["approvers"] == [ALICE, BOB]
    assert {mine["tag"], theirs["tag"]} <= set(team.remote_tags())
    git(team.a, "fetch", "-q", "--tags")
    history = team.data(team.a, "model", "history", "churn")
    assert sorted(e["actor"] for e in history if e["action"] == "approve") == [ALICE, BOB]


def test_sequential_promotions_both_land_because_push_fetches_first(
    team: Team, shared: dict[str, str]
) -> None:
    first = team.data(team.a, "model", "promote", "churn@v0.0.2", "--to", "production", "--push")
    assert first["tag"] == "churn#production#1"
    # Bob has not fetched since; his --push fetches Alice's assignment first.
    assert git(team.b, "tag", "-l", "churn#*") == ""
    second = team.data(team.b, "model", "promote", "churn@v0.0.1", "--to", "production", "--push")
    assert second["tag"] == "churn#production#2"

    remote = team.remote_tags()
    assert remote["churn#production#1^{}"] == shared["v0.0.2"]
    assert remote["churn#production#2^{}"] == shared["v0.0.1"]
    git(team.a, "fetch", "-q", "--tags")
    for clone in (team.a, team.b):
        history = team.data(clone, "model", "history", "churn", "--env", "production")
        promotions = [e for e in history if e["action"] == "promote"]
        assert [(e["tag"], e["version"], e["actor"]) for e in promotions] == [
            ("churn#production#1", "v0.0.2", ALICE),
            ("churn#production#2", "v0.0.1", BOB),
        ]
        assert promotions[0]["time"] < promotions[1]["time"]
        assert team.data(clone, "model", "show", "churn#production")["version"] == "v0.0.1"


@pytest.mark.parametrize("hints", [True, False], ids=["git-hints", "no-git-hints"])
def test_a_lost_race_never_overwrites_the_winner(
    team: Team, shared: dict[str, str], hints: bool
) -> None:
    if not hints:  # a user who turned Git's advice off: the refusal must still be seen
        git(team.b, "config", "advice.pushAlreadyExists", "false")
    # Both compute the same next assignment before either pushes.
    bob = team.data(team.b, "model", "promote", "churn@v0.0.1", "--to", "production", "--no-push")
    alice = team.data(team.a, "model", "promote", "churn@v0.0.2", "--to", "production", "--push")
    tag = alice["tag"]
    assert bob["tag"] == tag == "churn#production#1"
    winner = git(team.a, "rev-parse", tag).strip()
    assert git(team.b, "rev-parse", tag).strip() != winner

    plain = subprocess.run(
        ["git", "push", "origin", f"refs/tags/{tag}"],
        cwd=team.b,
        capture_output=True,
        text=True,
        check=False,
    )
    assert plain.returncode != 0 and "already exists" in plain.stdout + plain.stderr

    with pytest.raises(PromotionRaceError) as raised:
        publish(team.b, tag, "origin")
    assert raised.value.tag == tag and RACE in str(raised.value)
    assert git(team.b, "tag", "-l", tag) == ""  # the loser's tag is gone
    remote = team.remote_tags()
    assert remote[tag] == winner and remote[f"{tag}^{{}}"] == shared["v0.0.2"]

    # Bob tries again: he fetches Alice's assignment and takes the next number.
    again = team.data(team.b, "model", "promote", "churn@v0.0.1", "--to", "production", "--push")
    assert again["tag"] == "churn#production#2"
    assert team.remote_tags()[tag] == winner


def test_a_race_lost_between_fetch_and_push_exits_1(
    team: Team, shared: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fetch = lockstep_git.fetch_tags
    raced: list[str] = []

    def fetch_then_lose(root: Path, remote: str, *rest: Any) -> None:
        real_fetch(root, remote, *rest)
        if not raced:  # Alice pushes her promotion right after Bob's fetch
            done = subprocess.run(
                [lockstep_bin(), *PROMOTE_V2, "--push", "--json"],
                cwd=team.a,
                capture_output=True,
                text=True,
                check=True,
            )
            raced.append(json.loads(done.stdout)["tag"])

    monkeypatch.setattr(lockstep_git, "fetch_tags", fetch_then_lose)
    lost = team.run(team.b, "model", "promote", "churn@v0.0.1", "--to", "production", "--push")
    assert raced == ["churn#production#1"]
    assert lost.code == 1, lost.out + lost.err
    assert RACE in lost.err and "churn#production#1" in lost.err
    assert "Traceback" not in lost.err
    assert git(team.b, "tag", "-l", "churn#*") == ""
    remote = team.remote_tags()
    assert remote["churn#production#1"] == git(team.a, "rev-parse", "churn#production#1").strip()
    assert remote["churn#production#1^{}"] == shared["v0.0.2"]

    retried = team.data(team.b, "model", "promote", "churn@v0.0.1", "--to", "production", "--push")
    assert retried["tag"] == "churn#production#2"
    assert team.remote_tags()["churn#production#2^{}"] == shared["v0.0.1"]


def test_a_clone_holding_a_tag_the_remote_has_differently_is_told_which(
    team: Team, shared: dict[str, str]
) -> None:
    team.ok(team.b, "model", "promote", "churn@v0.0.1", "--to", "production", "--no-push")
    team.ok(team.a, "model", "promote", "churn@v0.0.2", "--to", "production", "--push")
    mine = git(team.b, "rev-parse", "churn#production#1").strip()
    winner = team.remote_tags()["churn#production#1"]
    assert mine != winner

    result = team.run(team.b, "model", "approve", "churn@v0.0.1", "--env", "staging", "--push")
    # Nothing is overwritten either way: not Bob's tag, not the remote's.
    assert git(team.b, "rev-parse", "churn#production#1").strip() == mine
    assert team.remote_tags()["churn#production#1"] == winner
    # The fetch before the push may succeed (keeping Bob's tag) or refuse; a refusal
    # names the tag that differs, so Bob knows what to remove.
    assert result.code == 0 or "churn#production#1" in result.err, result.err


def test_push_without_the_remote_is_bad_input_on_one_line(ws: Path) -> None:
    (ws / "lockstep.yaml").write_text(CONFIG.replace("count: 2", "count: 1"))
    target = ws / "models" / "model.pkl"
    target.parent.mkdir()
    target.write_bytes(pickle.dumps({"w": 1}, protocol=4))
    assert cli("add", "models/model.pkl").code == 0
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "Model")
    assert git(ws, "remote") == ""

    def refused(*args: str) -> None:
        before = git(ws, "tag", "-l")
        result = cli(*args, "--push")
        assert result.code == 2, result.out + result.err
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and "no Git remote named 'origin'" in lines[0], result.err
        assert git(ws, "tag", "-l") == before  # nothing was tagged

    refused("model", "register", "churn")
    assert cli("model", "register", "churn", "--no-push").code == 0
    refused("model", "approve", "churn@v0.0.1", "--env", "production")
    refused("model", "promote", "churn@v0.0.1", "--to", "staging")
    assert cli("model", "promote", "churn@v0.0.1", "--to", "staging", "--no-push").code == 0
    refused("model", "rollback", "churn", "--env", "staging", "--to", "0.0.1")


def test_the_registry_remote_and_push_come_from_the_config(team: Team) -> None:
    git(team.a, "remote", "rename", "origin", "shared")
    config = team.a / ".lockstep" / "config.toml"
    config.write_text(config.read_text() + '\n[registry]\nremote = "shared"\npush = true\n')
    target = team.a / "models" / "model.pkl"
    target.parent.mkdir()
    target.write_bytes(pickle.dumps({"w": 1}, protocol=4))
    team.ok(team.a, "add", "models/model.pkl")
    git(team.a, "add", "-A")
    git(team.a, "commit", "-qm", "Model")
    team.ok(team.a, "model", "register", "churn")  # pushed: [registry] push = true
    assert "churn@v0.0.1" in git(team.a, "ls-remote", "--tags", "shared")
    approved = team.data(team.a, "model", "approve", "churn", "--env", "staging", "--no-push")
    assert approved["tag"] not in git(team.a, "ls-remote", "--tags", "shared")
    assert git(team.a, "tag", "-l", approved["tag"]).strip() == approved["tag"]
