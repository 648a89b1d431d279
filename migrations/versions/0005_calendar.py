"""calendar feeds, invite and reminder deliveries

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

STATUSES = ('pending', 'sent', 'failed')


def _delivery_columns(status_enum: str) -> list:
    return [
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.Enum(*STATUSES, name=status_enum), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade():
    op.create_table(
        'calendar_feeds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=True),
        sa.Column('course_id', sa.Integer(), nullable=True),
        sa.Column('nonce', sa.String(length=43), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('(parent_id IS NULL) <> (course_id IS NULL)', name=op.f('ck_calendar_feeds_one_owner')),
        sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_calendar_feeds_course_id_courses'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['parent_id'], ['parents.id'], name=op.f('fk_calendar_feeds_parent_id_parents'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_feeds')),
        sa.UniqueConstraint('course_id', name=op.f('uq_calendar_feeds_course_id')),
        sa.UniqueConstraint('parent_id', name=op.f('uq_calendar_feeds_parent_id')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_calendar_feeds_token_hash')),
    )
    op.create_table(
        'invite_deliveries',
        *_delivery_columns('invite_delivery_status'),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('method', sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(['parent_id'], ['parents.id'], name=op.f('fk_invite_deliveries_parent_id_parents'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['session_id'], ['workshop_session.id'],
                                name=op.f('fk_invite_deliveries_session_id_workshop_session'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_invite_deliveries')),
        sa.UniqueConstraint('session_id', 'parent_id', 'sequence', 'method',
                            name=op.f('uq_invite_deliveries_session_id')),
    )
    op.create_table(
        'reminder_deliveries',
        *_delivery_columns('reminder_delivery_status'),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(['parent_id'], ['parents.id'], name=op.f('fk_reminder_deliveries_parent_id_parents'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['session_id'], ['workshop_session.id'],
                                name=op.f('fk_reminder_deliveries_session_id_workshop_session'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder_deliveries')),
        sa.UniqueConstraint('session_id', 'parent_id', 'kind', 'channel',
                            name=op.f('uq_reminder_deliveries_session_id')),
    )
    for table in ('invite_deliveries', 'reminder_deliveries'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f'ix_{table}_session_id'), ['session_id'], unique=False)
            batch_op.create_index(batch_op.f(f'ix_{table}_parent_id'), ['parent_id'], unique=False)


def downgrade():
    op.drop_table('reminder_deliveries')
    op.drop_table('invite_deliveries')
    op.drop_table('calendar_feeds')
    sa.Enum(name='reminder_delivery_status').drop(op.get_bind(), checkfirst=True)
    sa.Enum(name='invite_delivery_status').drop(op.get_bind(), checkfirst=True)
