"""organisations as tenants: users, courses, parents and audit rows belong to one; revocation of a parent's access
(issue 12)

Existing rows all go into one default organisation, so an installation that had one provider looks as before.

Revision ID: 0012
Revises: 0011
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

DEFAULT_ORGANISATION = 'Ouderkamer'
OWNED = ('users', 'courses', 'parents')


def upgrade():
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


def downgrade():
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
