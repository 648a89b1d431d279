"""help requests: a parent's "I can't get in" for a session, stored for the trainer's live page (issue 17)

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'help_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['session_id'], ['workshop_session.id'],
                                name=op.f('fk_help_requests_session_id_workshop_session'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['parent_id'], ['parents.id'], name=op.f('fk_help_requests_parent_id_parents'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_help_requests')),
    )
    with op.batch_alter_table('help_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_help_requests_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_help_requests_parent_id'), ['parent_id'], unique=False)


def downgrade():
    op.drop_table('help_requests')
