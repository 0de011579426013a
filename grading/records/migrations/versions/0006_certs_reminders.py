"""certificate numbers, reminders sent, unit administrators' scopes (issue 16)

Revision ID: 0006_certs_reminders
Revises: 0005_admin_content
Create Date: 2026-12-04 08:30:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006_certs_reminders"
down_revision: Union[str, Sequence[str], None] = "0005_admin_content"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # nullable columns without a server default: a plain ADD COLUMN on SQLite and PostgreSQL
    op.add_column("learners", sa.Column("admin_scope_unit_id", sa.Integer(), nullable=True))
    op.add_column("learners", sa.Column("email", sa.String(length=120), nullable=True))
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("courses", sa.JSON(), nullable=False),
        sa.Column("hours", sa.Float(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["learner_id"], ["learners.id"]),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
        sa.UniqueConstraint("learner_id", "campaign_id"),
    )
    op.create_index("ix_certificates_learner_id", "certificates", ["learner_id"])
    op.create_table(
        "reminders_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channels", sa.String(length=40), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("sent_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["learner_id"], ["learners.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("learner_id", "day"),
    )
    op.create_index("ix_reminders_sent_learner_id", "reminders_sent", ["learner_id"])


def downgrade() -> None:
    op.drop_index("ix_reminders_sent_learner_id", table_name="reminders_sent")
    op.drop_table("reminders_sent")
    op.drop_index("ix_certificates_learner_id", table_name="certificates")
    op.drop_table("certificates")
    with op.batch_alter_table("learners") as batch:
        batch.drop_column("email")
        batch.drop_column("admin_scope_unit_id")
