"""checkout (rollback of data), diff between revisions, gc."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import cli, git


def commit(ws: Path, message: str) -> None:
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", message)


def replace(path: Path, text: str) -> None:
    path.unlink()
    path.write_text(text)


def two_versions(ws: Path) -> Path:
    data = ws / "data"
    data.mkdir()
    (data / "a.csv").write_text("a1\n")
    (data / "b.csv").write_text("b1\n")
    assert cli("add", "data").code == 0
    commit(ws, "v1")
    replace(data / "a.csv", "a2\n")
    (data / "b.csv").unlink()
    (data / "c.csv").write_text("c2\n")
    assert cli("add", "data").code == 0
    commit(ws, "v2")
    return data


def test_git_checkout_then_lockstep_checkout_rolls_data_back(ws: Path) -> None:
    data = two_versions(ws)
    git(ws, "checkout", "-q", "HEAD~1")
    assert cli("status", "--json").code == 0
    result = cli("checkout")
    assert result.code == 0, result.err
    assert sorted(p.name for p in data.iterdir()) == ["a.csv", "b.csv"]
    assert (data / "a.csv").read_text() == "a1\n"
    assert "Up to date" in cli("status").out
    git(ws, "checkout", "-q", "main")
    assert cli("checkout").code == 0
    assert sorted(p.name for p in data.iterdir()) == ["a.csv", "c.csv"]
    assert (data / "a.csv").read_text() == "a2\n"


def test_checkout_restores_deleted_and_is_noop_when_clean(ws: Path) -> None:
    (ws / "m.bin").write_bytes(b"model")
    assert cli("add", "m.bin").code == 0
    (ws / "m.bin").unlink()
    assert cli("checkout").code == 0
    assert (ws / "m.bin").read_bytes() == b"model"
    assert "Nothing to do" in cli("checkout").out


def test_checkout_never_destroys_unsaved_changes(ws: Path) -> None:
    data = two_versions(ws)
    (data / "unsaved.csv").write_text("precious\n")
    result = cli("checkout")
    assert result.code == 1
    assert "unsaved.csv" in result.err
    assert (data / "unsaved.csv").read_text() == "precious\n"
    assert cli("checkout", "--force").code == 0
    assert not (data / "unsaved.csv").exists()


def test_checkout_with_missing_objects_changes_nothing(ws: Path) -> None:
    (ws / "m.bin").write_bytes(b"model")
    assert cli("add", "m.bin").code == 0
    assert cli("gc").code == 0
    (ws / "m.bin").unlink()
    hexd = (ws / "m.bin.lockstep").read_text().split("sha256:")[1].split()[0]
    (ws / ".lockstep/cache/blobs/sha256" / hexd[:2] / hexd).unlink()
    result = cli("checkout")
    assert result.code == 1
    assert "missing from the cache" in result.err and "m.bin" in result.err
    assert "lockstep pull" in result.err


def test_diff_between_revisions_and_workspace(ws: Path) -> None:
    data = two_versions(ws)
    result = cli("diff", "HEAD~1", "HEAD", "--json")
    assert result.code == 0, result.err
    changes = {c["path"]: c["change"] for c in json.loads(result.out)}
    assert changes == {"data/a.csv": "modified", "data/b.csv": "deleted", "data/c.csv": "added"}
    replace(data / "c.csv", "c3\n")
    changes = {c["path"]: c["change"] for c in json.loads(cli("diff", "--json").out)}
    assert changes == {"data/c.csv": "modified"}
    assert "No changes" in cli("diff", "HEAD", "HEAD").out
    bad = cli("diff", "no-such-rev")
    assert bad.code == 2 and "no-such-rev" in bad.err


def test_gc_keeps_referenced_objects(ws: Path) -> None:
    two_versions(ws)
    before = cli("gc", "--all-commits", "--dry-run", "--json")
    assert json.loads(before.out)["removed"] == 0
    result = json.loads(cli("gc", "--json").out)
    assert result["removed"] == 3  # v1: its tree, a1 and b1
    assert "Up to date" in cli("status").out
    git(ws, "checkout", "-q", "HEAD~1")
    assert cli("checkout").code == 1  # the old version's objects are gone


def test_gc_all_commits_keeps_history(ws: Path) -> None:
    two_versions(ws)
    result = json.loads(cli("gc", "--all-commits", "--json").out)
    assert result["removed"] == 0
    git(ws, "checkout", "-q", "HEAD~1")
    assert cli("checkout").code == 0


def test_temp_files_of_a_killed_command_are_not_data(ws: Path) -> None:
    data = two_versions(ws)
    leftover = data / ".a.csv.0123456789ab.lockstep-tmp"
    leftover.write_text("half a checkout")
    assert "Up to date" in cli("status").out
    git(ws, "checkout", "-q", "HEAD~1")
    result = cli("checkout")
    assert result.code == 0, result.err
    assert (data / "a.csv").read_text() == "a1\n"
