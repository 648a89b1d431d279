"""organisations as tenants: users, courses, parents and audit rows belong to one; revocation of a parent's access
(issue 12)

Existing rows all go into one default organisation, so an installation that had one provider looks as before.

Revision ID: 0012
Revises: 0011
"""
import base64
import hashlib
import hmac
import secrets
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from flask import current_app

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

DEFAULT_ORGANISATION = 'Ouderkamer'
OWNED = ('users', 'courses', 'parents')


@contextmanager
def _sqlite_foreign_keys_off():
    # SQLite alters a column by copying the table and dropping the old one; with foreign keys on, that DROP would
    # cascade (a course's enrolments, sessions and recordings). The pragma only takes effect outside a transaction.
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


def upgrade():
    with _sqlite_foreign_keys_off():
        _upgrade()


def downgrade():
    with _sqlite_foreign_keys_off():
        _downgrade()


def _upgrade():
    organisations = op.create_table(
        'organisations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('retention_days', sa.Integer(), nullable=False),
        sa.Column('sender_name', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
        sa.UniqueConstraint('name', name=op.f('uq_organisations_name')),
    )
    conn = op.get_bind()
    default_id = None
    if any(conn.execute(sa.text(f'SELECT 1 FROM {table} LIMIT 1')).first() for table in OWNED):
        conn.execute(organisations.insert().values(name=DEFAULT_ORGANISATION, language='nl', retention_days=60,
                                                   sender_name='', created_at=datetime.now(UTC)))
        default_id = conn.execute(sa.select(organisations.c.id)).scalar_one()

    for table in OWNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('organisation_id', sa.Integer(), nullable=True))
        if default_id is not None:
            conn.execute(sa.text(f'UPDATE {table} SET organisation_id = :org'), {'org': default_id})
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('organisation_id', existing_type=sa.Integer(), nullable=False)
            batch_op.create_index(batch_op.f(f'ix_{table}_organisation_id'), ['organisation_id'], unique=False)
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_organisation_id_organisations'), 'organisations',
                                        ['organisation_id'], ['id'], ondelete='RESTRICT')

    with op.batch_alter_table('parents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('access_revoked_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organisation_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_entries_organisation_id'), ['organisation_id'], unique=False)
    if default_id is not None:
        conn.execute(sa.text('UPDATE audit_entries SET organisation_id = :org'), {'org': default_id})
    _calendar_tokens_for_every_parent(conn)


def _calendar_tokens_for_every_parent(conn):
    # A parent's calendar token is now made at enrolment, so a page view never inserts one; older parents get theirs
    # here (the same derivation as courses.links: HMAC(SECRET_KEY, nonce), stored as a SHA-256).
    key = current_app.config['SECRET_KEY'].encode()
    feeds = sa.table('calendar_feeds', sa.column('parent_id', sa.Integer), sa.column('nonce', sa.String),
                     sa.column('token_hash', sa.String), sa.column('issued_at', sa.DateTime(timezone=True)))
    missing = conn.execute(sa.text('SELECT id FROM parents WHERE id NOT IN '
                                   '(SELECT parent_id FROM calendar_feeds WHERE parent_id IS NOT NULL)')).scalars()
    for parent_id in list(missing):
        nonce = secrets.token_urlsafe(32)
        mac = hmac.new(key, f'ouderkamer-calendar:{nonce}'.encode(), hashlib.sha256).digest()
        token = base64.urlsafe_b64encode(mac).rstrip(b'=').decode()
        conn.execute(feeds.insert().values(parent_id=parent_id, nonce=nonce, issued_at=datetime.now(UTC),
                                           token_hash=hashlib.sha256(token.encode()).hexdigest()))


def _downgrade():
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entries_organisation_id'))
        batch_op.drop_column('organisation_id')
    with op.batch_alter_table('parents', schema=None) as batch_op:
        batch_op.drop_column('access_revoked_at')
    for table in OWNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_organisation_id_organisations'), type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_organisation_id'))
            batch_op.drop_column('organisation_id')
    op.drop_table('organisations')
