"""The migrations create exactly the schema the models describe."""

import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect


def test_migrated_schema_matches_the_models(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)

    assert diff == []


def test_existing_rows_go_into_one_default_organisation(tmp_path):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from core.app import create_app
    from core.extensions import db as _db
    from tests.conftest import app_overrides

    app = create_app(app_overrides(tmp_path, f"sqlite:///{tmp_path / 'old.sqlite'}"))
    with app.app_context():
        upgrade(revision="0011")
        with _db.engine.begin() as conn:
            conn.execute(text("INSERT INTO users (id, email, name, password_hash, role, language, active, created_at, "
                              "session_nonce) VALUES (1, 't@x.org', 'T', 'h', 'trainer', 'nl', 1, '2026-01-01', 'n')"))
            conn.execute(text("INSERT INTO parents (id, name, language, consent_recording, contact_email, "
                              "contact_sms, contact_whatsapp, created_at) VALUES (1, 'P', 'nl', 0, 1, 0, 0, "
                              "'2026-01-01')"))
            conn.execute(text("INSERT INTO courses (id, title, description, language, timezone, retention_days, "
                              "reminder_offsets, created_at) VALUES (1, 'C', '', 'nl', 'Europe/Amsterdam', 60, "
                              "'[]', '2026-01-01')"))
            conn.execute(text("INSERT INTO enrolments (id, course_id, parent_id, created_at) "
                              "VALUES (1, 1, 1, '2026-01-01')"))

        upgrade()

        with _db.engine.connect() as conn:
            organisations = conn.execute(text("SELECT id, name FROM organisations")).all()
            enrolments = conn.execute(text("SELECT count(*) FROM enrolments")).scalar()
            feeds = conn.execute(text("SELECT count(*) FROM calendar_feeds WHERE parent_id = 1")).scalar()
            owners = conn.execute(text("SELECT organisation_id FROM users UNION ALL "
                                       "SELECT organisation_id FROM parents")).scalars().all()
        downgrade(revision="0011")
        _db.engine.dispose()

    assert [name for _id, name in organisations] == ["Ouderkamer"]
    assert owners == [organisations[0][0]] * 2
    assert feeds == 1  # the parent got its calendar token
    assert enrolments == 1  # rebuilding the tables on SQLite cascaded nothing away


def _normalised(where) -> str:
    # PostgreSQL reflects "(status = 'pending'::reminder_delivery_status)"; the models say "status = 'pending'".
    return re.sub(r"::\w+|[()]", "", str(where)).strip()


def test_partial_indexes_have_the_models_where_clause(db):
    # compare_metadata does not look at a partial index's WHERE, so this test does.
    dialect = db.engine.dialect.name
    wanted = {(table.name, index.name): _normalised(index.dialect_options[dialect]["where"])
              for table in db.metadata.sorted_tables for index in table.indexes
              if index.dialect_options[dialect]["where"] is not None}
    inspector = inspect(db.engine)

    found = {(table, index["name"]): _normalised(index["dialect_options"].get(f"{dialect}_where"))
             for table, _name in wanted for index in inspector.get_indexes(table)
             if (table, index["name"]) in wanted}

    assert found == wanted
    assert {name for _table, name in wanted} >= {
        "ix_invite_deliveries_pending", "ix_invite_deliveries_failed", "ix_reminder_deliveries_pending",
        "ix_reminder_deliveries_failed", "ix_activity_media_processing", "ix_activity_responses_processing"}
