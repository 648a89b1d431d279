"""sessions: invitees, recording consent log, attendance events, room samples

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _session_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(['session_id'], ['workshop_session.id'],
                                   name=op.f(f'fk_{table}_session_id_workshop_session'), ondelete='CASCADE')


def _parent_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(['parent_id'], ['parents.id'], name=op.f(f'fk_{table}_parent_id_parents'),
                                   ondelete='CASCADE')


def _index(table: str, *columns: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.create_index(batch_op.f(f'ix_{table}_{column}'), [column], unique=False)


def upgrade():
    with op.batch_alter_table('workshop_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('invite_whole_course', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.create_table(
        'workshop_session_invitees',
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        _session_fk('workshop_session_invitees'),
        _parent_fk('workshop_session_invitees'),
        sa.PrimaryKeyConstraint('session_id', 'parent_id', name=op.f('pk_workshop_session_invitees')),
    )
    op.create_table(
        'recording_consents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('objected', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        _session_fk('recording_consents'),
        _parent_fk('recording_consents'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_consents')),
    )
    _index('recording_consents', 'session_id', 'parent_id')
    op.create_table(
        'attendance_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('join_click', 'joined', 'left', name='attendance_kind'), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        _session_fk('attendance_events'),
        _parent_fk('attendance_events'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance_events')),
    )
    _index('attendance_events', 'session_id', 'parent_id')
    op.create_table(
        'room_samples',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('participants', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        _session_fk('room_samples'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_room_samples')),
    )
    _index('room_samples', 'session_id')


def downgrade():
    op.drop_table('room_samples')
    op.drop_table('attendance_events')
    op.drop_table('recording_consents')
    op.drop_table('workshop_session_invitees')
    with op.batch_alter_table('workshop_session', schema=None) as batch_op:
        batch_op.drop_column('invite_whole_course')
    sa.Enum(name='attendance_kind').drop(op.get_bind(), checkfirst=True)
