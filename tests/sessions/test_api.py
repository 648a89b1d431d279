"""Live sessions through the JSON API: schedule, reschedule, cancel one date or a series, list, attendance."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts import services as accounts
from core.db import utcnow
from sessions.models import AttendanceEvent, AttendanceKind, SessionStatus, WorkshopSession


@pytest.fixture
def bearer(db):
    def make(user) -> dict:
        _row, token = accounts.create_api_token(user)
        db.session.commit()
        return {"Authorization": f"Bearer {token}"}

    return make


def test_schedule_one_session_returns_it_in_utc_and_local_time(client, trainer, course, bearer):
    response = client.post(f"/api/v1/courses/{course.id}/sessions", headers=bearer(trainer), json={
        "title": "Voorlezen", "starts_at": "2027-03-25T19:30", "ends_at": "21:00", "recorded": True})

    body = response.get_json()
    assert response.status_code == 201
    assert [{k: s[k] for k in ("title", "starts_at", "local_start", "timezone", "duration_minutes", "recorded",
                               "status", "series_id", "invitee_ids")} for s in body] == [{
        "title": "Voorlezen", "starts_at": "2027-03-25T18:30:00+00:00", "local_start": "2027-03-25T19:30",
        "timezone": "Europe/Amsterdam", "duration_minutes": 90, "recorded": True, "status": "scheduled",
        "series_id": None, "invitee_ids": None}]


def test_schedule_series_across_dst_keeps_local_time(client, trainer, course, bearer):
    response = client.post(f"/api/v1/courses/{course.id}/sessions", headers=bearer(trainer), json={
        "title": "Reeks", "starts_at": "2027-03-18T19:30", "duration_minutes": 60, "until": "2027-04-01"})

    body = response.get_json()
    assert [s["local_start"] for s in body] == ["2027-03-18T19:30", "2027-03-25T19:30", "2027-04-01T19:30"]
    assert [s["starts_at"][11:16] for s in body] == ["18:30", "18:30", "17:30"]
    assert len({s["series_id"] for s in body}) == 1


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"starts_at": "2027-03-25T19:30", "ends_at": "19:00"}, "ends_at", "De eindtijd moet na de begintijd liggen."),
    ({"starts_at": "2027-03-25T19:30", "timezone": "Nowhere/Town"}, "timezone", "Onbekende tijdzone: Nowhere/Town"),
    ({"starts_at": "2027-03-25T19:30", "count": 0}, "count", "Kies tussen 1 en 52 keer."),
    ({"starts_at": "2027-03-25T19:30", "count": 500}, "count", "Kies tussen 1 en 52 keer."),
    ({"starts_at": "2020-03-25T19:30"}, "starts_at", "Deze datum ligt in het verleden."),
    ({"starts_at": "25 maart"}, "starts_at", "Use YYYY-MM-DDTHH:MM."),
])
def test_schedule_bad_input_is_422_on_the_field_and_saves_nothing(db, client, trainer, course, bearer, body,
                                                                   field, message):
    response = client.post(f"/api/v1/courses/{course.id}/sessions", headers=bearer(trainer),
                           json={"title": "X"} | body)

    assert response.status_code == 422
    assert response.get_json() == {"error": {"code": "invalid", "message": message, "field": field}}
    assert db.session.scalar(select(func.count()).select_from(WorkshopSession)) == 0


def test_reschedule_moves_one_date_and_raises_its_sequence(client, trainer, course, bearer, create_workshop_session):
    session = create_workshop_session()

    response = client.patch(f"/api/v1/sessions/{session.id}", headers=bearer(trainer),
                            json={"starts_at": "2027-05-06T10:00", "duration_minutes": 45})

    body = response.get_json()
    assert (response.status_code, body["local_start"], body["duration_minutes"], body["sequence"]) == (
        200, "2027-05-06T10:00", 45, 1)


def test_cancel_one_date_and_then_the_series(db, client, trainer, course, bearer):
    headers = bearer(trainer)
    created = client.post(f"/api/v1/courses/{course.id}/sessions", headers=headers, json={
        "title": "Reeks", "starts_at": "2027-01-07T10:00", "count": 3}).get_json()

    one = client.delete(f"/api/v1/sessions/{created[0]['id']}", headers=headers)
    rest = client.delete(f"/api/v1/series/{created[0]['series_id']}", headers=headers)
    listed = client.get(f"/api/v1/courses/{course.id}/sessions", headers=headers).get_json()["items"]

    assert one.get_json()["status"] == "cancelled"
    assert [s["id"] for s in rest.get_json()] == [created[1]["id"], created[2]["id"]]
    assert [s["status"] for s in listed] == [SessionStatus.cancelled.value] * 3


def test_attendance_lists_every_invited_parent(db, client, trainer, course, bearer, create_parent,
                                               create_workshop_session):
    sanne = create_parent("Sanne", course=course)
    jan = create_parent("Jan", course=course, email="jan@example.org")
    session = create_workshop_session(starts_at=utcnow() + timedelta(minutes=5))
    db.session.add_all([
        AttendanceEvent(session_id=session.id, parent_id=sanne.id, kind=AttendanceKind.joined,
                        at=utcnow() - timedelta(minutes=12)),
        AttendanceEvent(session_id=session.id, parent_id=sanne.id, kind=AttendanceKind.left, at=utcnow()),
    ])
    db.session.commit()

    body = client.get(f"/api/v1/sessions/{session.id}/attendance", headers=bearer(trainer)).get_json()

    assert body == {"items": [{"parent_id": jan.id, "name": "Jan", "attended": False, "minutes": 0},
                              {"parent_id": sanne.id, "name": "Sanne", "attended": True, "minutes": 12}],
                    "next": None}


def test_sessions_of_another_trainers_course_are_404(client, create_user, course, bearer, create_workshop_session):
    session = create_workshop_session()
    stranger = bearer(create_user("other@example.org", name="Ander"))

    assert [client.get(f"/api/v1/courses/{course.id}/sessions", headers=stranger).status_code,
            client.delete(f"/api/v1/sessions/{session.id}", headers=stranger).status_code,
            client.get(f"/api/v1/sessions/{session.id}/attendance", headers=stranger).status_code] == [404, 404, 404]


def test_openapi_documents_the_session_operations(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]

    assert sorted(paths["/api/v1/courses/{course_id}/sessions"]) == ["get", "post"]
    assert sorted(paths["/api/v1/sessions/{session_id}"]) == ["delete", "patch"]
    assert sorted(paths["/api/v1/series/{series_id}"]) == ["delete"]
    assert sorted(paths["/api/v1/sessions/{session_id}/attendance"]) == ["get"]


def test_the_api_refuses_a_time_in_the_dst_gap_with_a_field_error(client, db, trainer, course, bearer):
    response = client.post(f"/api/v1/courses/{course.id}/sessions", headers=bearer(trainer),
                           json={"title": "Nacht", "starts_at": "2027-03-28T02:30", "timezone": "Europe/Amsterdam"})

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "starts_at"
