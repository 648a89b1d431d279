"""Parents: validation, duplicates, edit, remove and move between courses."""

import pytest

from courses import services
from courses.models import Enrolment, Parent
from courses.services import CourseError


def _parent_form(**changes) -> dict:
    return {"name": "Sanne de Vries", "email": "sanne@example.org", "phone": "", "language": "nl",
            "contact_email": "y", **changes}


def test_add_parent_stores_the_phone_as_e164(db):
    parent = services.add_parent(name="Elif", phone="06 12 34 56 78", language="tr")

    assert (parent.phone, parent.email, parent.contact_email, parent.consent_recording) == (
        "+31612345678", None, True, False)


def test_add_parent_lower_cases_the_email(db):
    parent = services.add_parent(name="Sanne", email="Sanne@Example.ORG")

    assert parent.email == "sanne@example.org"


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"phone": "12345"}, "phone", "Dit telefoonnummer klopt niet: 12345"),
    ({"email": "sanne@"}, "email", "Dit e-mailadres klopt niet: sanne@"),
    ({"email": None}, "email", "Vul een e-mailadres of een mobiel nummer in."),
    ({"name": "  "}, "name", "Vul een naam in."),
    ({"language": "de"}, "language", "Kies een van de talen: nl, en, ar, tr"),
])
def test_add_parent_with_bad_input_names_the_field(db, fields, field, message):
    values = {"name": "Sanne", "email": "sanne@example.org", **fields}

    with pytest.raises(CourseError) as caught:
        services.add_parent(**values)

    assert (caught.value.field, str(caught.value.message)) == (field, message)


def test_enrol_parent_with_a_known_phone_enrols_the_existing_parent(db, course, create_course):
    other = create_course("Andere cursus")
    first, _ = services.enrol_parent(other, name="Elif", phone="+31612345678", language="tr")

    again, created = services.enrol_parent(course, name="Elif Y.", phone="0612345678", language="tr")

    assert (again.id, created) == (first.id, False)
    assert db.session.query(Parent).count() == 1
    assert sorted(e.course_id for e in again.enrolments) == sorted([course.id, other.id])


def test_add_page_with_known_email_says_the_parent_was_enrolled(client, auth, trainer, course, create_parent, db):
    known = create_parent("Sanne", email="sanne@example.org")
    auth.login(trainer.email)

    client.post(f"/courses/{course.id}/parents/new", data=_parent_form(email="SANNE@example.org"))
    html = client.get(f"/courses/{course.id}").get_data(as_text=True)

    assert "Deze ouder was al bekend (Sanne) en is nu ingeschreven." in html
    assert [p.id for p in services.course_parents(course)] == [known.id]
    assert db.session.query(Parent).count() == 1


def test_add_page_creates_and_enrols_a_new_parent(client, auth, trainer, course, db):
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/parents/new",
                           data=_parent_form(phone="0612345678", contact_sms="y", consent_recording="y"))

    parent = db.session.query(Parent).one()
    assert response.headers["Location"] == f"/courses/{course.id}"
    assert (parent.name, parent.email, parent.phone, parent.consent_recording, parent.contact_sms) == (
        "Sanne de Vries", "sanne@example.org", "+31612345678", True, True)
    assert services.course_parents(course) == [parent]


def test_add_page_with_bad_phone_shows_the_error_on_the_phone_field(client, auth, trainer, course, db):
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/parents/new", data=_parent_form(phone="0612"))

    assert response.status_code == 400
    assert '<p class="error" id="phone-error">Dit telefoonnummer klopt niet: 0612</p>' in response.get_data(
        as_text=True)
    assert db.session.query(Parent).count() == 0


def test_add_page_without_email_or_phone_is_refused(client, auth, trainer, course, db):
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/parents/new", data=_parent_form(email=""))

    assert response.status_code == 400
    assert "Vul een e-mailadres of een mobiel nummer in." in response.get_data(as_text=True)


def test_edit_page_refuses_an_email_of_another_parent(client, auth, trainer, course, create_parent, db):
    create_parent("Amina", email="amina@example.org", course=course)
    sanne = create_parent("Sanne", email="sanne@example.org", course=course)
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/parents/{sanne.id}/edit",
                           data=_parent_form(email="amina@example.org"))

    db.session.refresh(sanne)
    assert response.status_code == 400
    assert "Er is al een ouder met dit e-mailadres." in response.get_data(as_text=True)
    assert sanne.email == "sanne@example.org"


def test_edit_page_saves_the_changes(client, auth, trainer, course, create_parent, db):
    sanne = create_parent("Sanne", course=course)
    auth.login(trainer.email)

    client.post(f"/courses/{course.id}/parents/{sanne.id}/edit",
                data=_parent_form(name="Sanne V.", phone="+32 470 12 34 56", language="en"))

    db.session.refresh(sanne)
    assert (sanne.name, sanne.phone, sanne.language, sanne.contact_sms) == ("Sanne V.", "+32470123456", "en", False)


def test_remove_takes_the_parent_out_of_the_course_only(client, auth, trainer, course, create_parent, db):
    sanne = create_parent("Sanne", course=course)
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/parents/{sanne.id}/remove", data={"confirmed": "1"})

    assert response.headers["Location"] == f"/courses/{course.id}"
    assert services.course_parents(course) == []
    assert db.session.query(Parent).count() == 1


def test_move_puts_the_parent_in_the_other_course(client, auth, trainer, course, create_course, create_parent, db):
    other = create_course("Tweede groep")
    sanne = create_parent("Sanne", course=course)
    auth.login(trainer.email)

    client.post(f"/courses/{course.id}/parents/{sanne.id}/move", data={"course_id": str(other.id)})

    assert [(e.course_id, e.parent_id) for e in db.session.query(Enrolment)] == [(other.id, sanne.id)]


def test_move_to_a_course_of_another_trainer_is_refused(client, auth, trainer, course, create_user, create_course,
                                                         create_parent, db):
    foreign = create_course("Niet van mij", trainers=[create_user("other@example.org", name="Other")])
    sanne = create_parent("Sanne", course=course)
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/parents/{sanne.id}/move", data={"course_id": str(foreign.id)})

    assert response.status_code == 400
    assert [e.course_id for e in db.session.query(Enrolment)] == [course.id]


def test_parent_of_another_course_is_not_found_under_this_course(client, auth, trainer, course, create_course,
                                                                  create_parent, db):
    other = create_course("Tweede groep")
    sanne = create_parent("Sanne", course=other)
    auth.login(trainer.email)

    response = client.get(f"/courses/{course.id}/parents/{sanne.id}/edit")

    assert response.status_code == 404


def test_a_parent_with_a_bad_email_and_a_bad_phone_hears_about_both(db):
    from core.errors import caught

    errors = caught(services.clean_parent, name="Sanne", email="not-an-address", phone="12", language="nl")

    assert [e.field for e in errors] == ["email", "phone"]
