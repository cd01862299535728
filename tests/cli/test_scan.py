"""``lockstep scan PATH…``: per-file verdicts, findings, JSON, exit codes, the allowlist
from flags and from the workspace config."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import cli
from tests.supplychain.corpus import Reduce, call, global_text, stack_global, text

EVIL = call(global_text("os", "system"), text("true")) + b"."
CUSTOM = b"\x80\x04" + call(stack_global("mypkg.features", "Scale"), text("x")) + b"."


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A plain folder, no Git repository or workspace: scan needs neither."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_safe_model(here: Path) -> None:
    Path("model.pkl").write_bytes(pickle.dumps({"w": np.arange(3.0)}, protocol=5))
    result = cli("scan", "model.pkl")
    assert (result.code, result.err) == (0, "")
    assert result.out == "OK      model.pkl\n1 file(s): 1 safe, 0 unsafe, 0 not inspected\n"


def test_an_unsafe_model_exits_1_with_each_finding(here: Path) -> None:
    Path("models").mkdir()
    Path("models/evil.pkl").write_bytes(EVIL)
    Path("models/also.pkl").write_bytes(pickle.dumps(Reduce(os.system, "true"), protocol=4))
    Path("models/notes.txt").write_text("hello")
    result = cli("scan", "models")
    assert result.code == 1
    assert result.out.splitlines() == [
        "UNSAFE  models/also.pkl",
        "        offset 28: STACK_GLOBAL posix.system: not on the allowlist "
        "(runs commands and touches files)",
        "UNSAFE  models/evil.pkl",
        "        offset 0: GLOBAL os.system: not on the allowlist "
        "(runs commands and touches files)",
        "SKIP    models/notes.txt (not a model format lockstep inspects)",
        "3 file(s): 0 safe, 2 unsafe, 1 not inspected",
    ]
    assert result.err == "error: 2 file(s) unsafe to load: models/also.pkl, models/evil.pkl\n"


def test_json_output(here: Path) -> None:
    Path("evil.pkl").write_bytes(EVIL)
    Path("good.pkl").write_bytes(pickle.dumps([1, 2]))
    result = cli("scan", "good.pkl", "evil.pkl", "--json")
    assert result.code == 1
    data = json.loads(result.out)
    assert data["safe"] is False
    assert data["files"] == ["good.pkl", "evil.pkl"]
    assert data["unsafe"] == ["evil.pkl"]
    assert data["findings"] == [
        {
            "file": "evil.pkl",
            "where": "offset 0",
            "kind": "import",
            "detail": "GLOBAL os.system: not on the allowlist (runs commands and touches files)",
            "opcode": "GLOBAL",
            "name": "os.system",
        }
    ]


def test_bad_input_exits_2(here: Path) -> None:
    missing = cli("scan", "nope.pkl")
    assert missing.code == 2
    assert missing.err == "error: nope.pkl: does not exist\n"
    Path("model.pkl").write_bytes(CUSTOM)
    bad_allow = cli("scan", "model.pkl", "--allow", "not a name")
    assert bad_allow.code == 2
    assert "is not a dotted name" in bad_allow.err


def test_allow_on_the_command_line(here: Path) -> None:
    Path("model.pkl").write_bytes(CUSTOM)
    assert cli("scan", "model.pkl").code == 1
    assert cli("scan", "model.pkl", "--allow", "mypkg.features").code == 0
    assert cli("scan", "model.pkl", "--allow", "mypkg.features.Scale").code == 0
    assert cli("scan", "model.pkl", "--allow", "mypkg.other").code == 1


def test_allow_in_the_workspace_config(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("model.pkl").write_bytes(CUSTOM)
    assert cli("scan", "model.pkl").code == 1
    config = ws / ".lockstep" / "config.toml"
    config.write_text(config.read_text() + '\n[scan]\nallow = ["mypkg.features.Scale"]\n')
    Path("sub").mkdir()
    monkeypatch.chdir("sub")
    assert cli("scan", "../model.pkl").code == 0
    config.write_text(config.read_text().replace('["mypkg.features.Scale"]', '"mypkg"'))
    broken = cli("scan", "../model.pkl")
    assert broken.code == 2
    assert "scan.allow: must be a list of dotted names" in broken.err
