"""Courses and parents through the JSON API."""

import pytest

from accounts import services as accounts
from courses import services
from courses.models import Course, Parent


@pytest.fixture
def bearer(db):
    def make(user) -> dict:
        _row, token = accounts.create_api_token(user)
        db.session.commit()
        return {"Authorization": f"Bearer {token}"}

    return make


def test_create_course_returns_the_course_with_the_trainer(client, db, trainer, bearer):
    response = client.post("/api/v1/courses", headers=bearer(trainer), json={
        "title": "Samen spelen", "starts_on": "2027-01-05", "ends_on": "2027-02-05", "retention_days": 30})

    body = response.get_json()
    assert response.status_code == 201
    assert {k: body[k] for k in ("title", "timezone", "starts_on", "ends_on", "retention_days", "trainer_ids",
                                 "archived")} == {
        "title": "Samen spelen", "timezone": "Europe/Amsterdam", "starts_on": "2027-01-05", "ends_on": "2027-02-05",
        "retention_days": 30, "trainer_ids": [trainer.id], "archived": False}
    assert body["url"] == f"http://ouderkamer.test/courses/{body['id']}"


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"title": "X", "timezone": "Nowhere/Town"}, "timezone", "Onbekende tijdzone: Nowhere/Town"),
    ({"title": "X", "starts_on": "2027-02-02", "ends_on": "2027-02-01"}, "ends_on",
     "De einddatum ligt voor de begindatum."),
    ({"title": "X", "starts_on": "2 feb"}, "starts_on", "Use a date as YYYY-MM-DD."),
    ({"title": "X", "retention_days": "60"}, "retention_days", "Wrong type; expected integer."),
    ({"title": "X", "colour": "red"}, "colour", "Unknown field."),
    ({"description": "no title"}, "title", "This field is required."),
    ({"title": "X", "trainer_ids": [1]}, "trainer_ids", "Only coordinators assign trainers."),
])
def test_create_course_with_bad_input_gets_422_with_the_field(client, db, trainer, bearer, body, field, message):
    response = client.post("/api/v1/courses", headers=bearer(trainer), json=body)

    assert response.status_code == 422
    assert response.get_json() == {"error": {"code": "invalid", "field": field, "message": message}}
    assert db.session.query(Course).count() == 0


def test_coordinator_creates_a_course_for_a_trainer(client, db, coordinator, trainer, bearer):
    response = client.post("/api/v1/courses", headers=bearer(coordinator),
                           json={"title": "Voor Tim", "trainer_ids": [trainer.id]})

    assert response.get_json()["trainer_ids"] == [trainer.id]


def test_update_and_archive_course(client, db, trainer, course, bearer):
    headers = bearer(trainer)

    patched = client.patch(f"/api/v1/courses/{course.id}", headers=headers, json={"title": "Nieuw", "language": "en"})
    archived = client.post(f"/api/v1/courses/{course.id}/archive", headers=headers)
    listed = client.get("/api/v1/courses", headers=headers)

    assert (patched.get_json()["title"], patched.get_json()["language"]) == ("Nieuw", "en")
    assert archived.get_json()["archived"] is True
    assert listed.get_json() == {"items": [], "next": None, "courses": []}


def test_other_trainers_course_is_404(client, db, course, create_user, bearer):
    other = create_user("other@example.org", name="Other")

    response = client.get(f"/api/v1/courses/{course.id}", headers=bearer(other))

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_enrol_parent_returns_the_parent_with_a_working_personal_link(client, db, trainer, course, bearer):
    response = client.post(f"/api/v1/courses/{course.id}/parents", headers=bearer(trainer),
                           json={"name": "Elif", "phone": "06 1234 5678", "language": "tr", "contact_sms": True})

    parent = db.session.query(Parent).one()
    assert response.status_code == 201
    assert response.get_json() == {
        "id": parent.id, "name": "Elif", "email": None, "phone": "+31612345678", "language": "tr",
        "consent_recording": False, "contact_email": True, "contact_sms": True, "contact_whatsapp": False,
        "personal_link": response.get_json()["personal_link"], "calendar_feed": response.get_json()["calendar_feed"]}
    assert client.get(response.get_json()["calendar_feed"].removeprefix("http://ouderkamer.test")).status_code == 200
    assert response.get_json()["personal_link"].startswith("http://ouderkamer.test/p/")
    assert client.get(response.get_json()["personal_link"].removeprefix("http://ouderkamer.test")).status_code == 200


def test_enrol_parent_with_known_email_reuses_the_parent(client, db, trainer, course, create_parent, bearer):
    known = create_parent("Sanne", email="sanne@example.org")

    response = client.post(f"/api/v1/courses/{course.id}/parents", headers=bearer(trainer),
                           json={"name": "S. de Vries", "email": "Sanne@example.org"})

    assert response.get_json()["id"] == known.id
    assert db.session.query(Parent).count() == 1
    assert [p.id for p in services.course_parents(course)] == [known.id]


def test_enrol_parent_with_bad_phone_gets_422(client, db, trainer, course, bearer):
    response = client.post(f"/api/v1/courses/{course.id}/parents", headers=bearer(trainer),
                           json={"name": "Elif", "phone": "12"})

    assert response.status_code == 422
    assert response.get_json() == {"error": {"code": "invalid", "field": "phone",
                                             "message": "Dit telefoonnummer klopt niet: 12"}}


def test_list_update_and_remove_parent(client, db, trainer, course, create_parent, bearer):
    sanne = create_parent("Sanne", course=course)
    headers = bearer(trainer)
    url = f"/api/v1/courses/{course.id}/parents"

    listed = client.get(url, headers=headers)
    patched = client.patch(f"{url}/{sanne.id}", headers=headers, json={"language": "ar", "consent_recording": True})
    removed = client.delete(f"{url}/{sanne.id}", headers=headers)
    after = client.get(url, headers=headers)

    assert [p["name"] for p in listed.get_json()["items"]] == ["Sanne"]
    assert (patched.get_json()["language"], patched.get_json()["consent_recording"]) == ("ar", True)
    assert (removed.status_code, removed.get_data()) == (204, b"")
    assert after.get_json() == {"items": [], "next": None, "parents": []}


def test_parent_not_in_the_course_is_404(client, db, trainer, course, create_course, create_parent, bearer):
    other = create_course("Tweede groep")
    sanne = create_parent("Sanne", course=other)

    response = client.patch(f"/api/v1/courses/{course.id}/parents/{sanne.id}", headers=bearer(trainer),
                            json={"name": "X"})

    assert response.status_code == 404


def test_the_parents_list_reads_calendar_tokens_in_one_query_whatever_the_page_size(client, db, trainer, course,
                                                                                    create_parent):
    from accounts import services as accounts
    from tests.fixtures.sql import statements

    _row, token = accounts.create_api_token(trainer)
    db.session.commit()
    counts = []
    for total in (3, 30):
        for n in range(len(course.enrolments), total):
            create_parent(f"Ouder {n:02d}", course=course, email=f"o{n:02d}@example.org")
        with statements(db) as seen:
            body = client.get(f"/api/v1/courses/{course.id}/parents", headers={"Authorization": f"Bearer {token}"})
        assert len(body.get_json()["items"]) == total and all(p["calendar_feed"] for p in body.get_json()["items"])
        counts.append(len(seen))

    assert counts[0] == counts[1]
