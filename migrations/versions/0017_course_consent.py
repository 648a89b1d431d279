"""consent per course and at recording time (issue 17): recording consent per parent per course, kept as history,
and the consent state stored with each recording

The per-session answers (`recording_consents`) become per-course answers: each parent's latest answer in any
session of a course is that parent's answer for the course (source "session", with its original time), and the
per-session table is dropped. A downgrade recreates it empty (the per-course answers have no session to go to).

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# Each (course, parent)'s latest per-session answer, oldest first.
MOVE_ANSWERS = """
INSERT INTO course_consents (course_id, parent_id, consented, source, created_at)
SELECT ws.course_id, rc.parent_id, NOT rc.objected, 'session', rc.created_at
FROM recording_consents rc JOIN workshop_session ws ON ws.id = rc.session_id
WHERE rc.id = (SELECT rc2.id FROM recording_consents rc2 JOIN workshop_session ws2 ON ws2.id = rc2.session_id
               WHERE ws2.course_id = ws.course_id AND rc2.parent_id = rc.parent_id
               ORDER BY rc2.created_at DESC, rc2.id DESC LIMIT 1)
ORDER BY rc.created_at, rc.id
"""


def upgrade():
    op.create_table(
        'course_consents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('course_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('consented', sa.Boolean(), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_course_consents_course_id_courses'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['parent_id'], ['parents.id'], name=op.f('fk_course_consents_parent_id_parents'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_course_consents')),
    )
    op.create_index('ix_course_consents_course_id_parent_id', 'course_consents', ['course_id', 'parent_id', 'id'])
    op.create_index(op.f('ix_course_consents_parent_id'), 'course_consents', ['parent_id'])
    op.execute(MOVE_ANSWERS)
    op.drop_table('recording_consents')
    op.add_column('recordings', sa.Column('consent_snapshot', sa.JSON(), nullable=True))


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy of `recordings` would cascade to its watch progress.
    op.execute('ALTER TABLE recordings DROP COLUMN consent_snapshot')
    op.create_table(
        'recording_consents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('objected', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['workshop_session.id'],
                                name=op.f('fk_recording_consents_session_id_workshop_session'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['parent_id'], ['parents.id'], name=op.f('fk_recording_consents_parent_id_parents'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_consents')),
    )
    op.create_index(op.f('ix_recording_consents_session_id'), 'recording_consents', ['session_id'])
    op.create_index(op.f('ix_recording_consents_parent_id'), 'recording_consents', ['parent_id'])
    op.drop_table('course_consents')
