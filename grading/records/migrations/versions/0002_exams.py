"""exams: drawn papers, exam rules, item answers and slots (issue 14)

Revision ID: 0002_exams
Revises: 89ec35e23c54
Create Date: 2026-12-03 18:50:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002_exams"
down_revision: Union[str, Sequence[str], None] = "89ec35e23c54"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "papers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.String(length=64), nullable=False),
        sa.Column("assignment", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("bank_digest", sa.String(length=128), nullable=False),
        sa.Column("drawn_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["learner_id"], ["learners.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("learner_id", "course_id", "assignment", "attempt"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_papers_learner_id"), ["learner_id"], unique=False)
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rules", sa.JSON(), nullable=True))
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rules", sa.JSON(), nullable=True))
    with op.batch_alter_table("item_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answer", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("slot", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("item_results", schema=None) as batch_op:
        batch_op.drop_column("slot")
        batch_op.drop_column("answer")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("rules")
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_column("rules")
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_papers_learner_id"))
    op.drop_table("papers")
