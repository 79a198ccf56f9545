"""Initial schema: experiments, runs, metric points, log chunks.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from dashboard.db.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
        sa.UniqueConstraint("name", name="uq_experiments_name"),
    )
    op.create_table(
        "experiment_runs",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("command", sa.Text),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("exit_code", sa.Integer),
        sa.Column("metrics", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_experiment_runs"),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.id"], ondelete="CASCADE",
            name="fk_experiment_runs_experiment_id_experiments",
        ),
    )
    op.create_index("ix_experiment_runs_experiment_id", "experiment_runs", ["experiment_id"])
    op.create_table(
        "metric_points",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", "step", name="pk_metric_points"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["experiment_runs.id"], ondelete="CASCADE",
            name="fk_metric_points_run_id_experiment_runs",
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "log_chunks",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_log_chunks"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["experiment_runs.id"], ondelete="CASCADE",
            name="fk_log_chunks_run_id_experiment_runs",
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("log_chunks")
    op.drop_table("metric_points")
    op.drop_index("ix_experiment_runs_experiment_id", "experiment_runs")
    op.drop_table("experiment_runs")
    op.drop_table("experiments")
