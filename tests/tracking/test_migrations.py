"""Migrations: create from empty, reopen without Alembic, upgrade, refuse the unknown."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from lockstep.errors import TrackingError
from lockstep.tracking import schema
from lockstep.tracking.database import make_engine
from lockstep.tracking.migrate import MIGRATIONS, alembic_config, current_revision, ensure_schema
from lockstep.tracking.store import TrackingStore


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/runs.db"
    uri: str = request.getfixturevalue("pg_uri")
    return uri


def test_head_revision_is_alembics_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_current_head() == schema.HEAD_REVISION


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS / "__init__.py").exists()
    assert (MIGRATIONS / "versions" / "__init__.py").exists()
    assert (MIGRATIONS / "versions" / f"{schema.HEAD_REVISION}_initial.py").exists()


def test_an_empty_database_gets_the_schema_the_code_expects(empty_uri: str) -> None:
    TrackingStore.open(empty_uri).close()
    engine = make_engine(empty_uri)
    try:
        assert current_revision(engine) == schema.HEAD_REVISION
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), schema.metadata)
        assert differences == []
    finally:
        engine.dispose()


REOPEN = """
import json, sys
from lockstep.tracking.store import TrackingStore
with TrackingStore.open(sys.argv[1]) as store:
    store.create_run(kind="adhoc")
print(json.dumps("alembic" in sys.modules))
"""


def test_reopening_an_up_to_date_database_does_not_load_alembic(empty_uri: str) -> None:
    TrackingStore.open(empty_uri).close()
    done = subprocess.run(
        [sys.executable, "-c", REOPEN, empty_uri],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert json.loads(done.stdout) is False


def test_a_database_newer_than_the_code_is_refused(empty_uri: str) -> None:
    TrackingStore.open(empty_uri).close()
    engine = make_engine(empty_uri)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    with pytest.raises(TrackingError, match=r"revision 9999.*upgrade lockstep"):
        TrackingStore.open(empty_uri)


UPGRADE = '''
"""Test only: a note on each run."""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("runs", sa.Column("note", sa.Text))
    op.execute("UPDATE runs SET note = 'migrated'")
{fail}
'''


def _scripts_with_0002(tmp_path: Path, fail: bool) -> Path:
    location = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, location, ignore=shutil.ignore_patterns("__pycache__"))
    body = UPGRADE.format(fail='    raise RuntimeError("half way")' if fail else "")
    (location / "versions" / "0002_note.py").write_text(body)
    return location


def test_a_database_at_0001_is_upgraded_and_keeps_its_runs(empty_uri: str, tmp_path: Path) -> None:
    with TrackingStore.open(empty_uri) as store:
        run_id = store.create_run(kind="adhoc", name="old", params={"lr": 0.1})
    engine = make_engine(empty_uri)
    try:
        ensure_schema(engine, "test", head="0002", location=_scripts_with_0002(tmp_path, False))
        assert current_revision(engine) == "0002"
        with engine.connect() as conn:
            note = conn.execute(sa.text("SELECT note FROM runs WHERE id = :i"), {"i": run_id})
            assert note.scalar() == "migrated"
    finally:
        engine.dispose()


def test_a_failed_migration_leaves_the_previous_revision(empty_uri: str, tmp_path: Path) -> None:
    TrackingStore.open(empty_uri).close()
    engine = make_engine(empty_uri)
    try:
        location = _scripts_with_0002(tmp_path, True)
        with pytest.raises(TrackingError, match="cannot migrate the schema to 0002: half way"):
            ensure_schema(engine, "test", head="0002", location=location)
        assert current_revision(engine) == "0001"
        columns = {c["name"] for c in sa.inspect(engine).get_columns("runs")}
        assert "note" not in columns
    finally:
        engine.dispose()
    TrackingStore.open(empty_uri).close()  # still usable by this lockstep
