"""What an executor is given (a :class:`Job`) and gives back (an :class:`Outcome`)."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import IO, Protocol

from lockstep.pipeline.spec import Resources

TAIL_LINES = 20
KILL_AFTER = 5.0  # seconds between SIGTERM and SIGKILL when a run is stopped

# (stage, line, is_stderr) -> None; called from reader threads
OutputSink = Callable[[str, str, bool], None]


@dataclass(frozen=True)
class Job:
    """One stage to run: its commands, in the workspace at ``root``."""

    stage: str
    commands: tuple[str, ...]
    root: str
    env: Mapping[str, str] = field(default_factory=dict)  # added to the environment
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    resources: Resources | None = None


@dataclass(frozen=True)
class Outcome:
    stage: str
    returncode: int
    stderr_tail: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Executor(Protocol):
    def submit(self, job: Job) -> Future[Outcome]: ...

    def stop(self) -> None:
        """Stop every running job (their outcomes report failure)."""

    def close(self) -> None: ...


class ProcessGroup:
    """The stage commands running now, so that ``stop`` can end them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[bytes]] = set()
        self.stopped = False

    def add(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.add(proc)
            if self.stopped:
                _terminate(proc)

    def discard(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.discard(proc)

    def stop(self, grace: float = KILL_AFTER) -> None:
        """SIGTERM to every running command's process group; SIGKILL to those still
        running ``grace`` seconds later."""
        with self._lock:
            self.stopped = True
            for proc in self._procs:
                _terminate(proc)
        timer = threading.Timer(grace, self._kill)
        timer.daemon = True
        timer.start()

    def _kill(self) -> None:
        with self._lock:
            for proc in self._procs:
                _terminate(proc, signal.SIGKILL)


def _terminate(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


@dataclass
class _Context:
    stage: str
    cwd: str
    env: Mapping[str, str]
    sink: OutputSink | None
    group: ProcessGroup | None
    tail: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=TAIL_LINES)
    )


def run_commands(
    job: Job, cwd: str, sink: OutputSink | None = None, group: ProcessGroup | None = None
) -> Outcome:
    """Run the job's commands in order in ``cwd``; stop at the first failure."""
    started = time.monotonic()
    ctx = _Context(job.stage, cwd, {**os.environ, **job.env}, sink, group)
    code = 0
    for command in job.commands:
        if group is not None and group.stopped:
            code = -signal.SIGTERM
            break
        code = _run_one(command, ctx)
        if code != 0:
            break
    return Outcome(job.stage, code, "\n".join(ctx.tail), time.monotonic() - started)


def _run_one(command: str, ctx: _Context) -> int:
    try:
        proc = subprocess.Popen(
            command,
            shell=True,
            cwd=ctx.cwd,
            env=dict(ctx.env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        ctx.tail.append(f"cannot start {command!r}: {exc.strerror}")
        return 127
    if ctx.group is not None:
        ctx.group.add(proc)
    try:
        readers = [
            threading.Thread(target=_pump, args=(proc.stdout, ctx.stage, False, ctx.sink, None)),
            threading.Thread(target=_pump, args=(proc.stderr, ctx.stage, True, ctx.sink, ctx.tail)),
        ]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join()
        return proc.wait()
    finally:
        if ctx.group is not None:
            ctx.group.discard(proc)


def _pump(
    stream: IO[bytes] | None,
    stage: str,
    is_err: bool,
    sink: OutputSink | None,
    tail: collections.deque[str] | None,
) -> None:
    if stream is None:
        return
    with stream:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if tail is not None:
                tail.append(line)
            if sink is not None:
                sink(stage, line, is_err)
