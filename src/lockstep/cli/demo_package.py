"""The demo's packaging step: push the signed model as an OCI artifact to a
throwaway local registry (Debian's ``docker-registry``) and verify it from there."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from lockstep.deploy.processes import free_port
from lockstep.errors import OperationError
from lockstep.project import Project

CONFIG = """\
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def package_step(repo: Path) -> str:
    binary = shutil.which("docker-registry")
    if binary is None:
        return "skipped: no docker-registry installed (apt-get install docker-registry)"
    with _registry(binary, repo.parent / "registry") as port:
        target = f"oci://127.0.0.1:{port}/demo/churn"
        project = Project.open(repo)
        pushed = project.package().push("churn@v0.0.1", target)
        checked = project.package().verify(f"{target}:v0.0.1")
        if not checked.passed:
            raise OperationError(f"the pushed package did not verify: {checked.failed}")
    return (
        f"{target}:v0.0.1 ({len(pushed.uploads)} layer(s), "
        f"{len(pushed.attestations)} attestation(s)); verified from the registry"
    )


@contextlib.contextmanager
def _registry(binary: str, home: Path) -> Iterator[int]:
    """A registry on 127.0.0.1 for the length of the step, stopped by its PID."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = home / "config.yml"
    config.write_text(CONFIG.format(root=home / "storage", port=port))
    with open(home / "registry.log", "wb") as log:
        proc = subprocess.Popen(
            [binary, "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait(port, proc)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise OperationError(f"docker-registry exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise OperationError("docker-registry did not start listening")
