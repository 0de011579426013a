"""campaign guidance notes (导学) and announcements (issue 16)

Revision ID: 0005_admin_content
Revises: 0004_law_review
Create Date: 2026-12-04 08:30:00

"""
from typing import Sequence, Union

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0005_admin_content"
down_revision: Union[str, Sequence[str], None] = "0004_law_review"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "campaign_guidance",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("leader", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.PrimaryKeyConstraint("campaign_id"),
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(length=20), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("posted_at", sa.DateTime(), nullable=False),
        sa.Column("posted_by", sa.String(length=64), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notices_live", "notices", ["withdrawn_at", "posted_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_notices_live", table_name="notices")
    op.drop_table("notices")
    op.drop_table("campaign_guidance")
