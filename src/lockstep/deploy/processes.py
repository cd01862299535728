"""Background processes of local deployments: start detached, tell alive, stop
gracefully (SIGTERM to the process group, SIGKILL after a grace period)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def start(command: Sequence[str], cwd: Path, log: Path, env: Mapping[str, str]) -> int:
    """Start ``command`` in a session of its own, output appended to ``log``; its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(command),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )
    _REAPED[proc.pid] = proc
    return proc.pid


# Children this process started: polled so they never linger as zombies.
_REAPED: dict[int, subprocess.Popen[bytes]] = {}


def started(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, from /proc): with the pid, it
    tells a process apart from a later one that reused its number."""
    fields = _stat(pid)
    return fields[19] if fields else None


def alive(pid: int | None, since: str | None = None) -> bool:
    """``pid`` runs (and, given ``since``, is the process that started then)."""
    if not pid:
        return False
    child = _REAPED.get(pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat(pid)
    if fields is None:
        return True  # no /proc to ask: the signal said it runs
    if since is not None and fields[19] != since:
        return False
    return fields[0] != "Z"  # a zombie has ended


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name: state first."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields if len(fields) > 19 else None


def stop(pid: int | None, grace: float = 30.0, since: str | None = None) -> bool:
    """SIGTERM the process group of ``pid``, SIGKILL it after ``grace`` seconds; True
    when something was running. With ``since``, a process that merely reuses the pid
    is left alone."""
    if not alive(pid, since):
        return False
    assert pid is not None
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid, since) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid, since):
        _signal(pid, signal.SIGKILL)
        while alive(pid, since):
            time.sleep(0.02)
    return True


def hangup(pid: int, since: str | None = None) -> bool:
    """SIGHUP ``pid`` when it is the process that started at ``since``."""
    if not alive(pid, since):
        return False
    os.kill(pid, signal.SIGHUP)
    return True


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group ``pid`` leads (a server and its workers)."""
    _signal(pid, sig)


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(line for line in text.strip().splitlines()[-lines:] if line.strip())
