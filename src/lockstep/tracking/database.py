"""The SQL adapter: engines for SQLite and PostgreSQL, upserts, and error translation.

SQLite connections run in WAL mode with ``synchronous=NORMAL`` (a commit survives
a crash of the process; only a power loss may drop the last ones), wait up to 30 s
for a lock, and enforce foreign keys. Write transactions start with ``BEGIN
IMMEDIATE``, so several processes writing one file queue up instead of failing.
Every SQLAlchemy error leaves this package as :class:`TrackingError` (or
:class:`UnknownRunError` when a row names a run that does not exist).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from lockstep.errors import TrackingError, UnknownRunError
from lockstep.tracking.uri import redact

WRITE = "lockstep_write"
BUSY_TIMEOUT_MS = 30_000
SUPPORTED = ("sqlite", "postgresql")


def make_engine(uri: str) -> sa.Engine:
    """An engine for ``uri``; the folder of a SQLite file is created."""
    with translate(redact(uri)):
        url = sa.make_url(uri)
        backend = url.get_backend_name()
        if backend not in SUPPORTED:
            raise TrackingError(
                redact(uri), "unsupported database: use sqlite:///PATH or postgresql+psycopg://…"
            )
        if backend == "sqlite":
            return _sqlite_engine(url)
        return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    if url.database and url.database != ":memory:":
        folder = Path(url.database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"cannot create the folder {folder}: {exc.strerror or exc}"
            raise TrackingError(redact(url.render_as_string()), problem) from exc
    engine = sa.create_engine(url)
    sa.event.listen(engine, "connect", _on_sqlite_connect)
    sa.event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver opens no transaction; BEGIN is ours
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: sa.Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get(WRITE) else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def writer(engine: sa.Engine) -> sa.Engine:
    """The same engine, its transactions taking the write lock at once on SQLite."""
    return engine.execution_options(**{WRITE: True})


@contextlib.contextmanager
def translate(label: str, run_id: str | None = None) -> Iterator[None]:
    """Turn SQLAlchemy errors into lockstep's; ``label`` names the database."""
    try:
        yield
    except sa_exc.IntegrityError as exc:
        if run_id is not None and "foreign key" in problem(exc).lower():
            raise UnknownRunError(run_id) from exc
        raise TrackingError(label, problem(exc)) from exc
    except sa_exc.SQLAlchemyError as exc:
        raise TrackingError(label, problem(exc)) from exc


def problem(exc: sa_exc.SQLAlchemyError) -> str:
    """The driver's own message, first line only (no SQL, no parameters)."""
    source = getattr(exc, "orig", None) or exc
    lines = str(source).strip().splitlines()
    return lines[0] if lines else type(source).__name__


Where = Callable[[Any, Any], Any]


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    update: tuple[str, ...],
    where: Where | None = None,
) -> None:
    """Insert ``rows``; a row whose primary key exists updates the ``update`` columns
    (only where ``where(new, old)`` holds) or, with no ``update``, is left alone."""
    if rows:
        conn.execute(_upsert_statement(conn.dialect.name, table, update, where), list(rows))


@functools.lru_cache(maxsize=32)
def _upsert_statement(
    dialect: str, table: sa.Table, update: tuple[str, ...], where: Where | None
) -> Any:
    """Built once: a statement is immutable, and building one costs more than running it."""
    stmt: Any = _dialect_insert(dialect)(table)
    keys = [column.name for column in table.primary_key.columns]
    if not update:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    return stmt.on_conflict_do_update(
        index_elements=keys,
        set_={name: stmt.excluded[name] for name in update},
        where=None if where is None else where(stmt.excluded, table.c),
    )


def _dialect_insert(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
