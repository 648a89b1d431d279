"""messages on every channel, cancellation reason (issue 17): invites, changes and cancellations go out per channel
(e-mail, SMS, WhatsApp, or `none` when a parent can't be reached: recorded failed with `no_channel`), a change
message keeps the times it changed from, and a cancelled session keeps the trainer's reason

Existing invite deliveries were all e-mail. The downgrade deletes the SMS, WhatsApp and "can't be reached" rows (the
old unique key has no channel); on PostgreSQL the `no_channel` enum value stays (a value cannot be dropped), unused.

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

OLD_KEY = ['session_id', 'parent_id', 'sequence', 'method']
NEW_KEY = [*OLD_KEY, 'channel']
#: The partial indexes of the table (0013): dropped and made again around SQLite's table copy, which loses WHERE.
PARTIAL = [('ix_invite_deliveries_pending', ['id'], "status = 'pending'"),
           ('ix_invite_deliveries_failed', ['session_id'], "status = 'failed'")]


def _unique_key(columns):
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        for name, _columns, _where in PARTIAL:
            op.drop_index(name, table_name='invite_deliveries')
    with op.batch_alter_table('invite_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint('uq_invite_deliveries_session_id', type_='unique')
        batch_op.create_unique_constraint('uq_invite_deliveries_session_id', columns)
    if sqlite:
        for name, index_columns, where in PARTIAL:
            op.create_index(name, 'invite_deliveries', index_columns, unique=False,
                            postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def upgrade():
    op.add_column('workshop_session', sa.Column('cancellation_reason', sa.Text(), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        # ADD VALUE cannot run inside a transaction block before PostgreSQL 12.
        with op.get_context().autocommit_block():
            op.execute("ALTER TYPE delivery_failure_reason ADD VALUE IF NOT EXISTS 'no_channel'")
    op.add_column('invite_deliveries', sa.Column('channel', sa.String(length=8), server_default='email',
                                                 nullable=False))
    op.add_column('invite_deliveries', sa.Column('changed_from', sa.Text(), nullable=True))
    _unique_key(NEW_KEY)


def downgrade():
    op.execute("DELETE FROM invite_deliveries WHERE channel <> 'email'")
    _unique_key(OLD_KEY)
    with op.batch_alter_table('invite_deliveries', schema=None) as batch_op:
        batch_op.drop_column('changed_from')
        batch_op.drop_column('channel')
    with op.batch_alter_table('workshop_session', schema=None) as batch_op:
        batch_op.drop_column('cancellation_reason')
