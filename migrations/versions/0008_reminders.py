"""reminder offsets per course, RSVP answers, delivery failures (issue 5)

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

FAILURES = ('unreachable', 'refused', 'setup', 'uncertain', 'cancelled', 'too_late', 'other')
#: Reminder kinds were "day"/"hour"; they are now the offset in minutes @ the session's SEQUENCE.
OLD_KINDS = {'day': '1440@0', 'hour': '60@0'}


def _failure_type(bind):
    if bind.dialect.name == 'postgresql':
        # One named type shared by two tables: created once here, not by each add_column.
        return postgresql.ENUM(*FAILURES, name='delivery_failure_reason', create_type=False)
    return sa.Enum(*FAILURES, name='delivery_failure_reason')


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        postgresql.ENUM(*FAILURES, name='delivery_failure_reason').create(bind, checkfirst=True)
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminder_offsets', sa.JSON(), server_default=sa.text("'[1440, 60]'"),
                                      nullable=False))
    with op.batch_alter_table('parents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contact_whatsapp', sa.Boolean(), server_default=sa.false(), nullable=False))
    for table in ('invite_deliveries', 'reminder_deliveries'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('failure', _failure_type(bind), nullable=True))
    deliveries = sa.table('reminder_deliveries', sa.column('kind', sa.String))
    for old, new in OLD_KINDS.items():
        op.execute(deliveries.update().where(deliveries.c.kind == old).values(kind=new))
    op.create_table(
        'rsvps',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('answer', sa.Enum('coming', 'not_coming', name='rsvp_answer'), nullable=False),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['parent_id'], ['parents.id'], name=op.f('fk_rsvps_parent_id_parents'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['session_id'], ['workshop_session.id'],
                                name=op.f('fk_rsvps_session_id_workshop_session'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rsvps')),
        sa.UniqueConstraint('session_id', 'parent_id', name=op.f('uq_rsvps_session_id')),
    )
    with op.batch_alter_table('rsvps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rsvps_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rsvps_parent_id'), ['parent_id'], unique=False)


def downgrade():
    bind = op.get_bind()
    op.drop_table('rsvps')
    sa.Enum(name='rsvp_answer').drop(bind, checkfirst=True)
    deliveries = sa.table('reminder_deliveries', sa.column('kind', sa.String))
    for old, new in OLD_KINDS.items():
        op.execute(deliveries.update().where(deliveries.c.kind == new).values(kind=old))
    for table in ('invite_deliveries', 'reminder_deliveries'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('failure')
    sa.Enum(name='delivery_failure_reason').drop(bind, checkfirst=True)
    with op.batch_alter_table('parents', schema=None) as batch_op:
        batch_op.drop_column('contact_whatsapp')
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.drop_column('reminder_offsets')
