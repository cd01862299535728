"""Every storage test runs twice: on SQLite and on a real throwaway PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lockstep.tracking.client import close_shared_stores
from lockstep.tracking.store import TrackingStore
from tests.pg import PostgresCluster, pg_cluster, pg_uri

__all__ = ["pg_cluster", "pg_uri"]  # fixtures for the tests below


@pytest.fixture(scope="session")
def pg_template(pg_cluster: PostgresCluster) -> str:
    """A PostgreSQL database with the schema, cloned for each test (cheaper than migrating)."""
    name = pg_cluster.create_database()
    TrackingStore.open(pg_cluster.uri(name)).close()
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def tracking_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own: a new SQLite file (no schema yet), or a new PostgreSQL
    database with the schema. Migrations are tested on empty ones (``pg_uri``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/runs.db"
        return
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    name = cluster.create_database(template=request.getfixturevalue("pg_template"))
    try:
        yield cluster.uri(name)
    finally:
        close_shared_stores()
        cluster.drop_database(name)


@pytest.fixture
def store(tracking_uri: str) -> Iterator[TrackingStore]:
    opened = TrackingStore.open(tracking_uri)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(autouse=True)
def _close_shared_stores() -> Iterator[None]:
    yield
    close_shared_stores()
