"""Record one finished run into an existing SQLite tracking database with the
standard library alone.

``lockstep run`` with every stage up to date does no work worth a database
engine: it still records its pipeline run, through this path, in about a
millisecond. The row is the one :meth:`TrackingStore.create_run` writes; the
path applies only to a ``sqlite:///`` file already at the head revision, and
says so by returning None otherwise, so the caller falls back to the store.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Mapping

from lockstep.tracking.revision import HEAD_REVISION
from lockstep.tracking.uri import sqlite_path


def record_finished(
    uri: str,
    *,
    kind: str,
    name: str | None,
    git_commit: str | None,
    dirty: bool | None,
    user: str | None,
    tags: Mapping[str, str],
) -> str | None:
    """Insert a finished run and its tags; its id, or None when this path does not apply."""
    path = sqlite_path(uri)
    if path is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    except sqlite3.Error:
        return None
    run_id, now = uuid.uuid4().hex, time.time()
    row = (run_id, name, kind, git_commit, dirty, user, now, now)
    try:
        return run_id if _insert(conn, row, tags) else None
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _insert(conn: sqlite3.Connection, row: tuple[object, ...], tags: Mapping[str, str]) -> bool:
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if version is None or version[0] != HEAD_REVISION:
            conn.execute("ROLLBACK")
            return False
        conn.execute(
            "INSERT INTO runs (id, name, kind, status, git_commit, dirty, username,"
            " start_time, end_time, outs) VALUES (?, ?, ?, 'finished', ?, ?, ?, ?, ?, '{}')",
            row,
        )
        conn.executemany(
            "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)",
            [(row[0], key, value) for key, value in tags.items()],
        )
        conn.execute("COMMIT")
        return True
    except BaseException:
        conn.execute("ROLLBACK")
        raise
