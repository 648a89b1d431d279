"""parent data deletion with a grace period, the trainer's phone number for parents who cannot get in (issue 19)

`parents.deletion_requested_at`: a parent's deletion request, carried out by a periodic task after the grace period
(the parent may cancel it until then); indexed for that task. `users.phone`: shown to parents in the lobby
("call or WhatsApp your trainer") when the room cannot be reached.

Revision ID: 0021
Revises: 0020
"""
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('parents') as batch_op:
        batch_op.add_column(sa.Column('deletion_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_parents_deletion_requested_at', ['deletion_requested_at'])
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=20), nullable=True))


@contextmanager
def _sqlite_foreign_keys_off():
    # SQLite drops a column by copying the table; with foreign keys on, dropping the old `parents` table would
    # cascade to enrolments and answers. The pragma only takes effect outside a transaction.
    if op.get_bind().dialect.name != 'sqlite':
        yield
        return
    context = op.get_context()
    with context.autocommit_block():
        op.execute('PRAGMA foreign_keys=OFF')
    try:
        yield
    finally:
        with context.autocommit_block():
            op.execute('PRAGMA foreign_keys=ON')


def downgrade():
    with _sqlite_foreign_keys_off():
        with op.batch_alter_table('users') as batch_op:
            batch_op.drop_column('phone')
        with op.batch_alter_table('parents') as batch_op:
            batch_op.drop_index('ix_parents_deletion_requested_at')
            batch_op.drop_column('deletion_requested_at')
