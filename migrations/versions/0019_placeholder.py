"""trainer live page help requests, session edits (issue 17) -- placeholder, filled in by the work on that issue (empty until then)

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
