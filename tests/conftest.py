"""Shared fixtures: a fresh Git repository as a lockstep workspace, the CLI runner."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lockstep.cli.app import run


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.com")
    monkeypatch.setenv("LOCKSTEP_NO_PROGRESS", "1")
    for name in ("LOCKSTEP_DEBUG", "LOCKSTEP_TRACKING_URI", "LOCKSTEP_RUN_ID", "LOCKSTEP_STAGE"):
        monkeypatch.delenv(name, raising=False)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty Git repository, the current directory."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    monkeypatch.chdir(root)
    yield root


@pytest.fixture
def ws(repo: Path) -> Path:
    """A Git repository after ``lockstep init``."""
    assert cli("init").code == 0
    return repo


def cli(*args: str) -> Result:
    """Run the lockstep CLI in-process; capture exit code, stdout and stderr."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(list(args))
    return Result(code, out.getvalue(), err.getvalue())


def lockstep_bin() -> str:
    return os.path.join(os.path.dirname(os.sys.executable), "lockstep")  # type: ignore[attr-defined]


def commit_keys(root: Path) -> None:
    """Commit .lockstep/trusted-keys/: only committed public keys are trusted."""
    git(root, "add", ".lockstep/trusted-keys")
    git(root, "commit", "-qm", "Trust the new key")
