"""The ``local`` target: a model server in the background, behind a router that owns
the environment's port, switched blue-green.

A deployment lives in ``.lockstep/deploy/NAME/ENV/``: ``state.json`` (format
``lockstep/deployment@1``: the router, the live server, the last switches),
``upstream.json`` (what the router forwards to) and the servers' logs. A deploy:

1. starts the new version's server on a free port beside the one serving now;
2. waits for ``/v2/health/ready``, sends the environment's smoke requests and runs
   its integration command against the new server only;
3. on success points the router at it (SIGHUP) and stops the old server, which
   finishes its in-flight requests first; on failure stops the new server and
   leaves the old one serving.

One deploy per environment at a time (a file lock); state writes are atomic.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lockstep import fs
from lockstep.deploy import checks, processes
from lockstep.deploy.checks import Outcome
from lockstep.errors import DeployError, FileFormatError
from lockstep.registry.smoke import SmokeSpec

FORMAT = "lockstep/deployment@1"
FOLDER = ".lockstep/deploy"
READY_TIMEOUT = 120.0
HISTORY = 20
DRAIN_SECONDS = 0.5


@dataclass(frozen=True)
class Target:
    """What to deploy, where, and how to start its server."""

    model: str
    env: str
    version: str
    digest: str
    host: str
    port: int
    command: Sequence[str]  # the server's command line, without --host/--port
    smoke: SmokeSpec = field(default_factory=SmokeSpec)
    token: str | None = None
    env_vars: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Deployed:
    target: Target
    passed: bool
    checks: tuple[Outcome, ...]
    previous: str | None  # the version that served before
    already: bool = False  # this digest was serving already: nothing done
    switch_seconds: float | None = None  # from the checks passed to the router switched
    total_seconds: float = 0.0
    endpoint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.target.model,
            "env": self.target.env,
            "version": self.target.version,
            "digest": f"sha256:{self.target.digest}",
            "endpoint": self.endpoint,
            "passed": self.passed,
            "already": self.already,
            "previous": self.previous,
            "switch_seconds": self.switch_seconds,
            "total_seconds": round(self.total_seconds, 3),
            "checks": [c.to_dict() for c in self.checks],
        }


def folder(root: Path, model: str, env: str) -> Path:
    return root / FOLDER / model / env


class LocalDeployer:
    def __init__(self, root: Path) -> None:
        self.root = root

    def deploy(self, target: Target, *, force: bool = False) -> Deployed:
        started = time.monotonic()
        where = folder(self.root, target.model, target.env)
        with _locked(where):
            state = read_state(where)
            _stop_pending(state)
            active = state.get("active") or {}
            endpoint = f"http://{target.host}:{target.port}"
            if not force and _serving(state, target):
                return Deployed(
                    target, True, (), active.get("version"), already=True, endpoint=endpoint
                )
            self._check_port(target, state)
            state = {**state, "model": target.model, "env": target.env}
            new = self._start(where, target)
            write_state(where, {**state, "pending": new})  # found by the next run if killed
            try:
                found, switch = self._roll(where, target, state, new)
            except BaseException:
                processes.stop(new["pid"], grace=5.0, since=new.get("since"))
                write_state(where, {**state, "pending": None})
                raise
        return Deployed(
            target,
            switch is not None,
            tuple(found),
            active.get("version"),
            switch_seconds=switch,
            total_seconds=time.monotonic() - started,
            endpoint=endpoint,
        )

    def _roll(
        self, where: Path, target: Target, state: dict[str, Any], new: dict[str, Any]
    ) -> tuple[list[Outcome], float | None]:
        """Check the new server; when it passes, switch to it. (checks, switch seconds or
        None when a check failed and the new server was stopped)."""
        found = self._check(where, target, new)
        if not all(c.passed for c in found):
            processes.stop(new["pid"], grace=5.0, since=new.get("since"))
            write_state(where, {**state, "pending": None})
            return found, None
        switch = self._switch(where, target, state, new)
        return found, switch

    def stop(self, model: str, env: str) -> dict[str, Any]:
        where = folder(self.root, model, env)
        if not (where / "state.json").exists():
            raise DeployError(f"{model} is not deployed to {env} on this machine")
        with _locked(where):
            state = read_state(where)
            _stop_pending(state)
            active = state.get("active") or {}
            stopped = _stop(active)
            router = _stop(state.get("router") or {}, grace=5.0)
            write_state(where, {**state, "active": None, "router": None, "pending": None})
        return {
            "model": model,
            "env": env,
            "version": active.get("version"),
            "stopped": stopped or router,
        }

    def status(self) -> list[dict[str, Any]]:
        found = []
        base = self.root / FOLDER
        for path in sorted(base.glob("**/state.json")) if base.exists() else []:
            state = read_state(path.parent)
            if state.get("model"):
                found.append(_status(state))
        return found

    # --- steps --------------------------------------------------------------------

    def _check_port(self, target: Target, state: Mapping[str, Any]) -> None:
        router = state.get("router") or {}
        ours = _alive(router) and router.get("port") == target.port
        if not ours and processes.port_in_use(target.host, target.port):
            raise DeployError(
                f"port {target.port} on {target.host} is taken by another program: "
                f"set environments.{target.env}.port to a free one"
            )
        for other in self.status():
            if (
                other["port"] == target.port
                and other["serving"]
                and (other["model"], other["env"]) != (target.model, target.env)
            ):
                raise DeployError(
                    f"port {target.port} serves {other['model']} in {other['env']} already: "
                    f"set environments.{target.env}.port to another port"
                )

    def _start(self, where: Path, target: Target) -> dict[str, Any]:
        port = processes.free_port(target.host)
        log = where / f"serve-v{target.version}-{int(time.time())}.log"
        command = [*target.command, "--host", target.host, "--port", str(port)]
        env = {**os.environ, **target.env_vars}
        if target.token:
            env["LOCKSTEP_SERVE_TOKEN"] = target.token
        pid = processes.start(command, self.root, log, env)
        return {
            "version": target.version,
            "digest": target.digest,
            "pid": pid,
            "port": port,
            "log": log.name,
            "started": _now(),
        }

    def _check(self, where: Path, target: Target, new: Mapping[str, Any]) -> list[Outcome]:
        endpoint = f"http://{target.host}:{new['port']}"
        ready = checks.wait_ready(
            endpoint, new["pid"], where / new["log"], READY_TIMEOUT, target.token
        )
        if not ready.passed:
            return [ready]
        served = checks.identity(endpoint, target.model, target.version, target.digest,
                                 target.token)  # fmt: skip
        if not served.passed:
            return [ready, served]
        extra = {"LOCKSTEP_MODEL": target.model, "LOCKSTEP_MODEL_VERSION": target.version}
        return [ready, *checks.smoke(target.smoke, endpoint, self.root, target.token, extra)]

    def _switch(
        self, where: Path, target: Target, state: dict[str, Any], new: dict[str, Any]
    ) -> float:
        """Point the router at the new server, record it, stop the old one. Seconds from
        the checks passed to the router answering from the new server."""
        began = time.monotonic()
        old = state.get("active") or {}
        self._point(where, target, state, new["port"])
        try:
            _wait_switched(target, new["version"])
        except BaseException:
            if old.get("port"):
                self._point(where, target, state, old["port"])  # back to what served
            raise
        switched = round(time.monotonic() - began, 3)
        record = {**state, "active": new, "pending": None, "host": target.host,
                  "port": target.port, "history": _history(state, new, switched)}  # fmt: skip
        write_state(where, record)
        state.update(record)
        if old.get("pid") and old.get("pid") != new["pid"] and _alive(old):
            # keep-alive clients are told to reconnect (through the router, to the new
            # server) before the old one stops; connections just passed on finish
            processes.signal_group(old["pid"], signal.SIGUSR1)
            time.sleep(DRAIN_SECONDS)
            processes.stop(old["pid"], since=old.get("since"))
        return switched

    def _point(self, where: Path, target: Target, state: dict[str, Any], port: int) -> None:
        """Make the router forward new connections to ``port`` (starting it if needed)."""
        upstream = where / "upstream.json"
        fs.atomic_write_text(upstream, json.dumps({"host": target.host, "port": port}))
        router = state.get("router") or {}
        ours = router.get("port") == target.port
        if ours and processes.hangup(router.get("pid") or 0, router.get("since")):
            return
        processes.stop(router.get("pid"), grace=5.0, since=router.get("since"))
        state["router"] = self._start_router(where, target, upstream)
        write_state(where, state)

    def _start_router(self, where: Path, target: Target, upstream: Path) -> dict[str, Any]:
        command = [
            sys.executable,
            "-m",
            "lockstep.deploy.router",
            "--host",
            target.host,
            "--port",
            str(target.port),
            "--upstream-file",
            str(upstream),
        ]
        log = where / "router.log"
        pid = processes.start(command, self.root, log, os.environ)
        since = processes.started(pid)
        deadline = time.monotonic() + 10
        while not processes.port_in_use(target.host, target.port):
            if not processes.alive(pid) or time.monotonic() > deadline:
                processes.stop(pid, grace=1.0)
                raise DeployError(f"the router did not start: {processes.tail(log)}")
            time.sleep(0.02)
        return {"pid": pid, "since": since, "port": target.port}


def _serving(state: Mapping[str, Any], target: Target) -> bool:
    active = state.get("active") or {}
    router = state.get("router") or {}
    return (
        active.get("digest") == target.digest
        and _alive(active)
        and _alive(router)
        and router.get("port") == target.port
    )


def _alive(process: Mapping[str, Any]) -> bool:
    return processes.alive(process.get("pid"), process.get("since"))


def _stop(process: Mapping[str, Any], grace: float = 30.0) -> bool:
    return processes.stop(process.get("pid"), grace=grace, since=process.get("since"))


def _stop_pending(state: Mapping[str, Any]) -> None:
    """A server a killed deploy started and never switched to."""
    pending = state.get("pending") or {}
    active = state.get("active") or {}
    if pending.get("pid") and pending.get("pid") != active.get("pid"):
        _stop(pending, grace=5.0)


def _wait_switched(target: Target, version: str, timeout: float = 10.0) -> None:
    """Until the router's port answers from the new server (a new connection each try)."""
    url = f"http://{target.host}:{target.port}/v2/models/{target.model}"
    headers = {"authorization": f"Bearer {target.token}"} if target.token else {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(url, headers=headers, timeout=2.0)
            if version in (answer.json().get("versions") or []):
                return
        except (httpx.HTTPError, ValueError, AttributeError):
            pass
        time.sleep(0.01)
    raise DeployError(f"the router on port {target.port} did not switch to v{version}")


def _history(state: Mapping[str, Any], new: Mapping[str, Any], switch: float) -> list[Any]:
    old = list(state.get("history") or [])
    entry = {
        "version": new["version"],
        "digest": new["digest"],
        "time": new["started"],
        "switch_seconds": switch,
    }
    return [*old, entry][-HISTORY:]


def _status(state: Mapping[str, Any]) -> dict[str, Any]:
    active = state.get("active") or {}
    router = state.get("router") or {}
    serving = _alive(active) and _alive(router)
    return {
        "model": state["model"],
        "env": state["env"],
        "version": active.get("version"),
        "digest": active.get("digest"),
        "endpoint": f"http://{state.get('host', '127.0.0.1')}:{state.get('port')}",
        "port": state.get("port"),
        "serving": serving,
        "since": active.get("started"),
        "pid": active.get("pid") if serving else None,
    }


# --- state ------------------------------------------------------------------------


def read_state(where: Path) -> dict[str, Any]:
    path = where / "state.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FileFormatError(str(path), None, f"not readable JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FileFormatError(str(path), "format", f"must be {FORMAT}")
    return data


def write_state(where: Path, state: Mapping[str, Any]) -> None:
    where.mkdir(parents=True, exist_ok=True)
    body = {**state, "format": FORMAT}
    fs.atomic_write_text(where / "state.json", json.dumps(body, indent=2) + "\n")


@contextmanager
def _locked(where: Path) -> Iterator[None]:
    where.mkdir(parents=True, exist_ok=True)
    fd = os.open(where / "deploy.flock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeployError(f"another deploy to {where.name} is running; wait for it") from None
        yield
    finally:
        os.close(fd)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
