"""Pipeline runs into the tracking database: the recorder ``lockstep run`` uses.

The database is opened when the first stage starts or is restored. A pipeline
that is already up to date still gets its run, written through the standard
library's sqlite3 when the default database allows it (see tracking.quick), so
a no-op ``lockstep run`` never loads the database engine.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep import git
from lockstep.pipeline.spec import Stage

if TYPE_CHECKING:
    from lockstep.tracking.store import TrackingStore


class TrackingRecorder:
    """One pipeline run with a child run per stage that ran or was restored."""

    def __init__(self, root: Path, uri: str, targets: list[str]) -> None:
        self.root = root
        self.uri = uri
        self.targets = targets
        self._store: TrackingStore | None = None
        self._parent: str | None = None
        self._git: tuple[str | None, bool | None] = (None, None)
        self._user = ""
        self._name = " ".join(targets) or "pipeline"

    def _open(self) -> TrackingStore:
        if self._store is None:
            from lockstep.tracking.context import environment_info
            from lockstep.tracking.store import TrackingStore

            self._store = TrackingStore.open(self.uri)
            self._git = _git_state(self.root)
            self._user = _user(self.root)
            self._parent = self._store.create_run(
                kind="pipeline",
                name=self._name,
                git_commit=self._git[0],
                dirty=self._git[1],
                user=self._user,
                environment=environment_info(),
            )
        return self._store

    def stage_started(
        self, stage: Stage, fingerprint: str, params: Mapping[str, Any]
    ) -> tuple[str | None, Mapping[str, str]]:
        store = self._open()
        run_id = store.create_run(
            kind="stage",
            name=stage.name,
            stage=stage.name,
            parent_id=self._parent,
            git_commit=self._git[0],
            dirty=self._git[1],
            user=self._user,
            params=dict(params),
            fingerprint=fingerprint,
        )
        env = {"LOCKSTEP_RUN_ID": run_id, "LOCKSTEP_TRACKING_URI": self.uri}
        return run_id, env | {"LOCKSTEP_STAGE": stage.name}

    def stage_finished(
        self,
        run_id: str | None,
        status: str,
        *,
        outs: Mapping[str, str],
        metrics: Mapping[str, float],
        error: str | None,
        restored_from: str | None = None,
    ) -> None:
        if run_id is None:
            return
        store = self._open()
        if restored_from:
            store.set_tags(run_id, {"restored_from": restored_from})
        store.finish_run(run_id, status, outs=dict(outs), metrics=dict(metrics), error=error)

    def close(self, status: str, actions: Mapping[str, str]) -> None:
        """Finish the pipeline's run. A pipeline that ran or restored nothing still
        gets its run, written without loading the database engine when possible."""
        tags = {"stages": " ".join(f"{name}={action}" for name, action in actions.items())}
        if self._store is None:
            if status == "error":
                return  # stopped by bad input before any stage: nothing happened
            if self._record_quickly(status, tags):
                return
        store = self._open()
        if self._parent is not None:
            store.set_tags(self._parent, tags)
            store.finish_run(self._parent, "stopped" if status == "error" else status)
        store.close()
        self._store = None

    def _record_quickly(self, status: str, tags: Mapping[str, str]) -> bool:
        from lockstep.tracking.quick import record_finished

        if status != "finished":
            return False
        commit, dirty = _git_state(self.root)
        run_id = record_finished(
            self.uri,
            kind="pipeline",
            name=self._name,
            git_commit=commit,
            dirty=dirty,
            user=_user(self.root),
            tags=tags,
        )
        return run_id is not None


def _user(root: Path) -> str:
    """The Git identity (``Name <email>``), else the login name."""
    return git.identity(root) or getpass.getuser()


def _git_state(root: Path) -> tuple[str | None, bool | None]:
    commit = git.head(root)
    return commit, git.is_dirty(root) if commit else None
