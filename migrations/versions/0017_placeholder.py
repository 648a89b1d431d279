"""consent per course and at recording time (issue 17) -- placeholder, filled in by the work on that issue (empty until then)

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
