"""Regression tests for what the API fuzzing (test_api_schema.py) and its follow-up probes found."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from accounts import services as accounts
from core import errors
from courses.models import Course


@pytest.fixture
def bearer(db, trainer):
    _row, token = accounts.create_api_token(trainer)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_delete_operations_document_an_empty_204(client, db):
    document = client.get("/api/v1/openapi.json").get_json()

    remove = document["paths"]["/api/v1/courses/{course_id}/parents/{parent_id}"]["delete"]["responses"]["204"]
    assert remove == {"description": "No content"}


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/v1/courses/{id}"),
                                             ("PATCH", "/api/v1/courses/{course}/parents/{id}"),
                                             ("DELETE", "/api/v1/courses/{course}/parents/{id}")])
@pytest.mark.parametrize("number", [str(2**31), "831594996704", "9" * 5000])
def test_id_too_large_for_the_database_is_not_found(client, bearer, course, method, path, number):
    # Before: 500 (integer overflow in SQLite and PostgreSQL), or 405 once the converter refused the number.
    response = client.open(path.format(course=course.id, id=number), method=method, headers=bearer,
                           json={} if method == "PATCH" else None)

    assert (response.status_code, response.get_json()["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize(("body", "field"), [
    ({"title": "Voorlezen", "trainer_ids": [2**63]}, "trainer_ids"),
    ({"title": "Voorlezen", "retention_days": 2**70}, "retention_days"),
    ({"title": "x" * 201}, "title"),
    ({"title": "Voor\x00lezen"}, "title"),
])
def test_course_input_the_database_cannot_hold_is_refused(client, db, bearer, body, field):
    response = client.post("/api/v1/courses", json=body, headers=bearer)

    assert (response.status_code, response.get_json()["error"]["field"]) == (422, field)
    assert db.session.query(Course).count() == 0


@pytest.mark.parametrize(("body", "field"), [
    ({"title": "Workshop", "starts_at": "2030-01-01T10:00", "kind": "webinar"}, "kind"),
    ({"title": "Workshop", "starts_at": "0001-01-01T00:00", "timezone": "America/Adak"}, "starts_at"),
    ({"title": "Workshop", "starts_at": "9999-12-25T23:59", "timezone": "UTC", "count": 5}, "starts_at"),
    ({"title": "Workshop", "starts_at": "2030-01-01T10:00", "description": "\x00"}, "description"),
])
def test_session_input_that_used_to_crash_is_refused(client, bearer, course, body, field):
    response = client.post(f"/api/v1/courses/{course.id}/sessions", json=body, headers=bearer)

    assert (response.status_code, response.get_json()["error"]["field"]) == (422, field)


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "S" * 201, "email": "sanne@example.org"}, "name"),
    ({"name": "San\x00ne", "email": "sanne@example.org"}, "name"),
])
def test_parent_input_the_database_cannot_hold_is_refused(client, bearer, course, body, field):
    response = client.post(f"/api/v1/courses/{course.id}/parents", json=body, headers=bearer)

    assert (response.status_code, response.get_json()["error"]["field"]) == (422, field)


def _operational(message: str) -> OperationalError:
    return OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))


def test_a_busy_database_gets_a_503_with_retry_after(app, db):
    with app.test_request_context("/api/v1/me"):
        response = errors._database_error(_operational("database is locked"))

    assert (response.status_code, response.headers["Retry-After"]) == (503, "30")
    assert response.get_json()["error"]["code"] == "unavailable"


def test_a_database_mistake_is_not_dressed_up_as_unavailable(app, db):
    with app.test_request_context("/courses"), pytest.raises(OperationalError):
        errors._database_error(_operational("no such table: courses"))
