"""watch progress per parent and recording

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'watch_progress',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('recording_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('position_s', sa.Float(), nullable=False),
        sa.Column('furthest_s', sa.Float(), nullable=False),
        sa.Column('duration_s', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['parent_id'], ['parents.id'], name=op.f('fk_watch_progress_parent_id_parents'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'],
                                name=op.f('fk_watch_progress_recording_id_recordings'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_watch_progress')),
        sa.UniqueConstraint('recording_id', 'parent_id', name=op.f('uq_watch_progress_recording_id')),
    )
    with op.batch_alter_table('watch_progress', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_watch_progress_recording_id'), ['recording_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_watch_progress_parent_id'), ['parent_id'], unique=False)


def downgrade():
    op.drop_table('watch_progress')
