"""courses and parents: consent and contact choices

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 19:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('parents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consent_recording', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('contact_email', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('contact_sms', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('parents', schema=None) as batch_op:
        batch_op.drop_column('contact_sms')
        batch_op.drop_column('contact_email')
        batch_op.drop_column('consent_recording')
