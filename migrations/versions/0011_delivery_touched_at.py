"""when a send task last took up an invite or reminder delivery (the stale-delivery reaper)

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('invite_deliveries', 'reminder_deliveries'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('touched_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    for table in ('invite_deliveries', 'reminder_deliveries'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('touched_at')
