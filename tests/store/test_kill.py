"""kill -9 at any moment: every stored object still hashes to its name, and the
next run finishes the job."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import cli, git

pytestmark = pytest.mark.slow
LOCKSTEP = [sys.executable, "-m", "lockstep"]
DELAYS = [0.22, 0.3, 0.38, 0.46, 0.55, 0.7]


def make_data(root: Path) -> None:
    rng = random.Random(7)
    folder = root / "data"
    for i in range(300):
        sub = folder / f"part{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}.bin").write_bytes(rng.randbytes(16_384 + i))
    (root / "big.bin").write_bytes(rng.randbytes(96 << 20))


def assert_objects_sound(blobs: Path) -> int:
    """Every object file under ``blobs`` hashes to its name; return how many."""
    count = 0
    for path in blobs.glob("*/*"):
        if len(path.name) == 64:
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, path
            count += 1
    return count


def run_and_kill(args: list[str], cwd: Path, delay: float) -> None:
    env = {**os.environ, "LOCKSTEP_NO_PROGRESS": "1"}
    proc = subprocess.Popen([*LOCKSTEP, *args], cwd=cwd, env=env, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def finish(cwd: Path, *args: str) -> None:
    done = subprocess.run([*LOCKSTEP, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("link", ["auto", "copy"])
def test_killed_add_leaves_sound_cache_and_rerun_completes(ws: Path, link: str) -> None:
    (ws / ".lockstep" / "config.toml").write_text(f'[cache]\nlink = "{link}"\n')
    make_data(ws)
    for delay in DELAYS:
        run_and_kill(["add", "data", "big.bin"], ws, delay)
        assert_objects_sound(ws / ".lockstep/cache/blobs/sha256")
    finish(ws, "add", "data", "big.bin")
    assert assert_objects_sound(ws / ".lockstep/cache/blobs/sha256") == 302
    assert "Up to date" in cli("status").out


def test_killed_push_and_pull_leave_sound_objects(ws: Path, tmp_path: Path) -> None:
    make_data(ws)
    remote = tmp_path / "remote"
    assert cli("remote", "add", "origin", f"file://{remote}").code == 0
    assert cli("add", "data", "big.bin").code == 0
    for delay in DELAYS:
        run_and_kill(["push", "--jobs", "2"], ws, delay)
        assert_objects_sound(remote / "blobs/sha256")
    finish(ws, "push")
    assert assert_objects_sound(remote / "blobs/sha256") == 302

    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "data")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(ws), str(clone))
    shutil.copy(ws / ".lockstep" / "config.toml", clone / ".lockstep" / "config.toml")
    for delay in DELAYS:
        run_and_kill(["pull", "--jobs", "2"], clone, delay)
        assert_objects_sound(clone / ".lockstep/cache/blobs/sha256")
    finish(clone, "pull")
    assert (clone / "big.bin").read_bytes() == (ws / "big.bin").read_bytes()
    finish(clone, "status")
    assert assert_objects_sound(clone / ".lockstep/cache/blobs/sha256") == 302
