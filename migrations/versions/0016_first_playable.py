"""recording first playable version (issue 18): the state `playable`, `playable_at`, where the first version is stored
(`first_prefix`, `first_renditions`), `playable` in the reaper's partial indexes, and a partial index of the stored
first versions (their removal's reaper)

Plain ADD COLUMN and CREATE/DROP INDEX on SQLite: the state column is a VARCHAR as long as its longest value
('ready_for_review'), with no CHECK constraint, so `playable` needs no table rebuild there.

Revision ID: 0016
Revises: 0015
"""
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

OLD_RUNNING = ('probing', 'transcoding', 'publishing')
OLD_WAITING = ('received', 'queued', 'transcoded')
NEW_RUNNING = (*OLD_RUNNING, 'playable')
NEW_WAITING = (*OLD_WAITING, 'playable')
FIRST_VERSION = {'sqlite_where': sa.text('first_prefix IS NOT NULL'),
                 'postgresql_where': sa.text('first_prefix IS NOT NULL')}
COLUMNS = ('playable_at', 'first_prefix', 'first_renditions')


def _state_in(states):
    # Spelled as each dialect reads it back (PostgreSQL stores an IN list as `= ANY (ARRAY[...])`), as the model does.
    names = ', '.join(f"'{state}'" for state in states)
    typed = ', '.join(f"'{state}'::recording_state" for state in states)
    return {'sqlite_where': sa.text(f'state IN ({names})'),
            'postgresql_where': sa.text(f'state = ANY (ARRAY[{typed}])')}


def _reaper_indexes(running, waiting):
    for name, column, states in (('ix_recordings_running', 'heartbeat_at', running),
                                 ('ix_recordings_waiting', 'updated_at', waiting)):
        op.drop_index(name, table_name='recordings')
        op.create_index(name, 'recordings', [column], unique=False, **_state_in(states))


@contextmanager
def _sqlite_foreign_keys_off():
    # As in 0014: dropping a column on SQLite copies the table; with foreign keys on, dropping the old one cascades.
    context = op.get_context()
    with context.autocommit_block():
        op.execute('PRAGMA foreign_keys=OFF')
    try:
        yield
    finally:
        with context.autocommit_block():
            op.execute('PRAGMA foreign_keys=ON')


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        # ADD VALUE cannot run inside a transaction block before PostgreSQL 12, nor be used in the one that adds it:
        # committed on its own, the indexes below may name it.
        with op.get_context().autocommit_block():
            op.execute("ALTER TYPE recording_state ADD VALUE IF NOT EXISTS 'playable' BEFORE 'queued'")
    op.add_column('recordings', sa.Column('playable_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('recordings', sa.Column('first_prefix', sa.String(length=512), nullable=True))
    op.add_column('recordings', sa.Column('first_renditions', sa.JSON(), nullable=True))
    _reaper_indexes(NEW_RUNNING, NEW_WAITING)
    op.create_index('ix_recordings_first_version', 'recordings', ['updated_at'], unique=False, **FIRST_VERSION)


def downgrade():
    # The older code knows no first version: a recording that plays one waits for its transcode instead. Its stored
    # first version goes with the recording's prefix when it expires or is deleted.
    op.execute("UPDATE recordings SET state = 'queued', heartbeat_at = NULL WHERE state = 'playable'")
    op.execute("UPDATE recordings SET failed_step = 'transcoding' WHERE failed_step = 'transcoding_playable'")
    op.drop_index('ix_recordings_first_version', table_name='recordings')
    _reaper_indexes(OLD_RUNNING, OLD_WAITING)
    if op.get_bind().dialect.name == 'postgresql':  # PostgreSQL cannot drop an enum value; it stays unused
        for column in COLUMNS:
            op.drop_column('recordings', column)
        return
    with _sqlite_foreign_keys_off():
        with op.batch_alter_table('recordings', schema=None) as batch_op:
            for column in COLUMNS:
                batch_op.drop_column(column)
