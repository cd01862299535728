"""Facts about the process a run comes from: Python, platform, packages, Git, user.

Each is read once per process: a script's code and packages are what they were
when it started, so a sweep of a thousand runs asks Git and the package
metadata only once.
"""

from __future__ import annotations

import functools
import getpass
import importlib.metadata
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockstep import git
from lockstep.errors import GitError


@dataclass(frozen=True)
class GitState:
    commit: str | None
    dirty: bool | None


def environment_info() -> dict[str, Any]:
    """``{"python": "3.11.7", "implementation": "CPython", "platform": "Linux-…",
    "packages": {name: version}}`` of this process (read once, a fresh copy each call)."""
    info = _environment()
    return {**info, "packages": dict(info["packages"])}


@functools.cache
def _environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "packages": _packages(),
    }


def _packages() -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.name
        if name:
            found.setdefault(name.lower(), dist.version)
    return dict(sorted(found.items()))


@functools.cache
def current_user(cwd: Path) -> str | None:
    """The Git identity (``Name <email>``) around ``cwd``, else the login name."""
    try:
        identity = git.identity(cwd)
    except GitError:
        identity = None
    return identity or _login()


def _login() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no password entry (some containers)
        return None


@functools.cache
def git_state(cwd: Path) -> GitState:
    """The commit checked out around ``cwd`` and whether tracked files differ from it;
    both None outside a Git repository or before its first commit."""
    commit = git.head(cwd)
    if commit is None:
        return GitState(None, None)
    try:
        return GitState(commit, git.is_dirty(cwd))
    except GitError:
        return GitState(commit, None)
