"""The file:// remote: push and pull only what is missing, verified, resumable."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import cli, git


@pytest.fixture
def pushed(ws: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A workspace with a folder and a file pushed to a file:// remote."""
    remote = tmp_path / "remote"
    (ws / "data").mkdir()
    for i in range(20):
        (ws / "data" / f"{i}.csv").write_text(f"row {i}\n" * (i + 1))
    (ws / "model.bin").write_bytes(b"\x00\x01" * 5000)
    assert cli("remote", "add", "origin", f"file://{remote}").code == 0
    assert cli("add", "data", "model.bin").code == 0
    result = cli("push", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"failed": {}, "skipped": 0, "transferred": 22}
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "data")
    return ws, remote


def model_paths(other: Path, remote: Path) -> tuple[str, Path, Path]:
    """The model's digest, its object on the remote, and its partial download in ``other``."""
    hexd = (other / "model.bin.lockstep").read_text().split("sha256:")[1].split()[0]
    partial = other / ".lockstep/cache/blobs/sha256" / hexd[:2] / (hexd + ".incomplete")
    return hexd, remote / "blobs/sha256" / hexd[:2] / hexd, partial


def clone(ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(ws), str(target))
    monkeypatch.chdir(target)
    return target


def test_remote_mirrors_cache_names(pushed: tuple[Path, Path]) -> None:
    ws, remote = pushed
    names = sorted(p.name for p in (remote / "blobs" / "sha256").glob("*/*"))
    cached = sorted(p.name for p in (ws / ".lockstep/cache/blobs/sha256").glob("*/*"))
    assert names == cached and len(names) == 22
    for path in (remote / "blobs" / "sha256").glob("*/*"):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
        assert path.parent.name == path.name[:2]


def test_second_push_moves_nothing(pushed: tuple[Path, Path]) -> None:
    result = cli("push")
    assert result.code == 0
    assert "0 object(s) transferred, 22 already there" in result.out


def test_pull_in_a_clone_restores_bytes(
    pushed: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, _ = pushed
    other = clone(ws, tmp_path, monkeypatch)
    assert not (other / "data").exists()
    result = cli("pull")
    assert result.code == 0, result.err
    assert (other / "model.bin").read_bytes() == (ws / "model.bin").read_bytes()
    assert sorted(p.name for p in (other / "data").iterdir()) == sorted(
        p.name for p in (ws / "data").iterdir()
    )
    assert "Up to date" in cli("status").out
    again = cli("pull", "--json")
    assert json.loads(again.out)["transferred"] == 0


def test_fetch_resumes_a_partial_download(
    pushed: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, remote = pushed
    hexd, source, partial = model_paths(clone(ws, tmp_path, monkeypatch), remote)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(source.read_bytes()[:3000])
    assert cli("fetch", "model.bin").code == 0
    assert not partial.exists()
    obj = partial.with_name(hexd)
    assert hashlib.sha256(obj.read_bytes()).hexdigest() == hexd


def test_corrupt_remote_object_never_lands(
    pushed: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, remote = pushed
    other = clone(ws, tmp_path, monkeypatch)
    hexd, bad, _ = model_paths(other, remote)
    bad.chmod(0o644)
    bad.write_bytes(b"not the model")
    result = cli("pull")
    assert result.code == 1
    assert "corrupt" in result.err
    assert not (other / ".lockstep/cache/blobs/sha256" / hexd[:2] / hexd).exists()
    assert not (other / "model.bin").exists()


def test_missing_remote_objects_are_reported(
    pushed: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, remote = pushed
    clone(ws, tmp_path, monkeypatch)
    shutil.rmtree(remote / "blobs")
    result = cli("pull")
    assert result.code == 1
    assert "missing from remote origin" in result.err


def test_remote_commands(ws: Path, tmp_path: Path) -> None:
    assert cli("push").code == 2  # no remote yet
    assert cli("remote", "add", "a", f"file://{tmp_path}/a").code == 0
    assert cli("remote", "add", "b", f"file://{tmp_path}/b").code == 0
    listed = json.loads(cli("remote", "list", "--json").out)
    assert [(r["name"], r["default"]) for r in listed] == [("a", True), ("b", False)]
    assert cli("remote", "default", "b").code == 0
    assert "* b" in cli("remote", "list").out
    bad = cli("remote", "add", "c", "ftp://nowhere")
    assert bad.code == 2 and "ftp://nowhere" in bad.err
    assert cli("remote", "add", "a", f"file://{tmp_path}/x").code == 2
    assert cli("push", "-r", "zzz").code == 2
    assert cli("remote", "remove", "b").code == 0
    assert [r["name"] for r in json.loads(cli("remote", "list", "--json").out)] == ["a"]


def test_secrets_go_to_the_local_config(ws: Path) -> None:
    from lockstep.project import Project

    project = Project.open(ws)
    project.remote_add(
        "s3", "s3://bucket/prefix", default=True, options={"secret_access_key": "hunter2"}
    )
    assert "hunter2" not in (ws / ".lockstep" / "config.toml").read_text()
    assert "hunter2" in (ws / ".lockstep" / "config.local.toml").read_text()
    assert Project.open(ws).config.remote["s3"].secret_access_key == "hunter2"


def test_fetch_publishes_a_verified_download_left_by_an_interrupted_run(
    pushed: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, remote = pushed
    hexd, source, partial = model_paths(clone(ws, tmp_path, monkeypatch), remote)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(source.read_bytes())
    partial.chmod(0o444)  # downloaded and verified, killed before the rename
    assert cli("fetch", "model.bin").code == 0
    obj = partial.with_name(hexd)
    assert hashlib.sha256(obj.read_bytes()).hexdigest() == hexd
    assert not partial.exists()


def test_many_rounds_publish_every_object_once(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rounds of 3 objects in batches of 1: each round is published while the next is
    written; every object ends under its name, whole, and no temp file is left."""
    from lockstep.store import transfer

    monkeypatch.setattr(transfer, "ROUND_OBJECTS", 3)
    monkeypatch.setattr(transfer, "BATCH_OBJECTS", 1)
    remote = tmp_path / "remote"
    (ws / "data").mkdir()
    for i in range(40):
        (ws / "data" / f"{i}.txt").write_text(f"file {i}\n" * (i + 1))
    assert cli("remote", "add", "origin", f"file://{remote}").code == 0
    assert cli("add", "data").code == 0
    result = cli("push", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["transferred"] == 41
    stored = list((remote / "blobs" / "sha256").glob("*/*"))
    assert len(stored) == 41
    assert all(hashlib.sha256(p.read_bytes()).hexdigest() == p.name for p in stored)
    assert not [p for p in remote.rglob("*") if p.name.startswith(".")]
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "data")
    other = clone(ws, tmp_path, monkeypatch)
    assert cli("pull").code == 0
    assert all(
        (other / "data" / f"{i}.txt").read_text() == f"file {i}\n" * (i + 1) for i in range(40)
    )
