"""Pins the on-disk formats: cache layout, tree objects, pointer files, .gitignore."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import yaml

from tests.conftest import cli


def sha256sum(path: Path) -> str:
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    return out.stdout.split()[0]


def test_file_object_is_named_by_the_digest_sha256sum_prints(ws: Path) -> None:
    (ws / "model.bin").write_bytes(b"weights" * 1000)
    assert cli("add", "model.bin").code == 0
    hexd = sha256sum(ws / "model.bin")
    obj = ws / ".lockstep" / "cache" / "blobs" / "sha256" / hexd[:2] / hexd
    assert obj.read_bytes() == b"weights" * 1000
    pointer = yaml.safe_load((ws / "model.bin.lockstep").read_text())
    assert pointer == {
        "format": "lockstep/pointer@1",
        "path": "model.bin",
        "kind": "file",
        "digest": f"sha256:{hexd}",
        "size": 7000,
    }
    assert "/model.bin" in (ws / ".gitignore").read_text().splitlines()


def test_directory_is_one_canonical_tree_object(ws: Path) -> None:
    data = ws / "data" / "raw"
    (data / "sub").mkdir(parents=True)
    (data / "b.csv").write_text("b\n")
    (data / "sub" / "a.csv").write_text("a\n")
    (data / "run.sh").write_text("#!/bin/sh\n")
    (data / "run.sh").chmod(0o755)
    assert cli("add", "data/raw").code == 0
    pointer = yaml.safe_load((ws / "data" / "raw.lockstep").read_text())
    assert list(pointer) == ["format", "path", "kind", "digest", "size", "files"]
    assert pointer["kind"] == "dir" and pointer["files"] == 3 and pointer["path"] == "raw"
    tree_hex = pointer["digest"].removeprefix("sha256:")
    tree_path = ws / ".lockstep/cache/blobs/sha256" / tree_hex[:2] / tree_hex
    raw = tree_path.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == tree_hex
    tree = json.loads(raw)
    assert raw == json.dumps(tree, sort_keys=True, separators=(",", ":")).encode()
    assert tree["format"] == "lockstep/tree@1"
    assert [e["path"] for e in tree["entries"]] == ["b.csv", "run.sh", "sub/a.csv"]
    assert tree["entries"][1]["mode"] == "0755"
    assert tree["entries"][0] == {
        "digest": "sha256:" + sha256sum(data / "b.csv"),
        "mode": "0644",
        "path": "b.csv",
        "size": 2,
    }
    assert (ws / "data" / ".gitignore").read_text() == "/raw\n"


def test_init_creates_project_file_and_ignores(repo: Path) -> None:
    result = cli("init")
    assert result.code == 0, result.err
    assert yaml.safe_load((repo / "lockstep.yaml").read_text()) == {"version": 1}
    ignore = (repo / ".lockstep" / ".gitignore").read_text().splitlines()
    assert "/*" in ignore and "!/config.toml" in ignore
    (repo / ".lockstep" / "config.local.toml").write_text("")
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".lockstep/config.toml" in status
    assert ".lockstep/.gitignore" in status
    assert "config.local.toml" not in status and "state.db" not in status
    assert cli("init").code == 0  # idempotent


def test_init_outside_git_is_bad_input(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("init")
    assert result.code == 2
    assert "not inside a Git repository" in result.err
    assert not (tmp_path / "lockstep.yaml").exists()
