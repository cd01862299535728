"""Real local services for tests, started on 127.0.0.1 and stopped by PID.

A service whose binary is absent makes its tests skip with the reason, unless
LOCKSTEP_REQUIRE_SERVICES=1 (set by .ci/run), where it fails the run instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest


def require(binary: str, why: str) -> str:
    """The path of ``binary``, or skip (fail under LOCKSTEP_REQUIRE_SERVICES=1)."""
    found = shutil.which(binary)
    if found is None:
        message = f"{binary} is not installed ({why})"
        if os.environ.get("LOCKSTEP_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


class Service:
    """A process started for a test session and stopped by its PID."""

    def __init__(
        self, argv: Sequence[str], port: int, log: Path, env: dict[str, str] | None = None
    ):
        self.port = port
        self.log = log
        handle = open(log, "wb")
        self.proc = subprocess.Popen(
            list(argv),
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        handle.close()
        try:
            wait_for_port(port, self.proc)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{argv[0]}: {exc}; log: {log.read_text()[-2000:]}") from exc

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
