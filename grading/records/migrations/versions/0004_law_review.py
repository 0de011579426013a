"""述法评议: review panels, reviewers' scores (issue 17)

Revision ID: 0004_law_review
Revises: 0003_audit_log
Create Date: 2026-12-04 08:30:00

"""
from typing import Sequence, Union

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0004_law_review"
down_revision: Union[str, Sequence[str], None] = "0003_audit_log"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
