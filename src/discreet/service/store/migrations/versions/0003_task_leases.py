"""running tasks hold a lease renewed by their worker's heartbeat; tries are counted

Revision ID: 0003
Revises: 0002

``lease_owner``/``lease_until``: only a task whose lease expired is taken over by another process
(before, every process re-queued every running task at start, even those another live process ran).
``attempts``: how many times the task was claimed, so a task that keeps killing its worker ends failed.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(100), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.create_index("ix_tasks_lease_owner", ["lease_owner"])


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_lease_owner")
        batch.drop_column("attempts")
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
