"""moderation: tenant policies, picture lists (hashes only) and their entries, term lists

Revision ID: 0006
Revises: 0005

A picture list entry keeps the PDQ hashes of a picture (32 bytes each, concatenated), never the
picture. ``picture_lists.revision`` goes up with every entry change so each process can tell when
its in-memory copy of a list is stale.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "moderation_policies",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("tenant", "name", name="uq_moderation_policies_name"),
    )
    op.create_table(
        "picture_lists",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("tenant", "name", name="uq_picture_lists_name"),
    )
    op.create_table(
        "picture_list_entries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("list_id", sa.String(36), sa.ForeignKey("picture_lists.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "term_lists",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("tenant", "name", name="uq_term_lists_name"),
    )


def downgrade() -> None:
    for table in ("term_lists", "picture_list_entries", "picture_lists", "moderation_policies"):
        op.drop_table(table)
