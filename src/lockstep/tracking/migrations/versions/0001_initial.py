"""The first schema: runs, environments, params, metrics, latest_metrics, tags.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RUN_ID = sa.String(32)
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_ref() -> sa.Column[str]:
    return sa.Column("run_id", RUN_ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "environments",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
    )
    _create_runs()
    _create_params()
    _create_metrics()
    op.create_table(
        "tags",
        _run_ref(),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key"),
    )


def _create_runs() -> None:
    op.create_table(
        "runs",
        sa.Column("id", RUN_ID, primary_key=True),
        sa.Column("name", sa.String),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("parent_id", RUN_ID),
        sa.Column("stage", sa.String),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("git_commit", sa.String(64)),
        sa.Column("dirty", sa.Boolean),
        sa.Column("username", sa.String),
        sa.Column("start_time", sa.Double, nullable=False),
        sa.Column("end_time", sa.Double),
        sa.Column("outs", sa.Text, nullable=False),
        sa.Column("environment_id", sa.String(64), sa.ForeignKey("environments.digest")),
        sa.Column("fingerprint", sa.String),
        sa.Column("error", sa.Text),
    )
    for column in ("parent_id", "stage", "start_time", "fingerprint"):
        op.create_index(f"ix_runs_{column}", "runs", [column])


def _create_params() -> None:
    op.create_table(
        "params",
        _run_ref(),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("value_text", sa.Text, nullable=False),
        sa.Column("value_num", sa.Double),
        sa.PrimaryKeyConstraint("run_id", "key"),
    )
    op.create_index("ix_params_key_value_num", "params", ["key", "value_num"])


def _create_metrics() -> None:
    op.create_table(
        "metrics",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        _run_ref(),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Double),
        sa.Column("timestamp", sa.Double, nullable=False),
    )
    op.create_index("ix_metrics_run_id_key_step", "metrics", ["run_id", "key", "step"])
    op.create_table(
        "latest_metrics",
        _run_ref(),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("value", sa.Double),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key"),
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])


def downgrade() -> None:
    for table in ("tags", "latest_metrics", "metrics", "params", "runs", "environments"):
        op.drop_table(table)
