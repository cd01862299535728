"""The tools under test, driven through their command lines.

Every measured figure is the wall-clock time of one whole CLI process (start-up
included), as a user sees it. Set-up steps (``git init``, ``init``, ``remote
add``, commits) run untimed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
LOCKSTEP = PROJECT / ".venv" / "bin" / "lockstep"
DVC_VENV = HERE / ".venv-dvc"
DVC = DVC_VENV / "bin" / "dvc"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


class CommandError(RuntimeError):
    pass


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_ENV)
    env.update({"LOCKSTEP_NO_PROGRESS": "1", "DVC_NO_ANALYTICS": "1"})
    env.pop("LOCKSTEP_DEBUG", None)
    return env


def use_bytecode_cache(prefix: Path) -> None:
    """Let both tools start as they do for a user: from compiled bytecode.

    Some environments set PYTHONDONTWRITEBYTECODE, so a package whose sources
    change (an editable install being worked on) would be compiled again by every
    command. The benchmark writes bytecode for both tools under ``prefix`` instead
    (nothing is written beside the sources) and warms it up before timing.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(prefix)


def keep_dvc_state_in(folder: Path) -> None:
    """DVC keeps per-repository state and indexes in a site cache dir (/var/tmp/dvc
    by default); put it in the run's temp folder so the clean-up removes it too."""
    os.environ["DVC_SITE_CACHE_DIR"] = str(folder)


def run(cmd: list[str], cwd: str | Path, env: dict[str, str] | None = None) -> str:
    """Run a set-up command; its stdout, or CommandError with its stderr."""
    done = subprocess.run(
        cmd, cwd=cwd, env=env or base_env(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise CommandError(f"{' '.join(cmd)} (in {cwd}) exited {done.returncode}:\n{done.stderr}")
    return done.stdout


def timed(cmd: list[str], cwd: str | Path, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall-clock seconds of the whole process, and its stdout."""
    start = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=cwd, env=env or base_env(), capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise CommandError(
            f"{' '.join(cmd)} (in {cwd}) exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return elapsed, done.stdout


def git_repo(path: Path) -> None:
    path.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], path)


def git_commit(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "--allow-empty", "-m", message], repo)


@dataclass
class Tool:
    """A data-versioning CLI: how to set up a repository and what to time."""

    name: str
    exe: Path
    env: dict[str, str] = field(default_factory=base_env)

    def cmd(self, *args: str) -> list[str]:
        return [str(self.exe), *args]

    def init(self, repo: Path) -> None:
        raise NotImplementedError

    def add(self, target: str) -> list[str]:
        raise NotImplementedError

    def status(self) -> list[str]:
        raise NotImplementedError

    def check_clean(self, stdout: str) -> None:
        """Raise if a no-op status reported changes."""

    def remote_add(self, repo: Path, remote_dir: Path) -> None:
        raise NotImplementedError

    def push(self) -> list[str]:
        raise NotImplementedError

    def version(self) -> str:
        return run(self.cmd("--version"), PROJECT, self.env).strip()


class Lockstep(Tool):
    def __init__(self) -> None:
        super().__init__("lockstep", LOCKSTEP)

    def init(self, repo: Path) -> None:
        run(self.cmd("init"), repo, self.env)

    def add(self, target: str) -> list[str]:
        return self.cmd("add", target)

    def status(self) -> list[str]:
        return self.cmd("status")

    def check_clean(self, stdout: str) -> None:
        if "Up to date" not in stdout:
            raise CommandError(f"lockstep status is not clean after add:\n{stdout}")

    def remote_add(self, repo: Path, remote_dir: Path) -> None:
        run(self.cmd("remote", "add", "bench", remote_dir.as_uri()), repo, self.env)

    def push(self) -> list[str]:
        return self.cmd("push")


class Dvc(Tool):
    def __init__(self) -> None:
        super().__init__("dvc", DVC)

    def init(self, repo: Path) -> None:
        run(self.cmd("init", "-q"), repo, self.env)
        # no network and no background updater during the timed commands; the cache
        # type (reflink,copy) and everything else stay DVC's defaults
        run(self.cmd("config", "core.analytics", "false"), repo, self.env)
        run(self.cmd("config", "core.check_update", "false"), repo, self.env)

    def add(self, target: str) -> list[str]:
        return self.cmd("add", "--quiet", target)

    def status(self) -> list[str]:
        # with --quiet, dvc status exits 1 when anything changed
        return self.cmd("status", "--quiet")

    def remote_add(self, repo: Path, remote_dir: Path) -> None:
        run(self.cmd("remote", "add", "-d", "bench", str(remote_dir)), repo, self.env)

    def push(self) -> list[str]:
        return self.cmd("push", "--quiet")


def ensure_dvc(spec: str = "dvc") -> None:
    """Create ``benchmarks/.venv-dvc`` with DVC from PyPI unless it works already."""
    if DVC.exists():
        try:
            run([str(DVC), "--version"], PROJECT)
            return
        except CommandError:
            pass
    print(f"installing {spec} into {DVC_VENV} ...", file=sys.stderr, flush=True)
    python = DVC_VENV / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", str(DVC_VENV)], PROJECT)
    run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], PROJECT)
    run([str(python), "-m", "pip", "install", "--quiet", spec], PROJECT)


def rmtree(path: Path) -> None:
    """Remove a tree even where tools left read-only folders behind."""

    def make_writable(func, target, _exc):  # type: ignore[no-untyped-def]
        parent = os.path.dirname(target)
        os.chmod(parent, 0o755)
        if os.path.isdir(target) and not os.path.islink(target):
            os.chmod(target, 0o755)
        func(target)

    if path.exists():
        shutil.rmtree(path, onerror=make_writable)
