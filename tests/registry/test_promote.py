"""check, approve, promote, rollback and history: gates decide, tags record."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import cli, git
from tests.registry.conftest import train, write_config, write_data


def ok(*args: str) -> str:
    result = cli(*args)
    assert result.code == 0, result.out + result.err
    return result.out


def gates(*args: str) -> tuple[int, dict[str, dict[str, object]]]:
    result = cli(*args, "--json")
    found = json.loads(result.out)
    return result.code, {g["gate"]: g for g in found["gates"]}


def two_versions(reg: Path, second_score: float) -> None:
    ok("model", "register", "churn")
    ok("model", "approve", "churn@v0.0.1", "--env", "production")
    ok("model", "promote", "churn@v0.0.1", "--to", "production")
    train(reg, 2.0, second_score, "Second model, fixes #41 and CHURN-7")
    ok("model", "register", "churn")
    ok("model", "approve", "churn@v0.0.2", "--env", "production")


def test_check_promotes_nothing_and_lists_each_verdict(reg: Path) -> None:
    ok("model", "register", "churn")
    code, verdicts = gates("check", "churn", "--env", "production")
    assert code == 1
    assert verdicts["champion"]["passed"] is True  # production runs nothing yet
    assert verdicts["approval"]["passed"] is False
    assert verdicts["approval"]["evidence"] == {"needed": 1, "approvers": []}
    assert "churn#" not in git(reg, "tag")
    out = cli("check", "churn", "--env", "production")
    assert "FAIL  approval: 0 of 1 approval(s)" in out.out
    assert out.err.strip() == "error: churn@v0.0.1 did not pass the gates of production: approval"


def test_promotion_needs_every_gate(reg: Path) -> None:
    ok("model", "register", "churn")
    code, _ = gates("model", "promote", "churn", "--to", "production")
    assert code == 1 and "churn#production" not in git(reg, "tag")
    ok("model", "approve", "churn", "--env", "production")
    again = cli("model", "approve", "churn", "--env", "production")
    assert "approved churn@v0.0.1 for production already" in again.out
    out = ok("model", "promote", "churn", "--to", "production")
    assert "Promoted churn@v0.0.1 to production (churn#production#1)" in out
    message = git(reg, "tag", "-l", "--format=%(contents)", "churn#production#1")
    body = json.loads(message[message.index("{") :])
    assert [g["gate"] for g in body["gates"]] == ["champion", "approval"]
    assert body["actor"] == "Test <test@example.com>" and body["version"] == "0.0.1"


def test_champion_compares_on_the_same_evaluation_data(reg: Path) -> None:
    two_versions(reg, 0.805)  # better, but by less than min_delta 0.01
    code, verdicts = gates("model", "promote", "churn@v0.0.2", "--to", "production")
    assert code == 1
    champion = verdicts["champion"]
    assert champion["passed"] is False
    assert champion["evidence"]["candidate"] == {"version": "churn@v0.0.2", "value": 0.805}
    assert champion["evidence"]["champion"] == {"version": "churn@v0.0.1", "value": 0.8}
    train(reg, 3.0, 0.9, "Third model")
    ok("model", "register", "churn")
    ok("model", "approve", "churn", "--env", "production")
    code, verdicts = gates("model", "promote", "churn", "--to", "production")
    assert code == 0 and verdicts["champion"]["evidence"]["delta"] > 0.09
    assert "churn#production#2" in git(reg, "tag")


def test_champion_refuses_different_evaluation_data_unless_reevaluated(reg: Path) -> None:
    ok("model", "register", "churn")
    ok("model", "approve", "churn", "--env", "production")
    ok("model", "promote", "churn", "--to", "production")
    write_data(reg, eval_rows="x,y\n1,1\n2,1\n3,1\n")
    train(reg, 2.0, 0.95, "New evaluation data")
    ok("model", "register", "churn")
    ok("model", "approve", "churn", "--env", "production")
    code, verdicts = gates("check", "churn", "--env", "production")
    assert code == 1
    assert "evaluated on different data (data/eval.csv)" in verdicts["champion"]["summary"]
    # reevaluate scores both models on today's data: the higher weight wins here
    (reg / "reeval.py").write_text(
        "import json, os, pickle\n"
        "model = pickle.load(open(os.environ['LOCKSTEP_MODEL'], 'rb'))\n"
        "json.dump({'f1': model['w'] / 10}, open(os.environ['LOCKSTEP_METRICS'], 'w'))\n"
    )
    envs = {
        "staging": {"gates": []},
        "production": {
            "gates": [{"champion": {"metric": "f1", "min_delta": 0.01}}],
            "reevaluate": "python reeval.py",
        },
    }
    write_config(reg, environments=envs)
    code, verdicts = gates("check", "churn", "--env", "production")
    assert code == 0, verdicts
    evidence = verdicts["champion"]["evidence"]
    assert evidence["compared"] == "re-evaluated on the current data"
    assert evidence["candidate"]["value"] == 0.2 and evidence["champion"]["value"] == 0.1


def test_rollback_is_a_new_assignment_and_history_tells_it(reg: Path) -> None:
    two_versions(reg, 0.9)
    ok("model", "promote", "churn@v0.0.2", "--to", "production")
    ok("model", "promote", "churn@v0.0.2", "--to", "staging")
    out = ok("model", "rollback", "churn", "--env", "production")
    assert "back from v0.0.2 to v0.0.1 (churn#production#4)" in out
    listed = json.loads(ok("model", "list", "--json"))[0]
    assert listed["environments"] == {"production": "v0.0.1", "staging": "v0.0.2"}
    ok("model", "rollback", "churn", "--env", "production", "--to", "0.0.2")
    nothing = cli("model", "rollback", "churn", "--env", "staging")
    assert nothing.code == 2 and "nothing earlier to go back to than v0.0.2" in nothing.err
    events = json.loads(ok("model", "history", "churn", "--env", "production", "--json"))
    actions = [(e["action"], e["version"]) for e in events if e["action"] != "approve"]
    assert actions == [
        ("register", "v0.0.1"),
        ("promote", "v0.0.1"),
        ("register", "v0.0.2"),
        ("promote", "v0.0.2"),
        ("rollback", "v0.0.1"),
        ("rollback", "v0.0.2"),
    ]
    second = next(e for e in events if e["action"] == "register" and e["version"] == "v0.0.2")
    assert second["changes"][0]["issues"] == ["#41", "CHURN-7"]
    first_promotion = next(e for e in events if e["action"] == "promote")
    assert first_promotion["gates"][1]["summary"] == "1 of 1 approval(s)"
    tags = git(reg, "tag").split()
    assert "churn#production#1" in tags and "churn#production#5" in tags  # nothing moved


def test_history_at_a_date(reg: Path) -> None:
    ok("model", "register", "churn")
    ok("model", "promote", "churn", "--to", "staging")
    out = ok("model", "history", "churn", "--env", "staging", "--at", "2999-01-01")
    assert "staging ran churn v0.0.1: churn#staging#1" in out
    before = ok("model", "history", "churn", "--env", "staging", "--at", "2000-01-01T00:00:00")
    assert "ran nothing" in before
    bad = cli("model", "history", "churn", "--env", "staging", "--at", "yesterday")
    assert bad.code == 2 and "not an ISO 8601" in bad.err


def test_unknown_environment_and_model(reg: Path) -> None:
    ok("model", "register", "churn")
    result = cli("model", "promote", "churn", "--to", "prod")
    assert result.code == 2
    assert (
        "no environment named 'prod' in lockstep.yaml (environments: staging, production)"
        in result.err
    )
    assert cli("model", "history", "nope").code == 2
