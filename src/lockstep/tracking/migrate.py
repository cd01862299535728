"""Bring a tracking database to the schema this lockstep knows, with Alembic.

Opening a database reads its ``alembic_version`` row with plain SQLAlchemy;
Alembic is imported only when that row is missing or behind ``HEAD_REVISION``.
Each migration runs in its own transaction (on SQLite too), so a failed one
leaves the database at the previous revision. Two processes opening a new
database at once are serialized (``BEGIN IMMEDIATE`` on SQLite, an advisory lock
on PostgreSQL); the second finds the work done.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from lockstep.errors import TrackingError
from lockstep.tracking.database import writer
from lockstep.tracking.schema import HEAD_REVISION

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_KEY = 0x6C6F636B73746570  # "lockstep"


def current_revision(engine: sa.Engine) -> str | None:
    """The database's revision, None when it has no schema yet."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        return None if found is None else str(found)


def ensure_schema(
    engine: sa.Engine, label: str, *, head: str = HEAD_REVISION, location: Path = MIGRATIONS
) -> None:
    """Create or upgrade the schema of ``engine``'s database to ``head``.

    ``label`` names the database in errors (a URL without its password).
    """
    found = current_revision(engine)
    if found == head:
        return
    config = alembic_config(location)
    _check_known(config, found, head, label)
    try:
        _upgrade(engine, config, head)
    except Exception as exc:
        if current_revision(engine) == head:  # another process got there first
            return
        raise TrackingError(label, f"cannot migrate the schema to {head}: {exc}") from exc


def alembic_config(location: Path = MIGRATIONS) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(location))
    return config


def known_revisions(config: Config) -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


def _check_known(config: Config, found: str | None, head: str, label: str) -> None:
    if found is not None and found not in known_revisions(config):
        raise TrackingError(
            label,
            f"the schema is at revision {found}, which this lockstep does not know "
            f"(it knows up to {head}): upgrade lockstep",
        )


def _upgrade(engine: sa.Engine, config: Config, head: str) -> None:
    from alembic import command

    with writer(engine).connect() as conn:  # SQLite: BEGIN IMMEDIATE, from the first read
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(sa.select(sa.func.pg_advisory_lock(_PG_LOCK_KEY)))
            conn.commit()
        try:
            config.attributes["connection"] = conn
            command.upgrade(config, head)
        finally:
            if postgres:
                conn.rollback()
                conn.execute(sa.select(sa.func.pg_advisory_unlock(_PG_LOCK_KEY)))
                conn.commit()
