"""model register, list and show: versions as annotated tags with their lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockstep.errors import ConfigError
from lockstep.registry.spec import parse_environments, parse_models
from tests.conftest import cli, git
from tests.registry.conftest import train


def register(*args: str) -> dict[str, object]:
    result = cli("model", "register", *args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_register_writes_an_annotated_tag_with_the_lineage(reg: Path) -> None:
    found = register("churn")
    assert found["tag"] == "churn@v0.0.1"
    assert found["flavor"] == "pickle" and found["stage"] == "train"
    assert found["metrics"] == {"f1": 0.8, "loss": pytest.approx(0.2)}
    assert found["params"] == {"train.w": 1.0}
    assert set(found["inputs"]) == {"data/train.csv"}
    assert found["evaluation"]["data"].keys() == {"data/eval.csv"}
    assert found["actor"] == "Test <test@example.com>"
    assert git(reg, "cat-file", "-t", "churn@v0.0.1").strip() == "tag"
    head = git(reg, "rev-parse", "HEAD").strip()
    assert git(reg, "rev-parse", "churn@v0.0.1^{commit}").strip() == head
    message = git(reg, "tag", "-l", "--format=%(contents)", "churn@v0.0.1")
    body = json.loads(message[message.index("{") :])
    assert body["format"] == "lockstep/registry@1" and body["digest"] == found["digest"]
    sha = git(reg, "hash-object", "models/model.pkl").strip()
    assert sha  # the digest is sha256 of the bytes, as sha256sum prints
    import hashlib

    digest = hashlib.sha256((reg / "models" / "model.pkl").read_bytes()).hexdigest()
    assert found["digest"] == f"sha256:{digest}"


def test_versions_bump_the_patch_and_refuse_duplicates(reg: Path) -> None:
    assert register("churn")["tag"] == "churn@v0.0.1"
    again = cli("model", "register", "churn")
    assert again.code == 2 and "already holds churn@v0.0.1" in again.err
    train(reg, 2.0, 0.85, "Second model")
    assert register("churn")["tag"] == "churn@v0.0.2"
    train(reg, 3.0, 0.86, "Third model")
    taken = cli("model", "register", "churn", "--version", "0.0.2")
    assert taken.code == 2 and "churn@v0.0.2 is registered already" in taken.err
    assert register("churn", "--version", "1.0.0")["tag"] == "churn@v1.0.0"
    bad = cli("model", "register", "churn", "--version", "1.0")
    assert bad.code == 2 and "is not X.Y.Z" in bad.err


def test_the_model_must_be_committed_and_unchanged(reg: Path) -> None:
    target = reg / "models" / "model.pkl"
    target.unlink()
    target.write_bytes(b"\x80\x04changed")
    result = cli("model", "register", "churn")
    assert result.code == 2 and "differs from what HEAD records" in result.err
    (reg / "other.bin").write_bytes(b"x")
    result = cli("model", "register", "other", "--path", "other.bin")
    assert result.code == 2 and "is not tracked in HEAD" in result.err
    assert git(reg, "tag").strip() == ""


def test_list_and_show(reg: Path) -> None:
    register("churn")
    train(reg, 2.0, 0.9, "Second model")
    register("churn")
    assert cli("model", "promote", "churn@v0.0.1", "--to", "staging").code == 0
    listed = json.loads(cli("model", "list", "--json").out)
    assert listed == [
        {
            "model": "churn",
            "latest": "v0.0.2",
            "versions": ["v0.0.1", "v0.0.2"],
            "environments": {"staging": "v0.0.1"},
        }
    ]
    assert json.loads(cli("model", "show", "churn", "--json").out)["version"] == "v0.0.2"
    staged = json.loads(cli("model", "show", "churn#staging", "--json").out)
    assert staged["version"] == "v0.0.1" and staged["environments"] == ["staging"]
    assert "f1" in cli("model", "show", "churn@v0.0.2").out
    missing = cli("model", "show", "churn#production")
    assert missing.code == 2 and "runs no version of churn" in missing.err
    assert cli("model", "show", "nope").code == 2


@pytest.mark.parametrize(
    ("section", "body", "field", "problem"),
    [
        (
            "environments",
            {"prod": {"gates": ["sacn"]}},
            "environments.prod.gates[0]",
            "unknown gate 'sacn'",
        ),
        (
            "environments",
            {"prod": {"gates": [{"champion": {}}]}},
            "environments.prod.gates[0].champion.metric",
            "is required",
        ),
        (
            "environments",
            {"prod": {"gates": [{"champion": {"metric": "f1", "margin": 1}}]}},
            "environments.prod.gates[0].champion.margin",
            "unknown option",
        ),
        (
            "environments",
            {"prod": {"gates": [{"approval": {"count": 0}}]}},
            "environments.prod.gates[0].approval.count",
            "not valid",
        ),
        (
            "environments",
            {"prod": {"gates": [{"champion": {"metric": "f1", "direction": "up"}}]}},
            "environments.prod.gates[0].champion.direction",
            "not valid",
        ),
        ("environments", {"pr od": {}}, "environments.pr od", "environment name"),
        ("models", {"churn": {}}, "models.churn.path", "relative path"),
        (
            "models",
            {"churn": {"path": "m.pkl", "flavour": "x"}},
            "models.churn.flavour",
            "unknown field",
        ),
    ],
)
def test_bad_models_and_environments(
    section: str, body: dict[str, object], field: str, problem: str
) -> None:
    parse = parse_environments if section == "environments" else parse_models
    with pytest.raises(ConfigError) as caught:
        parse(body)
    assert caught.value.field == field
    assert problem in caught.value.problem


def test_bad_gate_through_the_cli_names_environment_and_gate(reg: Path) -> None:
    from tests.registry.conftest import write_config

    write_config(reg, environments={"production": {"gates": ["data", {"aproval": {"count": 1}}]}})
    register("churn")
    result = cli("check", "churn", "--env", "production")
    assert result.code == 2
    assert result.err.splitlines() == [
        "error: lockstep.yaml: environments.production.gates[1]: unknown gate 'aproval' "
        "(known: data, champion, approval, scan, signature)"
    ]
