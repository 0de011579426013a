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
    pass


def downgrade() -> None:
    pass
