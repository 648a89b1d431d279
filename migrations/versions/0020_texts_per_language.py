"""texts per language (issue 19): course and session titles and descriptions in the parents' languages

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

TABLES = ("courses", "workshop_session")


def upgrade():
    # A plain ADD COLUMN (with its default) on SQLite too: rebuilding `courses` would cascade its enrolments away.
    for table in TABLES:
        op.add_column(table, sa.Column('translations', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('translations')
