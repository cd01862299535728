"""The tracking tables, as SQLAlchemy Core sees them (the migrations create them).

::

    runs(id PK, name, kind, parent_id, stage, status, git_commit, dirty, username,
         start_time, end_time, outs JSON, environment_id -> environments, fingerprint, error)
    environments(digest PK, body JSON)      one row per distinct environment
    params(run_id, key PK, value JSON, value_text, value_num)
    metrics(id PK, run_id, key, step, value, timestamp)        every logged point
    latest_metrics(run_id, key PK, value, step, timestamp)     the newest point per key
    tags(run_id, key PK, value)

Times are seconds since the epoch (UTC). Rows of params, metrics, latest_metrics
and tags go with their run (``ON DELETE CASCADE``). ``HEAD_REVISION`` is the
newest migration; a test checks it against Alembic's head.
"""

from __future__ import annotations

import sqlalchemy as sa

from lockstep.tracking.revision import HEAD_REVISION

__all__ = ["HEAD_REVISION", "environments", "latest_metrics", "metadata", "params", "runs", "tags"]

metadata = sa.MetaData()
_RunId = sa.String(32)
_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_ref() -> sa.Column[str]:
    return sa.Column("run_id", _RunId, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)


environments = sa.Table(
    "environments",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", _RunId, primary_key=True),
    sa.Column("name", sa.String),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("parent_id", _RunId, index=True),
    sa.Column("stage", sa.String, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("dirty", sa.Boolean),
    sa.Column("username", sa.String),
    sa.Column("start_time", sa.Double, nullable=False, index=True),
    sa.Column("end_time", sa.Double),
    sa.Column("outs", sa.Text, nullable=False),
    sa.Column("environment_id", sa.String(64), sa.ForeignKey("environments.digest")),
    sa.Column("fingerprint", sa.String, index=True),
    sa.Column("error", sa.Text),
)

params = sa.Table(
    "params",
    metadata,
    _run_ref(),
    sa.Column("key", sa.String, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("value_text", sa.Text, nullable=False),
    sa.Column("value_num", sa.Double),
    sa.PrimaryKeyConstraint("run_id", "key"),
    sa.Index("ix_params_key_value_num", "key", "value_num"),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    _run_ref(),
    sa.Column("key", sa.String, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Double),
    sa.Column("timestamp", sa.Double, nullable=False),
    sa.Index("ix_metrics_run_id_key_step", "run_id", "key", "step"),
)

latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    _run_ref(),
    sa.Column("key", sa.String, nullable=False),
    sa.Column("value", sa.Double),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.Double, nullable=False),
    sa.PrimaryKeyConstraint("run_id", "key"),
    sa.Index("ix_latest_metrics_key_value", "key", "value"),
)

tags = sa.Table(
    "tags",
    metadata,
    _run_ref(),
    sa.Column("key", sa.String, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("run_id", "key"),
)
