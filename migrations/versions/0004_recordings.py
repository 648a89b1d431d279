"""recordings

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

STATES = ('received', 'probing', 'queued', 'transcoding', 'transcoded', 'publishing', 'published', 'expired',
          'failed')


def upgrade():
    op.create_table(
        'recordings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uuid', sa.String(length=32), nullable=False),
        sa.Column('course_id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=True),
        sa.Column('source', sa.Enum('upload', 'jibri', 'jaas', name='recording_source'), nullable=False),
        sa.Column('state', sa.Enum(*STATES, name='recording_state'), nullable=False),
        sa.Column('failed_step', sa.String(length=32), nullable=True),
        sa.Column('error_message', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('progress', sa.Float(), nullable=False),
        sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('original_key', sa.String(length=512), nullable=True),
        sa.Column('original_filename', sa.String(length=255), nullable=True),
        sa.Column('original_size', sa.BigInteger(), nullable=True),
        sa.Column('original_sha256', sa.String(length=64), nullable=True),
        sa.Column('source_ref', sa.String(length=255), nullable=True),
        sa.Column('source_url', sa.Text(), nullable=True),
        sa.Column('duration_s', sa.Float(), nullable=True),
        sa.Column('width', sa.Integer(), nullable=True),
        sa.Column('height', sa.Integer(), nullable=True),
        sa.Column('probe', sa.JSON(), nullable=True),
        sa.Column('renditions', sa.JSON(), nullable=True),
        sa.Column('published_prefix', sa.String(length=512), nullable=True),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_recordings_course_id_courses'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['session_id'], ['workshop_session.id'],
                                name=op.f('fk_recordings_session_id_workshop_session'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recordings')),
        sa.UniqueConstraint('uuid', name=op.f('uq_recordings_uuid')),
        sa.UniqueConstraint('source_ref', name=op.f('uq_recordings_source_ref')),
    )
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recordings_course_id'), ['course_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recordings_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recordings_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_recordings_expires_at'), ['expires_at'], unique=False)


def downgrade():
    op.drop_table('recordings')
    sa.Enum(name='recording_state').drop(op.get_bind(), checkfirst=True)
    sa.Enum(name='recording_source').drop(op.get_bind(), checkfirst=True)
