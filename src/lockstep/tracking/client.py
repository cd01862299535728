"""What scripts call: ``current()``, ``start_run()``, ``search_runs()``, ``get_run()``.

Without ``LOCKSTEP_TRACKING_URI`` the database is the one of the workspace around
the current directory (see :mod:`lockstep.tracking.uri`). A process keeps one
open store per database (per process id, so a forked child opens its own).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep.errors import NoActiveRunError
from lockstep.tracking.context import current_user, environment_info, git_state
from lockstep.tracking.handle import Run
from lockstep.tracking.uri import ENV_RUN_ID, normalize, workspace_uri

if TYPE_CHECKING:
    from collections.abc import Mapping

    from lockstep.tracking.records import RunRecord
    from lockstep.tracking.store import TrackingStore

_STORES: dict[tuple[str, int], TrackingStore] = {}
_STORES_LOCK = threading.Lock()


def current() -> Run:
    """The run of the stage this script runs in, from ``LOCKSTEP_RUN_ID`` (set by
    ``lockstep run``). Values are flushed at exit; ``lockstep run`` ends the run.
    Outside a stage: :class:`NoActiveRunError`."""
    run_id = os.environ.get(ENV_RUN_ID)
    if not run_id:
        raise NoActiveRunError()
    uri = workspace_uri(Path.cwd())
    return Run(run_id, lambda: shared_store(uri), finish_on_exit=False)


def start_run(
    name: str | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    parent_id: str | None = None,
    uri: str | None = None,
) -> Run:
    """Start an ad-hoc run; use it in a ``with`` block, which ends it ("failed" if
    the block raised). Records the Git commit and dirty flag of the current directory,
    the user and the environment. Inside a stage, the stage's run is its parent."""
    store = shared_store(uri or workspace_uri(Path.cwd()))
    state = git_state(Path.cwd())
    run_id = store.create_run(
        kind="adhoc",
        name=name,
        parent_id=parent_id or os.environ.get(ENV_RUN_ID) or None,
        git_commit=state.commit,
        dirty=state.dirty,
        user=current_user(Path.cwd()),
        environment=environment_info(),
        params=params,
        tags=tags,
    )
    return Run(run_id, lambda: store, finish_on_exit=True)


def search_runs(
    filter: str | None = None,
    order_by: str | None = None,
    limit: int | None = None,
    *,
    uri: str | None = None,
) -> list[RunRecord]:
    """Runs matching ``filter``, e.g. ``"metrics.acc > 0.8 and params.lr = 0.1"``,
    sorted by ``order_by``, e.g. ``"-metrics.acc"`` (default: newest first)."""
    store = shared_store(uri or workspace_uri(Path.cwd()))
    return store.search(filter, order_by, limit)


def get_run(run_id: str, *, uri: str | None = None) -> RunRecord:
    """One run by its id or a unique prefix of it."""
    return shared_store(uri or workspace_uri(Path.cwd())).get_run(run_id)


def shared_store(uri: str) -> TrackingStore:
    """This process's open store for ``uri`` (opened, and migrated, on first use)."""
    from lockstep.tracking.store import TrackingStore

    key = (normalize(uri), os.getpid())
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = TrackingStore.open(key[0])
        return store


def close_shared_stores() -> None:
    """Close every store :func:`shared_store` opened (tests; long-lived processes)."""
    with _STORES_LOCK:
        stores = list(_STORES.values())
        _STORES.clear()
    for store in stores:
        store.close()
