"""Checks a new deployment must pass before it takes traffic: readiness, then the
environment's smoke requests (status and output shape), then its integration
command run with ``LOCKSTEP_ENDPOINT`` pointing at the new server."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lockstep.deploy import processes
from lockstep.registry.smoke import SmokeRequest, SmokeSpec


@dataclass(frozen=True)
class Outcome:
    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "passed": self.passed, "detail": self.detail}


def wait_ready(endpoint: str, pid: int, log: Path, timeout: float, token: str | None) -> Outcome:
    """Poll ``/v2/health/ready`` until it answers 200, the process dies or time is up."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, headers=_auth(token)) as client:
        while time.monotonic() < deadline:
            if not processes.alive(pid):
                return Outcome("ready", False, f"the server exited: {processes.tail(log)}")
            try:
                if client.get(f"{endpoint}/v2/health/ready").status_code == 200:
                    return Outcome("ready", True, f"{endpoint}/v2/health/ready answered 200")
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    return Outcome("ready", False, f"not ready after {timeout:g} s: {processes.tail(log)}")


def identity(endpoint: str, model: str, version: str, digest: str, token: str | None) -> Outcome:
    """The new server serves this model, version and digest (and not, say, a file
    that happened to bear the reference's name)."""
    try:
        answer = httpx.get(f"{endpoint}/v2/models/{model}", headers=_auth(token), timeout=5.0)
        found = answer.json()
    except (httpx.HTTPError, ValueError):
        return Outcome("identity", False, f"{endpoint}/v2/models/{model} did not answer JSON")
    versions = found.get("versions") if isinstance(found, dict) else None
    served = (found.get("parameters") or {}).get("digest") if isinstance(found, dict) else None
    if answer.status_code == 200 and version in (versions or []) and served == digest:
        return Outcome("identity", True, f"{model} v{version}, sha256:{digest[:12]}")
    detail = (
        f"serves {model} {versions} sha256:{str(served)[:12]}, not v{version} sha256:{digest[:12]}"
    )
    return Outcome("identity", False, detail)


def smoke(
    spec: SmokeSpec, endpoint: str, root: Path, token: str | None, extra_env: dict[str, str]
) -> list[Outcome]:
    found = []
    with httpx.Client(timeout=30.0, headers=_auth(token)) as client:
        for i, request in enumerate(spec.requests):
            found.append(_request(client, endpoint, root, request, f"smoke request {i + 1}"))
    if spec.command:
        found.append(_command(spec, endpoint, root, token, extra_env))
    return found


def _request(
    client: httpx.Client, endpoint: str, root: Path, request: SmokeRequest, name: str
) -> Outcome:
    try:
        body = _body(root, request)
    except (OSError, ValueError) as exc:
        return Outcome(name, False, f"cannot read {request.body_file}: {exc}")
    try:
        answer = client.post(f"{endpoint}{request.path}", json=body)
    except httpx.HTTPError as exc:
        return Outcome(name, False, f"POST {request.path}: {exc}")
    if answer.status_code != request.status:
        detail = f"POST {request.path} answered {answer.status_code}, expected {request.status}"
        return Outcome(name, False, f"{detail}: {answer.text[:200]}")
    if request.shape is None:
        return Outcome(name, True, f"POST {request.path} answered {answer.status_code}")
    return _shape_check(name, request, answer)


def _body(root: Path, request: SmokeRequest) -> Any:
    if request.body_file is None:
        return request.body
    return json.loads((root / request.body_file).read_text(encoding="utf-8"))


def _shape_check(name: str, request: SmokeRequest, answer: httpx.Response) -> Outcome:
    try:
        shape = output_shape(answer.json())
    except ValueError:
        return Outcome(name, False, f"POST {request.path} did not answer JSON")
    expected = list(request.shape or ())
    if shape != expected:
        return Outcome(name, False, f"the output has shape {shape}, expected {expected}")
    return Outcome(name, True, f"POST {request.path}: 200, output shape {shape}")


def output_shape(payload: Any) -> list[int] | None:
    """The shape of MLflow's ``predictions`` or the first OIP output."""
    if isinstance(payload, dict) and "predictions" in payload:
        return _nested_shape(payload["predictions"])
    if isinstance(payload, dict) and isinstance(payload.get("outputs"), list):
        first = payload["outputs"][0] if payload["outputs"] else {}
        shape = first.get("shape") if isinstance(first, dict) else None
        return [int(n) for n in shape] if isinstance(shape, list) else None
    return None


def _nested_shape(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def _command(
    spec: SmokeSpec, endpoint: str, root: Path, token: str | None, extra_env: dict[str, str]
) -> Outcome:
    env = {**os.environ, **extra_env, "LOCKSTEP_ENDPOINT": endpoint}
    if token:
        env["LOCKSTEP_SERVE_TOKEN"] = token
    name = f"command {spec.command}"
    proc = subprocess.Popen(
        spec.command or "",
        shell=True,
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its children are stopped with it on a timeout
    )
    try:
        out, err = proc.communicate(timeout=spec.timeout)
    except subprocess.TimeoutExpired:
        processes.stop(proc.pid, grace=2.0)
        proc.communicate()
        return Outcome(name, False, f"did not finish in {spec.timeout:g} s")
    except BaseException:
        processes.stop(proc.pid, grace=2.0)
        raise
    if proc.returncode == 0:
        return Outcome(name, True, "exited 0")
    tail = " | ".join((err or out).strip().splitlines()[-5:])
    return Outcome(name, False, f"exited {proc.returncode}: {tail}")


def _auth(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}
