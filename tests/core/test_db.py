"""Database set-up: migrations, SQLite pragmas, UTC timestamps."""

from datetime import UTC, datetime, timedelta, timezone

from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import inspect, text

from core.extensions import db as sa_db


def test_migrations_create_every_model_table(db):
    tables = set(inspect(db.engine).get_table_names())

    assert {t.name for t in sa_db.metadata.sorted_tables} <= tables
    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    applied = set(db.session.scalars(text("SELECT version_num FROM alembic_version")))
    assert applied == set(script.get_heads())


def test_sqlite_runs_in_wal_mode_with_foreign_keys(db):
    if db.engine.dialect.name != "sqlite":
        return  # the pragmas only exist on SQLite; the PostgreSQL run checks the same schema above

    assert db.session.scalar(text("PRAGMA journal_mode")) == "wal"
    assert db.session.scalar(text("PRAGMA foreign_keys")) == 1


def test_timestamps_come_back_as_aware_utc(db, trainer):
    amsterdam = timezone(timedelta(hours=1))
    trainer.created_at = datetime(2027, 3, 9, 10, 0, tzinfo=amsterdam)
    db.session.commit()
    db.session.expire_all()

    assert trainer.created_at == datetime(2027, 3, 9, 9, 0, tzinfo=UTC)
    assert trainer.created_at.tzinfo is not None
