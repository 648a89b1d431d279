"""Titles and names are one line: a line break, tab or other control character is a field error, nothing stored."""

import pytest

from accounts import services as accounts
from activities.models import HomeActivity
from courses.models import Course, Parent

TITLE_MESSAGE = "Schrijf de titel op één regel, zonder tabs of onzichtbare tekens."
NAME_MESSAGE = "Deze naam bevat een teken dat niet kan."
TEXT_MESSAGE = "Deze tekst bevat een teken dat niet kan."


@pytest.fixture
def bearer(db):
    def make(user) -> dict:
        _row, token = accounts.create_api_token(user)
        db.session.commit()
        return {"Authorization": f"Bearer {token}"}

    return make


def _field_error(response, field: str, message: str) -> bool:
    return f'<p class="error" id="{field}-error">{message}</p>' in response.get_data(as_text=True)


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"title": "Titel\nX"}, "title", TITLE_MESSAGE),
    ({"title": "Titel\tX"}, "title", TITLE_MESSAGE),
    ({"title": "\u202eTitel"}, "title", TITLE_MESSAGE),
    ({"title": "Titel", "description": "Regel een\x0bregel twee"}, "description", TEXT_MESSAGE),
])
def test_api_course_with_a_control_character_gets_422_on_the_field(client, db, trainer, bearer, body, field, message):
    response = client.post("/api/v1/courses", headers=bearer(trainer), json=body)

    assert response.status_code == 422
    assert response.get_json() == {"error": {"code": "invalid", "field": field, "message": message}}
    assert db.session.query(Course).count() == 0


def test_api_course_description_keeps_its_line_ends(client, db, trainer, bearer):
    response = client.post("/api/v1/courses", headers=bearer(trainer),
                           json={"title": "Titel", "description": "Avond een\r\n\tAvond twee"})

    assert response.status_code == 201
    assert db.session.query(Course).one().description == "Avond een\r\n\tAvond twee"


def test_api_course_title_change_with_a_line_break_changes_nothing(client, db, trainer, course, bearer):
    response = client.patch(f"/api/v1/courses/{course.id}", headers=bearer(trainer), json={"title": "Titel\nX"})

    db.session.expire_all()
    assert (response.status_code, response.get_json()["error"]["field"]) == (422, "title")
    assert db.session.get(Course, course.id).title == "Voorlezen"


def test_course_form_with_a_line_break_in_the_title_shows_the_field_error(client, auth, db, trainer):
    auth.login(trainer.email)

    response = client.post("/courses/new", data={"title": "Titel\r\nX", "language": "nl",
                                                  "timezone": "Europe/Amsterdam", "retention_days": "60"})

    assert response.status_code == 400
    assert _field_error(response, "title", TITLE_MESSAGE)
    assert db.session.query(Course).count() == 0


@pytest.mark.parametrize("name", ["Sanne\nde Vries", "Sanne\tde Vries", "San\x0bne", "Sanne\u2028de Vries"])
def test_api_parent_with_a_control_character_in_the_name_gets_422(client, db, trainer, course, bearer, name):
    response = client.post(f"/api/v1/courses/{course.id}/parents", headers=bearer(trainer),
                           json={"name": name, "email": "sanne@example.org"})

    assert response.status_code == 422
    assert response.get_json() == {"error": {"code": "invalid", "field": "name", "message": NAME_MESSAGE}}
    assert db.session.query(Parent).count() == 0


def test_parent_form_with_a_line_break_in_the_name_shows_the_field_error(client, auth, db, trainer, course):
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/parents/new", data={
        "name": "Sanne\r\nde Vries", "email": "sanne@example.org", "phone": "", "language": "nl",
        "contact_email": "y"})

    assert response.status_code == 400
    assert _field_error(response, "name", NAME_MESSAGE)
    assert db.session.query(Parent).count() == 0


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"title": "Titel\nX"}, "title", TITLE_MESSAGE),
    ({"title": "Titel", "title_ar": "عنوان\nX"}, "title_ar", TITLE_MESSAGE),
    ({"title": "Titel", "body": "Lees\x00voor"}, "body", TEXT_MESSAGE),
])
def test_activity_form_with_a_control_character_shows_the_field_error(client, auth, db, trainer, course, fields,
                                                                      field, message):
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/activities/new", data={"session_id": "0", **fields})

    assert response.status_code == 400
    assert _field_error(response, field, message)
    assert db.session.query(HomeActivity).count() == 0
