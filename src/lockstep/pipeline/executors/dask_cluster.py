"""Reach a Dask scheduler, or start a LocalCluster on 127.0.0.1, and find out
whether its workers see this workspace's files.

A LocalCluster started here has ``LOCAL_WORKERS`` worker processes; each offers
its threads as the ``CPU`` resource and its memory limit as ``MEMORY`` (bytes).
Errors of ``distributed`` become :class:`~lockstep.errors.DaskError` here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from lockstep import fs
from lockstep.errors import DaskError, InputError
from lockstep.pipeline.executors import remote_task

CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler, and for a worker to join it
LOCAL_WORKERS = 2
LOCAL_LABEL = "LocalCluster on 127.0.0.1"


def open_cluster(address: str | None, label: str, jobs: int) -> tuple[Any, Any]:
    """(the LocalCluster started here or None, a connected client)."""
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - a dependency of lockstep
        raise DaskError(label, "dask.distributed is not installed") from exc
    if address is not None:
        _check_address(distributed, address)
    cluster = _local_cluster(distributed, jobs) if address is None else None
    connect: Any = distributed.Client  # untyped constructor
    try:
        client = connect(
            cluster if cluster is not None else address,
            timeout=CONNECT_TIMEOUT,
            set_as_default=False,
        )
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        shut(None, cluster)
        raise DaskError(label, f"cannot connect: {exc}") from exc
    try:
        if cluster is None:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        shut(client, None)
        raise DaskError(label, f"no worker joined within {CONNECT_TIMEOUT:g} s") from exc
    return cluster, client


def _check_address(distributed: Any, address: str) -> None:
    """Fail on an address no client could use (a client made for it never closes cleanly)."""
    try:
        distributed.comm.resolve_address(address)
    except ValueError as exc:
        raise InputError(f"dask address {address!r} is not valid: {exc}") from exc
    except OSError as exc:
        raise DaskError(address, f"cannot resolve the host: {exc.strerror or exc}") from exc


def _local_cluster(distributed: Any, jobs: int) -> Any:
    cores = os.cpu_count() or 1
    workers = min(LOCAL_WORKERS, cores)
    threads = max(1, cores // workers, -(-jobs // workers))
    memory = int(distributed.system.MEMORY_LIMIT // workers)
    try:
        return distributed.LocalCluster(
            host="127.0.0.1",
            dashboard_address=None,
            processes=True,
            n_workers=workers,
            threads_per_worker=threads,
            memory_limit=memory,
            resources={"CPU": threads, "MEMORY": memory},
            silence_logs=logging.ERROR,
            # the scheduler's HTTP routes (health, no dashboard) on a free port, not 8787
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        )
    except (OSError, RuntimeError, TimeoutError) as exc:
        raise DaskError(LOCAL_LABEL, f"cannot start: {exc}") from exc


def shares_workspace(client: Any, root: Path, label: str) -> bool:
    """True when every worker reads the token file this process just wrote."""
    token = uuid.uuid4().hex
    path = root / ".lockstep" / f"dask-probe-{token}"
    fs.atomic_write_text(path, token)
    try:
        seen = client.run(remote_task.probe, str(path), token, on_error="return")
    except (OSError, TimeoutError) as exc:
        raise DaskError(label, f"cannot reach the workers ({exc})") from exc
    finally:
        path.unlink(missing_ok=True)
    return bool(seen) and all(answer is True for answer in seen.values())


def shut(client: Any, cluster: Any) -> None:
    for thing in (client, cluster):
        if thing is not None:
            with contextlib.suppress(OSError, TimeoutError, RuntimeError):
                thing.close()
