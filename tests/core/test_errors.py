"""Production error handling (TESTING off): an unexpected exception is logged with its traceback, redacted."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from flask import request
from sqlalchemy.exc import OperationalError

from core import logs, queue
from core.app import create_app
from tests.conftest import app_overrides

pytestmark = pytest.mark.unit

PERSONAL = "AbCdEfGhIjKlMnOpQrStUv0123456789"
API_TOKEN = "ok_" + PERSONAL


def _fail(token: str):
    raise RuntimeError(f"nothing found for {request.url}")


def _database_bug(token: str):
    raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: gone"))


def _database_away(token: str):
    raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))


@pytest.fixture
def production(app, tmp_path):
    """A client of an app that answers exceptions with the 500 page instead of raising them (TESTING off)."""
    built = create_app({**app_overrides(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}"), "TESTING": False})
    built.add_url_rule("/p/<token>/_fail", "fail", _fail)
    built.add_url_rule("/api/v1/_fail/<token>", "api_fail", _fail)
    built.add_url_rule("/p/<token>/_database_bug", "database_bug", _database_bug)
    built.add_url_rule("/p/<token>/_database_away", "database_away", _database_away)
    yield built.test_client()
    queue.bind_app(app)  # create_app bound the task queue to the new app


def _logged(caplog, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == level and r.exc_info]


def _text(records: list[logging.LogRecord]) -> str:
    return "\n".join(r.getMessage() + "\n" + (r.exc_text or "") for r in records)


def test_unexpected_error_on_a_page_is_logged_with_its_traceback_and_no_token(production, caplog):
    caplog.set_level(logging.INFO)

    response = production.get(f"/p/{PERSONAL}/_fail")

    assert response.status_code == 500
    assert "text/html" in response.content_type
    records = _logged(caplog, logging.ERROR)
    assert len(records) == 1
    assert records[0].exc_info[0] is RuntimeError
    assert "Traceback" in records[0].exc_text and "RuntimeError: nothing found for" in records[0].exc_text
    assert f"/p/{logs.REDACTED}" in records[0].getMessage()
    assert f"/p/{logs.REDACTED}/_fail" in records[0].exc_text
    assert PERSONAL not in _text(caplog.records)
    assert PERSONAL not in caplog.text


def test_unexpected_error_in_the_api_is_logged_with_its_traceback_and_no_token(production, caplog):
    caplog.set_level(logging.INFO)

    response = production.get(f"/api/v1/_fail/{API_TOKEN}")

    assert (response.status_code, response.json["error"]["code"]) == (500, "internal_error")
    records = _logged(caplog, logging.ERROR)
    assert [r.exc_info[0] for r in records] == [RuntimeError]
    assert logs.REDACTED in records[0].exc_text
    assert PERSONAL not in _text(caplog.records)


def test_database_bug_is_logged_with_its_traceback_before_the_500_page(production, caplog):
    caplog.set_level(logging.INFO)

    response = production.get(f"/p/{PERSONAL}/_database_bug")

    assert response.status_code == 500
    records = _logged(caplog, logging.ERROR)
    assert [r.exc_info[0] for r in records] == [OperationalError]
    assert "no such table: gone" in records[0].exc_text
    assert PERSONAL not in _text(caplog.records)


def test_database_away_is_logged_as_a_warning_with_the_503(production, caplog):
    caplog.set_level(logging.INFO)

    response = production.get(f"/p/{PERSONAL}/_database_away")

    assert (response.status_code, response.headers["Retry-After"]) == (503, "30")
    records = _logged(caplog, logging.WARNING)
    assert [r.exc_info[0] for r in records] == [OperationalError]
    assert "database is locked" in records[0].exc_text
    assert PERSONAL not in _text(caplog.records)
