"""The demo loop: each step of the product on generated data, timed."""

from __future__ import annotations

import csv
import io
import random
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from lockstep.cli.app import echo
from lockstep.errors import OperationError
from lockstep.fs import atomic_write_text
from lockstep.project import Project

ENV_GIT = ("-c", "user.name=lockstep demo", "-c", "user.email=demo@lockstep.invalid")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *ENV_GIT, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout


def _write_dataset(folder: Path, rows: int, seed: int) -> None:
    """A small churn-like table split into monthly CSV files.

    Each file is written under a new name and renamed into place, as data tools
    should: a tracked file is a read-only link to its cache object.
    """
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for month in range(1, 4):
        buffer = io.StringIO()
        out = csv.writer(buffer, lineterminator="\n")
        out.writerow(["customer", "tenure", "monthly_charges", "support_calls", "churned"])
        for i in range(rows):
            tenure = rng.randint(1, 72)
            calls = rng.randint(0, 9)
            churn = int(rng.random() < 0.1 + 0.05 * calls - 0.002 * tenure)
            charges = round(rng.uniform(20, 120), 2)
            out.writerow([f"c{month}{i:05d}", tenure, charges, calls, churn])
        atomic_write_text(folder / f"2026-{month:02d}.csv", buffer.getvalue())


class Steps:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def run(self, title: str, action: Callable[[], str | None]) -> None:
        t0 = time.perf_counter()
        detail = action()
        took = time.perf_counter() - t0
        echo(f"  ok  {title:<46} {took:6.2f} s" + (f"   {detail}" if detail else ""))

    def total(self) -> float:
        return time.perf_counter() - self.started


def run_loop(steps: Steps, repo: Path, remote: Path, clone: Path) -> None:
    repo.mkdir()
    state: dict[str, Project] = {}

    def init() -> str:
        git(repo, "init", "-q", "-b", "main")
        state["p"], _ = Project.init(repo)
        return "git init + lockstep init"

    def add_v1() -> str:
        _write_dataset(repo / "data" / "raw", 2000, seed=1)
        [pointer] = state["p"].add([str(repo / "data" / "raw")])
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "Track raw data v1")
        return f"data/raw: {pointer.files} files, sha256:{pointer.digest[:12]}"

    def push_v1() -> str:
        state["p"].remote_add("origin", remote.as_uri(), default=True, options={})
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "Add the origin remote")
        result = state["p"].push(None)
        return f"{len(result.transferred)} objects to {remote.as_uri()}"

    def add_v2() -> str:
        raw = repo / "data" / "raw"
        _write_dataset(raw, 2500, seed=2)
        [pointer] = state["p"].add([str(raw)])
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "Refresh raw data (v2)")
        state["p"].push(None)
        return f"sha256:{pointer.digest[:12]}"

    def diff() -> str:
        changes = state["p"].diff("HEAD~2", "HEAD")
        return ", ".join(f"{c.change} {c.path}" for c in changes)

    def rollback() -> str:
        project = state["p"]
        git(repo, "checkout", "-q", "HEAD~2", "--", "data/raw.lockstep")
        result = project.checkout()
        at_v1 = all(s.clean for s in project.status())
        git(repo, "checkout", "-q", "HEAD", "--", "data/raw.lockstep")
        project.checkout()
        at_v2 = all(s.clean for s in project.status())
        if not (at_v1 and at_v2):
            raise OperationError("the data did not match its pointer after checkout")
        return f"{len(result.written)} files back to v1 and forward to v2, verified"

    def pull() -> str:
        git(repo.parent, "clone", "-q", str(repo), str(clone))
        other = Project.open(clone)
        result = other.pull(None)
        clean = all(s.clean for s in other.status())
        return f"{len(result.checkout.written)} files restored, status clean: {clean}"

    def gc() -> str:
        result = state["p"].gc(all_commits=True)
        return f"removed {len(result.removed)}, kept {result.kept} (every commit's data)"

    steps.run("init a Git repository as a workspace", init)
    steps.run("add a dataset and commit its pointer", add_v1)
    steps.run("push the data to a file:// remote", push_v1)
    steps.run("change the data, add, commit, push", add_v2)
    steps.run("diff the data between commits", diff)
    steps.run("roll the data back to v1 and forward", rollback)
    steps.run("clone the repository and pull the data", pull)
    steps.run("gc keeping every commit's objects", gc)
