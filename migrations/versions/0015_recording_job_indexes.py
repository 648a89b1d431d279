"""indexes for the recording jobs: partial indexes of the running and waiting steps (the stale-step reaper) and of
the unexpired recordings (the retention sweep); they replace the single-column indexes on `state` and `expires_at`
(issue "cost that stays flat")

Plain CREATE/DROP INDEX: no table is rebuilt, on SQLite either.

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

RUNNING = ('probing', 'transcoding', 'publishing')
WAITING = ('received', 'queued', 'transcoded')


def _state_in(states):
    # Spelled as each dialect reads it back (PostgreSQL stores an IN list as `= ANY (ARRAY[...])`), as the model does.
    names = ', '.join(f"'{state}'" for state in states)
    typed = ', '.join(f"'{state}'::recording_state" for state in states)
    return {'sqlite_where': sa.text(f'state IN ({names})'),
            'postgresql_where': sa.text(f'state = ANY (ARRAY[{typed}])')}


UNEXPIRED = {'sqlite_where': sa.text("state <> 'expired'"), 'postgresql_where': sa.text("state <> 'expired'")}

#: (new index, its column, its WHERE)
INDEXES = [
    ('ix_recordings_running', 'heartbeat_at', _state_in(RUNNING)),
    ('ix_recordings_waiting', 'updated_at', _state_in(WAITING)),
    ('ix_recordings_unexpired', 'expires_at', UNEXPIRED),
]
#: (old index, its column): nothing else reads recordings by state alone, and only the sweep by expires_at.
REPLACED = [('ix_recordings_state', 'state'), ('ix_recordings_expires_at', 'expires_at')]


def upgrade():
    for name, column, where in INDEXES:
        op.create_index(name, 'recordings', [column], unique=False, **where)
    for name, _column in REPLACED:
        op.drop_index(name, table_name='recordings')


def downgrade():
    for name, column in REPLACED:
        op.create_index(name, 'recordings', [column], unique=False)
    for name, _column, _where in reversed(INDEXES):
        op.drop_index(name, table_name='recordings')
