"""home activities and parents' responses (issue 8)

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

MEDIA_STATES = ('processing', 'ready', 'failed')
ENUMS = ('activity_media_kind', 'activity_media_state', 'response_kind', 'activity_responses_state')


def _stored_media_columns(state_enum: str) -> list:
    """The columns of courses.activity_models.StoredMediaMixin."""
    return [
        sa.Column('uuid', sa.String(length=32), nullable=False),
        sa.Column('media_key', sa.String(length=512), nullable=True),
        sa.Column('poster_key', sa.String(length=512), nullable=True),
        sa.Column('content_type', sa.String(length=100), nullable=True),
        sa.Column('size', sa.BigInteger(), nullable=True),
        sa.Column('duration_s', sa.Float(), nullable=True),
        sa.Column('error_message', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('state', sa.Enum(*MEDIA_STATES, name=state_enum), nullable=False),
    ]


def _indexes(table: str, *columns: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.create_index(batch_op.f(f'ix_{table}_{column}'), [column], unique=False)


def _activity_fk(table: str):
    return sa.ForeignKeyConstraint(['activity_id'], ['home_activities.id'],
                                   name=op.f(f'fk_{table}_activity_id_home_activities'), ondelete='CASCADE')


def _parent_fk(table: str):
    return sa.ForeignKeyConstraint(['parent_id'], ['parents.id'], name=op.f(f'fk_{table}_parent_id_parents'),
                                   ondelete='CASCADE')


def upgrade():
    op.create_table(
        'home_activities',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uuid', sa.String(length=32), nullable=False),
        sa.Column('course_id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=True),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('request_kinds', sa.String(length=40), nullable=False),
        sa.Column('request_text', sa.Text(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=True),
        sa.Column('translations', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_home_activities_course_id_courses'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_home_activities_created_by_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['session_id'], ['workshop_session.id'],
                                name=op.f('fk_home_activities_session_id_workshop_session'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_home_activities')),
        sa.UniqueConstraint('uuid', name=op.f('uq_home_activities_uuid')),
    )
    _indexes('home_activities', 'course_id', 'session_id')

    op.create_table(
        'activity_media',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('activity_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('image', 'clip', name='activity_media_kind'), nullable=False),
        *_stored_media_columns('activity_media_state'),
        _activity_fk('activity_media'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_media')),
        sa.UniqueConstraint('uuid', name=op.f('uq_activity_media_uuid')),
    )
    _indexes('activity_media', 'activity_id')

    op.create_table(
        'activity_responses',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('activity_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('photo', 'clip', 'voice', 'text', name='response_kind'), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('client_key', sa.String(length=64), nullable=False),
        *_stored_media_columns('activity_responses_state'),
        _activity_fk('activity_responses'),
        _parent_fk('activity_responses'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_responses')),
        sa.UniqueConstraint('parent_id', 'client_key', name=op.f('uq_activity_responses_parent_id')),
        sa.UniqueConstraint('uuid', name=op.f('uq_activity_responses_uuid')),
    )
    _indexes('activity_responses', 'activity_id', 'parent_id')

    op.create_table(
        'activity_replies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('activity_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        _activity_fk('activity_replies'),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_activity_replies_author_id_users'),
                                ondelete='SET NULL'),
        _parent_fk('activity_replies'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_replies')),
    )
    _indexes('activity_replies', 'activity_id', 'parent_id')

    op.create_table(
        'activity_nudges',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('activity_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        _activity_fk('activity_nudges'),
        _parent_fk('activity_nudges'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_nudges')),
    )
    _indexes('activity_nudges', 'activity_id', 'parent_id')


def downgrade():
    for table in ('activity_nudges', 'activity_replies', 'activity_responses', 'activity_media', 'home_activities'):
        op.drop_table(table)
    for name in ENUMS:
        sa.Enum(name=name).drop(op.get_bind(), checkfirst=True)
