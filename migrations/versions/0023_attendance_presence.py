"""attendance from presence: heartbeats of the lobby page and the source of each attendance event (issue 17, item 4)

`attendance_kind` gains `heartbeat`; `attendance_events.source` says who reported the event (`page`: the parent's
lobby page, `jaas`: a JaaS PARTICIPANT_JOINED/LEFT webhook). Existing rows came from the page. An index on
(session_id, parent_id, kind, id) lets a heartbeat find its visit's row in one lookup.

Revision ID: 0023
Revises: 0021
"""
import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0021'
branch_labels = None
depends_on = None

SOURCE = sa.Enum('page', 'jaas', name='attendance_source')


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        # ADD VALUE cannot run inside a transaction block before PostgreSQL 12, nor be used in the one that adds it.
        with op.get_context().autocommit_block():
            op.execute("ALTER TYPE attendance_kind ADD VALUE IF NOT EXISTS 'heartbeat'")
        SOURCE.create(bind, checkfirst=True)
    # On SQLite the kind is a VARCHAR as long as its longest value ('join_click'), which 'heartbeat' fits.
    op.add_column('attendance_events', sa.Column('source', SOURCE, server_default='page', nullable=False))
    # The page's heartbeat finds its visit's row (max id of the parent's heartbeats in the session) in this index.
    op.create_index('ix_attendance_events_session_parent_kind', 'attendance_events',
                    ['session_id', 'parent_id', 'kind', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_attendance_events_session_parent_kind', table_name='attendance_events')
    op.execute("DELETE FROM attendance_events WHERE kind = 'heartbeat'")
    with op.batch_alter_table('attendance_events', schema=None) as batch_op:
        batch_op.drop_column('source')
    if op.get_bind().dialect.name == 'postgresql':  # PostgreSQL cannot drop an enum value; 'heartbeat' stays unused
        SOURCE.drop(op.get_bind(), checkfirst=True)
