"""Compressed log chunks: `packed` (the chunk's UTF-8, compressed) and `chars` (its length in
characters); a packed chunk's `text` is empty. Existing chunks stay as they are; going back
unpacks every chunk into `text`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("log_chunks", sa.Column("packed", sa.LargeBinary))
    op.add_column("log_chunks", sa.Column("chars", sa.Integer))


def downgrade() -> None:
    from dashboard.db.logtext import unpack

    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT run_id, seq, packed FROM log_chunks WHERE packed IS NOT NULL")).all()
    conn.execute(sa.text("UPDATE log_chunks SET text = :text WHERE run_id = :run_id AND seq = :seq"),
                 [{"run_id": run_id, "seq": seq, "text": unpack("", packed)} for run_id, seq, packed in rows])
    with op.batch_alter_table("log_chunks") as batch:
        batch.drop_column("chars")
        batch.drop_column("packed")
