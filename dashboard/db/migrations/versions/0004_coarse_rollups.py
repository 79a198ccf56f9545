"""Coarse metric rollups: a summary row per COARSE steps of each metric, backfilled from the
64-step rollups.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

from dashboard.db.rollups import COARSE_BACKFILL_SQL

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_rollups_coarse",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("nonfinite", sa.Integer, nullable=False),
        sa.Column("first_step", sa.BigInteger, nullable=False),
        sa.Column("first_value", sa.Float),
        sa.Column("last_step", sa.BigInteger, nullable=False),
        sa.Column("last_value", sa.Float),
        sa.Column("min_step", sa.BigInteger),
        sa.Column("min_value", sa.Float),
        sa.Column("max_step", sa.BigInteger),
        sa.Column("max_value", sa.Float),
        sa.Column("nan_step", sa.BigInteger),
        sa.Column("posinf_step", sa.BigInteger),
        sa.Column("neginf_step", sa.BigInteger),
        sa.PrimaryKeyConstraint("run_id", "name", "bucket", name="pk_metric_rollups_coarse"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["experiment_runs.id"], ondelete="CASCADE",
            name="fk_metric_rollups_coarse_run_id_experiment_runs",
        ),
        sqlite_with_rowid=False,
    )
    op.execute(COARSE_BACKFILL_SQL)


def downgrade() -> None:
    op.drop_table("metric_rollups_coarse")
