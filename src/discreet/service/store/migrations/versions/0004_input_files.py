"""a queued task's image may wait in a shared folder (DISCREET_INPUT_DIR) instead of the database

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_inputs") as batch:
        batch.add_column(sa.Column("image_path", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_inputs") as batch:
        batch.drop_column("image_path")
