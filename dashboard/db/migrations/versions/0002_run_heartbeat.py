"""Run heartbeat: `updated_at`, touched at every flush, to detect captures that died.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

from dashboard.db.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiment_runs") as batch:
        batch.add_column(sa.Column("updated_at", UTCDateTime))
    op.execute("UPDATE experiment_runs SET updated_at = COALESCE(finished_at, started_at)")
    op.create_index("ix_experiment_runs_status_updated", "experiment_runs", ["status", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_experiment_runs_status_updated", "experiment_runs")
    with op.batch_alter_table("experiment_runs") as batch:
        batch.drop_column("updated_at")
