"""The state database: what lockstep already knows about files it has hashed.

``.lockstep/state.db`` (SQLite, WAL) holds three tables, version in
``PRAGMA user_version`` (each version only adds tables)::

    files(path TEXT PRIMARY KEY, inode, mtime_ns, size, digest)
        a workspace file (path relative to the workspace, POSIX separators)
        whose bytes hashed to ``digest`` when it had this inode, mtime and size
    objects(digest TEXT PRIMARY KEY, inode, mtime_ns, size)
        a cache object verified to hash to its name while it had this stat
    trees(path TEXT PRIMARY KEY, fingerprint, digest)
        a workspace directory whose files' stats hashed to ``fingerprint``
        when its tree digest was ``digest``

A row is trusted only while the file's (inode, mtime_ns, size) is unchanged, so
re-adding or checking an unchanged tree hashes nothing, and an object edited
in place through a link is re-hashed (and caught) the next time it is used.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

SCHEMA_VERSION = 2
Stat = tuple[int, int, int]  # inode, mtime_ns, size

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, inode INTEGER, mtime_ns INTEGER, size INTEGER, digest TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    digest TEXT PRIMARY KEY, inode INTEGER, mtime_ns INTEGER, size INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trees (
    path TEXT PRIMARY KEY, fingerprint TEXT, digest TEXT
) WITHOUT ROWID;
"""


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-16384")  # 16 MiB: big batches touch many pages
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


def stat_key(st: os.stat_result) -> Stat:
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class StateDB:
    """Stat-keyed memory of file and object digests; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._conn = _open(self.path)
            except sqlite3.DatabaseError:
                # only a memory of hashes: a damaged one is set aside and rebuilt
                os.replace(self.path, self.path.with_name(self.path.name + ".damaged"))
                self._conn = _open(self.path)
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # --- workspace files ---------------------------------------------------------

    def files_under(self, prefix: str) -> dict[str, tuple[Stat, str]]:
        """Known rows for ``prefix`` itself and everything below it."""
        with self._lock:
            rows = self._db().execute(
                "SELECT path, inode, mtime_ns, size, digest FROM files"
                " WHERE path = ? OR (path >= ? AND path < ?)",
                (prefix, prefix + "/", prefix + "0"),
            )
            return {path: ((ino, mt, size), digest) for path, ino, mt, size, digest in rows}

    def save_files(self, rows: Mapping[str, tuple[Stat, str]]) -> None:
        if not rows:
            return
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                ((p, st[0], st[1], st[2], d) for p, (st, d) in sorted(rows.items())),
            )

    # --- workspace directories ---------------------------------------------------

    def tree_digest(self, path: str, fingerprint: str) -> str | None:
        with self._lock:
            row = (
                self._db()
                .execute("SELECT fingerprint, digest FROM trees WHERE path = ?", (path,))
                .fetchone()
            )
        return row[1] if row is not None and row[0] == fingerprint else None

    def save_tree(self, path: str, fingerprint: str, digest: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO trees VALUES (?, ?, ?)", (path, fingerprint, digest))

    # --- cache objects -----------------------------------------------------------

    def verified_objects(self, digests: Iterable[str]) -> dict[str, Stat]:
        wanted = list(digests)
        found: dict[str, Stat] = {}
        with self._lock:
            db = self._db()
            if len(wanted) > 2000:  # one scan of the table beats many IN (...) lookups
                rows = db.execute("SELECT digest, inode, mtime_ns, size FROM objects")
                keep = set(wanted)
                return {d: (i, m, s) for d, i, m, s in rows if d in keep}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT digest, inode, mtime_ns, size FROM objects WHERE digest IN ({marks})",
                    chunk,
                )
                found.update({d: (ino, mt, size) for d, ino, mt, size in rows})
        return found

    def mark_verified(self, rows: Mapping[str, Stat]) -> None:
        if not rows:
            return
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)",
                ((d, st[0], st[1], st[2]) for d, st in sorted(rows.items())),
            )

    def forget_objects(self, digests: Iterable[str]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM objects WHERE digest = ?", ((d,) for d in digests))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._db()
            with db:
                yield db
