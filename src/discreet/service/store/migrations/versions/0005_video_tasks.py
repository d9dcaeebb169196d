"""video tasks: a task kind and its options, progress while it runs, and the anonymized video's file

Revision ID: 0005
Revises: 0004

``kind`` is NULL for image scans (every task before this revision) and ``video`` for
``POST /v1/video/async``. ``output_path`` names the anonymized video on disk; the file is deleted
with its task (erased, expired, failed or canceled).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=True))
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("progress", sa.Float(), nullable=True))
        batch.add_column(sa.Column("output_path", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        for column in ("output_path", "progress", "options", "kind"):
            batch.drop_column(column)
