"""The data gate checks the exact training data a version recorded against the
model's schema, read at the version's commit."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import cli, git
from tests.registry.conftest import train, write_config, write_data

SCHEMA_ENV = {"staging": {"gates": ["data"]}}


def check(ref: str = "churn") -> tuple[int, dict[str, object]]:
    result = cli("check", ref, "--env", "staging", "--json")
    return result.code, json.loads(result.out)["gates"][0]


def test_data_gate_passes_then_catches_bad_training_data(reg: Path) -> None:
    assert cli("data", "infer-schema", "data/train.csv", "--out", "schema.yaml").code == 0
    write_config(reg, environments=SCHEMA_ENV)
    git(reg, "add", "-A")
    git(reg, "commit", "-qm", "Schema")
    assert cli("model", "register", "churn").code == 0
    code, verdict = check()
    assert code == 0 and verdict["passed"] is True, verdict
    # new training data with a column the schema does not allow
    train_csv = reg / "data" / "train.csv"
    train_csv.unlink()
    train_csv.write_text("x,y\n1,0\n-5,oops\n")
    assert cli("add", "data").code == 0
    train(reg, 2.0, 0.9, "Bad data")
    assert cli("model", "register", "churn").code == 0
    code, verdict = check("churn@v0.0.2")
    assert code == 1 and verdict["passed"] is False
    assert "data/train.csv fail(s) schema.yaml" in str(verdict["summary"])
    failures = verdict["evidence"]["datasets"]["data/train.csv"]["failures"]  # type: ignore[index]
    assert {f["column"] for f in failures} >= {"y"}
    # the old version still passes: its recorded data did not change
    assert check("churn@v0.0.1")[0] == 0


def test_no_schema_fails_with_a_reason(reg: Path) -> None:
    write_config(reg, environments=SCHEMA_ENV, models={"churn": {"path": "models/model.pkl"}})
    git(reg, "add", "-A")
    git(reg, "commit", "-qm", "No schema")
    assert cli("model", "register", "churn").code == 0
    code, verdict = check()
    assert code == 1 and verdict["summary"] == "the model has no 'schema:' in lockstep.yaml"


def test_missing_objects_fail_the_gate_with_a_hint(reg: Path) -> None:
    assert cli("data", "infer-schema", "data/train.csv", "--out", "schema.yaml").code == 0
    write_config(reg, environments=SCHEMA_ENV)
    git(reg, "add", "-A")
    git(reg, "commit", "-qm", "Schema")
    assert cli("model", "register", "churn").code == 0
    import shutil

    shutil.rmtree(reg / ".lockstep" / "cache")
    code, verdict = check()
    assert code == 1 and "could not be evaluated" in str(verdict["summary"])
    assert "missing from the cache" in str(verdict["summary"])
    write_data(reg)  # put the data back for the fixture's teardown to be boring
