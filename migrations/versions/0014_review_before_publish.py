"""review before publish: a new recording waits in `ready_for_review` until a trainer publishes it, unless its course
publishes automatically (issue "a trainer's week that can be trusted", item 6)

Existing courses start with `publish_automatically` off, as new ones do: their next recordings wait for review.
Recordings published before stay published.

Revision ID: 0014
Revises: 0013
"""
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

OLD_STATES = ('received', 'probing', 'queued', 'transcoding', 'transcoded', 'publishing', 'published', 'expired',
              'failed')
NEW_STATES = ('received', 'probing', 'queued', 'transcoding', 'transcoded', 'publishing', 'ready_for_review',
              'published', 'expired', 'failed')
#: Where a recording in review goes on a downgrade: failed at publishing, so nothing reaches parents unasked and
#: the trainer's Retry publishes it again.
DOWNGRADE_MESSAGE = 'De opname wachtte op controle toen de software werd teruggezet. Probeer het opnieuw.'


@contextmanager
def _sqlite_foreign_keys_off():
    # SQLite changes a column type (or drops a column) by copying the table and dropping the old one; with foreign
    # keys on, that DROP would cascade (a recording's watch progress, a course's recordings and enrolments).
    # The pragma only takes effect outside a transaction.
    context = op.get_context()
    with context.autocommit_block():
        op.execute('PRAGMA foreign_keys=OFF')
    try:
        yield
    finally:
        with context.autocommit_block():
            op.execute('PRAGMA foreign_keys=ON')


def _state_type(old, new):
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.alter_column('state', existing_type=sa.Enum(*old, name='recording_state'),
                              type_=sa.Enum(*new, name='recording_state'), existing_nullable=False)


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.add_column('courses', sa.Column('publish_automatically', sa.Boolean(), server_default=sa.false(),
                                           nullable=False))
        # ADD VALUE cannot run inside a transaction block before PostgreSQL 12, nor be used in the one that adds it.
        with op.get_context().autocommit_block():
            op.execute("ALTER TYPE recording_state ADD VALUE IF NOT EXISTS 'ready_for_review' BEFORE 'published'")
        return
    with _sqlite_foreign_keys_off():
        with op.batch_alter_table('courses', schema=None) as batch_op:
            batch_op.add_column(sa.Column('publish_automatically', sa.Boolean(), server_default=sa.false(),
                                          nullable=False))
        _state_type(OLD_STATES, NEW_STATES)  # the enum is a VARCHAR as long as its longest value


def downgrade():
    # The states as literals: a bound VARCHAR parameter does not compare with PostgreSQL's enum type.
    op.execute(sa.text("UPDATE recordings SET state = 'failed', failed_step = 'publishing', error_message = :message "
                       "WHERE state = 'ready_for_review'").bindparams(message=DOWNGRADE_MESSAGE))
    if op.get_bind().dialect.name == 'postgresql':  # PostgreSQL cannot drop an enum value; it stays unused
        op.drop_column('courses', 'publish_automatically')
        return
    with _sqlite_foreign_keys_off():
        _state_type(NEW_STATES, OLD_STATES)
        with op.batch_alter_table('courses', schema=None) as batch_op:
            batch_op.drop_column('publish_automatically')
