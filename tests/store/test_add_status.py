"""add and status: hashing, the state database, file-by-file status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockstep.store import build
from tests.conftest import cli


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Spy on every file hash the store computes."""
    calls: list[str] = []
    real = build.hash_file

    def spy(path: str) -> str:
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(build, "hash_file", spy)
    return calls


def make_tree(root: Path, n: int = 5) -> Path:
    folder = root / "data"
    (folder / "nested").mkdir(parents=True)
    for i in range(n):
        (folder / f"f{i}.txt").write_text(f"file {i}\n")
    (folder / "nested" / "deep.txt").write_text("deep\n")
    return folder


def test_readding_unchanged_path_hashes_nothing(ws: Path, hashed: list[str]) -> None:
    make_tree(ws)
    assert cli("add", "data").code == 0
    assert len(hashed) == 6
    hashed.clear()
    assert cli("add", "data").code == 0
    assert cli("status").code == 0
    assert hashed == []


def test_status_reports_each_file(ws: Path, hashed: list[str]) -> None:
    folder = make_tree(ws)
    assert cli("add", "data").code == 0
    hashed.clear()
    (folder / "f1.txt").chmod(0o644)
    (folder / "f1.txt").unlink()  # edits replace the read-only link, as editors do
    (folder / "f1.txt").write_text("changed\n")
    (folder / "f2.txt").unlink()
    (folder / "nested" / "new.txt").write_text("new\n")
    result = cli("status", "--json")
    assert result.code == 0
    [entry] = json.loads(result.out)
    assert entry["state"] == "modified"
    assert entry["modified"] == ["data/f1.txt"]
    assert entry["deleted"] == ["data/f2.txt"]
    assert entry["new"] == ["data/nested/new.txt"]
    assert sorted(hashed) == sorted([str(folder / "f1.txt"), str(folder / "nested" / "new.txt")])
    text = cli("status").out
    assert "modified: data/f1.txt" in text and "deleted:  data/f2.txt" in text


def test_status_clean_and_missing(ws: Path) -> None:
    (ws / "a.bin").write_bytes(b"a")
    assert cli("add", "a.bin").code == 0
    assert "Up to date" in cli("status").out
    (ws / "a.bin").unlink()
    [entry] = json.loads(cli("status", "--json").out)
    assert entry["state"] == "missing"


def test_add_links_without_copying_and_protects_the_object(ws: Path) -> None:
    (ws / "big.bin").write_bytes(b"x" * 100_000)
    assert cli("add", "big.bin").code == 0
    pointer = (ws / "big.bin.lockstep").read_text()
    hexd = pointer.split("sha256:")[1].split()[0]
    obj = ws / ".lockstep/cache/blobs/sha256" / hexd[:2] / hexd
    assert obj.stat().st_ino == (ws / "big.bin").stat().st_ino
    assert obj.stat().st_mode & 0o222 == 0


def test_copy_mode_keeps_workspace_file_independent(ws: Path) -> None:
    (ws / ".lockstep" / "config.toml").write_text('[cache]\nlink = "copy"\n')
    (ws / "a.bin").write_bytes(b"abc")
    assert cli("add", "a.bin").code == 0
    hexd = (ws / "a.bin.lockstep").read_text().split("sha256:")[1].split()[0]
    obj = ws / ".lockstep/cache/blobs/sha256" / hexd[:2] / hexd
    assert obj.stat().st_ino != (ws / "a.bin").stat().st_ino
    assert (ws / "a.bin").stat().st_mode & 0o200


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("nope", "does not exist"),
        ("../outside", "outside the workspace"),
        (".git", "inside .git/"),
        ("lockstep.yaml", "cannot be tracked"),
    ],
)
def test_add_rejects_bad_paths(ws: Path, path: str, message: str) -> None:
    result = cli("add", path)
    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err


def test_add_rejects_overlapping_and_git_tracked_paths(ws: Path) -> None:
    make_tree(ws)
    assert cli("add", "data").code == 0
    result = cli("add", "data/nested")
    assert result.code == 2 and "overlaps the tracked path data" in result.err
    (ws / "code.py").write_text("print()\n")
    from tests.conftest import git

    git(ws, "add", "code.py")
    result = cli("add", "code.py")
    assert result.code == 2 and "tracked by Git" in result.err


def test_commands_need_an_initialized_workspace(repo: Path) -> None:
    result = cli("status")
    assert result.code == 2
    assert "lockstep init" in result.err


def test_damaged_state_database_is_rebuilt(ws: Path, hashed: list[str]) -> None:
    make_tree(ws)
    assert cli("add", "data").code == 0
    (ws / ".lockstep" / "state.db").write_bytes(b"this is not sqlite" * 100)
    for extra in ("-wal", "-shm"):
        (ws / ".lockstep" / f"state.db{extra}").unlink(missing_ok=True)
    hashed.clear()
    result = cli("status")
    assert result.code == 0, result.err
    assert "Up to date" in result.out
    assert len(hashed) == 6  # everything hashed once again, nothing lost
    assert (ws / ".lockstep" / "state.db.damaged").exists()


def test_touching_a_file_rehashes_only_that_file(ws: Path, hashed: list[str]) -> None:
    import os

    folder = make_tree(ws)
    assert cli("add", "data").code == 0
    hashed.clear()
    os.utime(folder / "f3.txt", ns=(1, 1))
    assert "Up to date" in cli("status").out
    assert hashed == [str(folder / "f3.txt")]
    hashed.clear()
    assert "Up to date" in cli("status").out
    assert hashed == []


def test_paths_relative_to_a_subfolder_and_inside_tracked_folders(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_tree(ws)
    monkeypatch.chdir(folder.parent)
    assert cli("add", "data").code == 0
    assert (ws / "data.lockstep").exists()
    monkeypatch.chdir(folder / "nested")
    [entry] = json.loads(cli("status", "--json", "deep.txt").out)
    assert entry["path"] == "data" and entry["state"] == "clean"
    result = cli("status", "../../lockstep.yaml")
    assert result.code == 2 and "not tracked" in result.err
