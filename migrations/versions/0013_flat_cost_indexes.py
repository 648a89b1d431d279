"""indexes for a cost that stays flat: lists in the order they are read, keyset pages of the audit log, and
partial indexes of the few rows the periodic jobs look for (pending and failed deliveries, processing clips)

A composite index that starts with the column of an older single-column index replaces it.

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

PENDING, FAILED, PROCESSING = "status = 'pending'", "status = 'failed'", "state = 'processing'"

#: (table, new index, its columns, its WHERE or None, the single-column index it replaces or None)
INDEXES = [
    ('users', 'ix_users_organisation_id_name', ['organisation_id', 'name'], None, 'ix_users_organisation_id'),
    ('courses', 'ix_courses_organisation_id_title', ['organisation_id', 'title'], None,
     'ix_courses_organisation_id'),
    ('parents', 'ix_parents_organisation_id_name', ['organisation_id', 'name'], None, 'ix_parents_organisation_id'),
    ('course_trainers', 'ix_course_trainers_user_id', ['user_id'], None, None),
    ('workshop_session', 'ix_workshop_session_course_id_starts_at', ['course_id', 'starts_at'], None,
     'ix_workshop_session_course_id'),
    ('workshop_session_invitees', 'ix_workshop_session_invitees_parent_id', ['parent_id'], None, None),
    ('invite_deliveries', 'ix_invite_deliveries_pending', ['id'], PENDING, None),
    ('invite_deliveries', 'ix_invite_deliveries_failed', ['session_id'], FAILED, None),
    ('reminder_deliveries', 'ix_reminder_deliveries_pending', ['id'], PENDING, None),
    ('reminder_deliveries', 'ix_reminder_deliveries_failed', ['session_id'], FAILED, None),
    ('home_activities', 'ix_home_activities_course_id_created_at', ['course_id', 'created_at', 'id'], None,
     'ix_home_activities_course_id'),
    ('activity_media', 'ix_activity_media_processing', ['updated_at'], PROCESSING, None),
    ('activity_responses', 'ix_activity_responses_processing', ['updated_at'], PROCESSING, None),
    ('activity_responses', 'ix_activity_responses_activity_id_created_at', ['activity_id', 'created_at', 'id'], None,
     'ix_activity_responses_activity_id'),
    ('audit_entries', 'ix_audit_entries_organisation_id_created_at', ['organisation_id', 'created_at', 'id'], None,
     'ix_audit_entries_organisation_id'),
    ('audit_entries', 'ix_audit_entries_parent_id_created_at', ['parent_id', 'created_at', 'id'], None,
     'ix_audit_entries_parent_id'),
    ('audit_entries', 'ix_audit_entries_course_id_created_at', ['course_id', 'created_at', 'id'], None,
     'ix_audit_entries_course_id'),
    ('audit_entries', 'ix_audit_entries_actor_id_created_at', ['actor_id', 'created_at', 'id'], None,
     'ix_audit_entries_actor_id'),
]
#: Replaced by the organisation's composite index: the log is only ever read within one organisation.
DROPPED_ONLY = [('audit_entries', 'ix_audit_entries_created_at', ['created_at'])]


def _where(condition):
    return {} if condition is None else {'postgresql_where': sa.text(condition), 'sqlite_where': sa.text(condition)}


def upgrade():
    for table, name, columns, where, replaces in INDEXES:
        op.create_index(name, table, columns, unique=False, **_where(where))
        if replaces is not None:
            op.drop_index(replaces, table_name=table)
    for table, name, _columns in DROPPED_ONLY:
        op.drop_index(name, table_name=table)


def downgrade():
    for table, name, columns in DROPPED_ONLY:
        op.create_index(name, table, columns, unique=False)
    for table, name, columns, _condition, replaces in reversed(INDEXES):
        if replaces is not None:
            op.create_index(replaces, table, columns[:1], unique=False)
        op.drop_index(name, table_name=table)
