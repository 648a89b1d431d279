"""review before publish: a new recording waits in `ready_for_review` until a trainer publishes it, unless its course
publishes automatically (issue "a trainer's week that can be trusted", item 6)

Existing courses start with `publish_automatically` off, as new ones do: their next recordings wait for review.
Recordings published before stay published.

Revision ID: 0014
Revises: 0013
"""
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


def upgrade():
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('publish_automatically', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    if op.get_bind().dialect.name == 'postgresql':
        # ADD VALUE cannot run inside a transaction block before PostgreSQL 12, nor be used in the one that adds it.
        with op.get_context().autocommit_block():
            op.execute("ALTER TYPE recording_state ADD VALUE IF NOT EXISTS 'ready_for_review' BEFORE 'published'")
    else:  # SQLite: the enum is a VARCHAR as long as its longest value
        with op.batch_alter_table('recordings', schema=None) as batch_op:
            batch_op.alter_column('state', existing_type=sa.Enum(*OLD_STATES, name='recording_state'),
                                  type_=sa.Enum(*NEW_STATES, name='recording_state'), existing_nullable=False)


def downgrade():
    # The states as literals: a bound VARCHAR parameter does not compare with PostgreSQL's enum type.
    op.execute(sa.text("UPDATE recordings SET state = 'failed', failed_step = 'publishing', error_message = :message "
                       "WHERE state = 'ready_for_review'").bindparams(message=DOWNGRADE_MESSAGE))
    if op.get_bind().dialect.name != 'postgresql':  # PostgreSQL cannot drop an enum value; it stays unused
        with op.batch_alter_table('recordings', schema=None) as batch_op:
            batch_op.alter_column('state', existing_type=sa.Enum(*NEW_STATES, name='recording_state'),
                                  type_=sa.Enum(*OLD_STATES, name='recording_state'), existing_nullable=False)
    with op.batch_alter_table('courses', schema=None) as batch_op:
        batch_op.drop_column('publish_automatically')
