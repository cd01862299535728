"""Start the server: check the model loads, then hand over to uvicorn.

:func:`serve` loads the model once in the calling process, so a model that cannot be
served raises :class:`~lockstep.errors.ServingError` before anything listens (the CLI
prints one line and exits 2). It then writes the spec to a temp JSON file and puts its
path (and the token) in the environment, where every worker's
:func:`lockstep.serving.app.from_env` finds them; with ``workers > 1`` it also gives the
workers a fresh ``PROMETHEUS_MULTIPROC_DIR`` so ``/metrics`` adds up all of them.
uvicorn runs with uvloop and httptools when installed, no access log of its own (the
app writes a structured one) and a graceful shutdown on SIGTERM: in-flight requests
finish (up to 20 s), then the app drains its batcher and flushes the inference log, and
:func:`serve` returns.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lockstep.errors import ServingError
from lockstep.serving.spec import SPEC_ENV, TOKEN_ENV, ServeSpec

GRACEFUL_SHUTDOWN_SECONDS = 20
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def check(spec: ServeSpec) -> None:
    """Load the model and fit its signature; ServingError when it cannot be served."""
    from lockstep.serving import flavors, signature
    from lockstep.serving.app import check_settings

    check_settings(spec)
    signature.resolve(spec, flavors.load(spec))


@contextmanager
def _environment(spec: ServeSpec, token: str | None, workers: int) -> Iterator[None]:
    folder = Path(tempfile.mkdtemp(prefix="lockstep-serve-"))
    saved = {name: os.environ.get(name) for name in (SPEC_ENV, TOKEN_ENV, MULTIPROC_ENV)}
    try:
        spec_file = folder / "spec.json"
        spec.dump(spec_file)
        os.environ[SPEC_ENV] = str(spec_file)
        os.environ.pop(TOKEN_ENV, None)
        if token:
            os.environ[TOKEN_ENV] = token
        os.environ.pop(MULTIPROC_ENV, None)
        if workers > 1:
            metrics = folder / "metrics"
            metrics.mkdir()
            os.environ[MULTIPROC_ENV] = str(metrics)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _sigterm_returns() -> Iterator[None]:
    """uvicorn raises the signal that stopped it again once it has shut down; with this
    handler in place a SIGTERM ends :func:`serve` normally (after the graceful shutdown)
    instead of killing the process before the temp files are removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(
    spec: ServeSpec,
    host: str,
    port: int,
    workers: int = 1,
    token: str | None = None,
    *,
    log_level: str = "info",
) -> None:
    """Serve ``spec``'s model on ``host:port`` until SIGINT/SIGTERM (blocking)."""
    import uvicorn

    from lockstep.serving.gate import expected_token
    from lockstep.serving.logs import log_config

    if workers < 1:
        raise ServingError(f"workers must be at least 1, got {workers}")
    if token:
        expected_token(token)
    check(spec)
    # SIGUSR1 drains a worker (see gate.drain); a process without that handler, such as
    # the supervisor of several workers, must not die of it
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    with _environment(spec, token, workers), _sigterm_returns():
        uvicorn.run(
            "lockstep.serving.app:from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
            http="httptools" if importlib.util.find_spec("httptools") else "h11",
            access_log=False,
            log_level=log_level,
            log_config=log_config(log_level),
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            server_header=False,
        )
