"""texts per language (issue 19) -- placeholder, filled in by the work on that issue (empty until then)

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
