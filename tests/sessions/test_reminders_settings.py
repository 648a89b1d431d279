"""Where reminders are set up: offsets on the course form (0 to 3 of the choices) and WhatsApp on the parent form."""

import re

import pytest

from accounts import services as accounts
from courses import services as courses
from courses.models import Course, Parent

COURSE = {"title": "Praten met peuters", "language": "nl", "timezone": "Europe/Amsterdam", "retention_days": "60"}


def checked(html: str) -> list[str]:
    return re.findall(r'<input checked id="reminder_offsets-\d" name="reminder_offsets" type="checkbox" value="(\d+)">',
                      html)


def test_new_course_form_offers_the_choices_with_24_and_1_hour_checked(client, auth, trainer):
    auth.login(trainer.email)

    html = client.get("/courses/new").get_data(as_text=True)

    assert re.findall(r'name="reminder_offsets" type="checkbox" value="(\d+)"', html) == [
        "10080", "2880", "1440", "180", "60", "15"]
    assert checked(html) == ["1440", "60"]
    assert "1 week vooraf" in html and "15 minuten vooraf" in html


def test_course_created_with_chosen_offsets_keeps_them(client, auth, trainer, db):
    auth.login(trainer.email)

    response = client.post("/courses/new", data={**COURSE, "reminder_offsets": ["15", "2880"]})

    course = db.session.query(Course).one()
    assert response.status_code == 302
    assert course.reminder_offsets == [2880, 15]
    assert checked(client.get(f"/courses/{course.id}/edit").get_data(as_text=True)) == ["2880", "15"]


def test_edit_can_turn_reminders_off(client, auth, trainer, course, db):
    auth.login(trainer.email)

    client.post(f"/courses/{course.id}/edit", data={**COURSE, "title": course.title})

    db.session.expire_all()
    assert db.session.get(Course, course.id).reminder_offsets == []


@pytest.mark.parametrize(("chosen", "message"), [
    (["10080", "2880", "1440", "60"], "Kies hoogstens 3 herinneringen."),
    (["45"], "is een ongeldige keuze"),
])
def test_course_form_refuses_too_many_or_unknown_offsets_and_changes_nothing(client, auth, trainer, course, db,
                                                                            chosen, message):
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/edit", data={**COURSE, "reminder_offsets": chosen})

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="reminder_offsets-error"' in html and message in html
    db.session.expire_all()
    assert db.session.get(Course, course.id).reminder_offsets == [1440, 60]


def test_service_refuses_offsets_outside_the_choices(db, course):
    with pytest.raises(courses.CourseError) as caught:
        courses.update_course(course, reminder_offsets=[30])

    assert caught.value.field == "reminder_offsets"


def test_parent_form_sets_whatsapp_as_a_channel(client, auth, trainer, course, create_parent, db):
    parent = create_parent("Fatma", course=course, email="fatma@example.net")
    auth.login(trainer.email)

    client.post(f"/courses/{course.id}/parents/{parent.id}/edit", data={
        "name": "Fatma", "email": "fatma@example.net", "phone": "06 12345678", "language": "tr",
        "contact_whatsapp": "y"})
    page = client.get(f"/courses/{course.id}").get_data(as_text=True)

    db.session.expire_all()
    parent = db.session.get(Parent, parent.id)
    assert (parent.phone, parent.channels) == ("+31612345678", ["whatsapp"])
    assert "<td>WhatsApp</td>" in page


def test_api_sets_offsets_and_whatsapp(client, db, trainer, course, create_parent):
    parent = create_parent("Fatma", course=course, email="fatma@example.net")
    _row, token = accounts.create_api_token(trainer)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}

    changed = client.patch(f"/api/v1/courses/{course.id}", headers=headers, json={"reminder_offsets": [180, 15]})
    refused = client.patch(f"/api/v1/courses/{course.id}", headers=headers, json={"reminder_offsets": [45]})
    whatsapp = client.patch(f"/api/v1/courses/{course.id}/parents/{parent.id}", headers=headers,
                            json={"phone": "0612345678", "contact_whatsapp": True})

    assert (changed.status_code, changed.get_json()["reminder_offsets"]) == (200, [180, 15])
    assert refused.status_code == 422
    assert (whatsapp.status_code, whatsapp.get_json()["contact_whatsapp"]) == (200, True)
