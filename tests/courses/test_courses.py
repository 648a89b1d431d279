"""Courses through the services and the trainer's pages: create, edit, archive and the participants table."""

import re
from datetime import date

import pytest

from courses import services
from courses.models import Course
from courses.services import CourseError


def test_create_course_defaults_to_amsterdam_and_60_days(db, trainer):
    course = services.create_course(title=" Samen lezen ", trainers=[trainer])

    assert (course.title, course.timezone, course.retention_days, course.trainers) == (
        "Samen lezen", "Europe/Amsterdam", 60, [trainer])


@pytest.mark.parametrize(("fields", "field"), [
    ({"title": " "}, "title"),
    ({"timezone": "Europe/Atlantis"}, "timezone"),
    ({"starts_on": date(2027, 3, 2), "ends_on": date(2027, 3, 1)}, "ends_on"),
    ({"retention_days": 0}, "retention_days"),
    ({"retention_days": 366}, "retention_days"),
    ({"language": "xx"}, "language"),
    ({"trainers": []}, "trainers"),
])
def test_create_course_with_a_broken_rule_names_the_field(db, trainer, fields, field):
    values = {"title": "Cursus", "trainers": [trainer], **fields}

    with pytest.raises(CourseError) as caught:
        services.create_course(**values)

    assert caught.value.field == field


def test_update_course_with_end_before_start_changes_nothing(db, course):
    with pytest.raises(CourseError) as caught:
        services.update_course(course, starts_on=date(2027, 5, 1), ends_on=date(2027, 4, 1), title="Nieuw")

    assert caught.value.field == "ends_on"
    assert (course.title, course.starts_on) == ("Voorlezen", None)


def test_create_page_makes_the_trainer_the_course_trainer(client, auth, trainer, db):
    auth.login(trainer.email)

    response = client.post("/courses/new", data={
        "title": "Praten met peuters", "description": "Vier avonden", "language": "nl", "timezone": "Europe/Brussels",
        "starts_on": "2027-01-10", "ends_on": "2027-02-10", "retention_days": "30"})

    course = db.session.query(Course).one()
    assert response.headers["Location"] == f"/courses/{course.id}"
    assert (course.title, course.timezone, course.retention_days, course.starts_on, [t.id for t in course.trainers]) == (
        "Praten met peuters", "Europe/Brussels", 30, date(2027, 1, 10), [trainer.id])


def test_create_page_with_unknown_zone_shows_the_error_on_the_field(client, auth, trainer, db):
    auth.login(trainer.email)

    response = client.post("/courses/new", data={"title": "X", "language": "nl", "timezone": "Mars/Olympus",
                                                 "retention_days": "60"})

    assert response.status_code == 400
    assert 'id="timezone-error">Onbekende tijdzone: Mars/Olympus<' in response.get_data(as_text=True)
    assert db.session.query(Course).count() == 0


def test_create_page_with_end_before_start_is_refused(client, auth, trainer, db):
    auth.login(trainer.email)

    response = client.post("/courses/new", data={"title": "X", "language": "nl", "timezone": "Europe/Amsterdam",
                                                 "starts_on": "2027-03-02", "ends_on": "2027-03-01",
                                                 "retention_days": "60"})

    assert response.status_code == 400
    assert "De einddatum ligt voor de begindatum." in response.get_data(as_text=True)


def test_coordinator_assigns_another_trainer(client, auth, coordinator, trainer, db):
    auth.login(coordinator.email)

    client.post("/courses/new", data={"title": "Voor Tim", "language": "nl", "timezone": "Europe/Amsterdam",
                                      "retention_days": "60", "trainers": [str(trainer.id)]})

    course = db.session.query(Course).one()
    assert [t.id for t in course.trainers] == [trainer.id]
    assert [c.title for c in services.courses_for(trainer)] == ["Voor Tim"]


def test_edit_page_changes_the_course(client, auth, trainer, course, db):
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/edit", data={
        "title": "Voorlezen 2", "description": "", "language": "en", "timezone": "Europe/Amsterdam",
        "retention_days": "90"})

    db.session.refresh(course)
    assert response.headers["Location"] == f"/courses/{course.id}"
    assert (course.title, course.language, course.retention_days, [t.id for t in course.trainers]) == (
        "Voorlezen 2", "en", 90, [trainer.id])


def test_archive_takes_the_course_off_the_list(client, auth, trainer, course, db):
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/archive", data={"confirmed": "1"})

    db.session.refresh(course)
    assert response.headers["Location"] == "/courses"
    assert services.courses_for(trainer) == []
    assert course.archived_at is not None


def test_course_list_has_a_new_course_button(client, auth, trainer, db):
    auth.login(trainer.email)

    html = client.get("/courses").get_data(as_text=True)

    assert '<a class="button" href="/courses/new">' in html


def test_participants_table_shows_channels_and_placeholders(client, auth, trainer, course, db):
    services.enrol_parent(course, name="Amina", email="amina@example.org", phone="0612345678", language="ar",
                          contact_sms=True)
    db.session.commit()
    auth.login(trainer.email)

    html = client.get(f"/courses/{course.id}").get_data(as_text=True)

    row = re.search(r"<tr>\s*<td>Amina</td>.*?</tr>", html, re.S).group(0)
    cells = [re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
    assert cells[:6] == ["Amina", "ar", "e-mail, sms", "—", "—", "—"]


@pytest.mark.e2e
def test_trainer_creates_a_course_and_enrols_a_parent_in_the_browser(live_server, page, trainer):
    page.goto(live_server + "/login")
    page.get_by_label("E-mailadres").fill(trainer.email)
    page.get_by_label("Wachtwoord").fill("correct horse battery")
    page.get_by_role("button", name="Inloggen").click()
    page.get_by_role("link", name="Nieuwe cursus").click()
    page.get_by_label("Titel", exact=True).fill("Samen spelen")
    page.get_by_label("Begindatum").fill("2027-01-10")
    page.get_by_label("Einddatum").fill("2027-02-10")
    page.get_by_role("button", name="Opslaan").click()
    heading = page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("link", name="Ouder toevoegen").click()
    page.get_by_label("Naam").fill("Amina El Amrani")
    page.get_by_label("Mobiel nummer").fill("06 1234 5678")
    page.locator("select#language").select_option("ar")
    page.get_by_label("Contact per sms").check()
    page.get_by_role("button", name="Opslaan").click()

    assert heading == "Samen spelen"
    assert page.locator("#participants tbody tr td").all_inner_texts()[:6] == ["Amina El Amrani", "ar", "sms", "—", "—",
                                                                              "—"]
    assert page.get_by_role("status").first.inner_text() == "Amina El Amrani is ingeschreven."


def test_the_time_zone_is_a_select_with_amsterdam_first(client, auth, trainer):
    auth.login(trainer.email)

    page = client.get("/courses/new").get_data(as_text=True)

    assert '<select id="timezone"' in page
    assert page.index('value="Europe/Amsterdam"') < page.index('value="Africa/Abidjan"')


def test_a_course_form_shows_every_field_error_in_one_round(client, auth, trainer, db):
    auth.login(trainer.email)

    response = client.post("/courses/new", data={"title": " ", "language": "nl", "timezone": "Europe/Amsterdam",
                                                 "starts_on": "2027-05-01", "ends_on": "2027-04-01",
                                                 "retention_days": "60"})

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Geef de cursus een titel." in page and "De einddatum ligt voor de begindatum." in page


def test_the_api_lists_every_broken_rule_of_a_course(client, trainer, db):
    from accounts import services as accounts

    _row, token = accounts.create_api_token(trainer)
    db.session.commit()

    response = client.post("/api/v1/courses", headers={"Authorization": f"Bearer {token}"},
                           json={"title": "Cursus", "timezone": "Mars/Olympus", "starts_on": "2027-05-01",
                                 "ends_on": "2027-04-01"})

    error = response.get_json()["error"]
    assert response.status_code == 422
    assert {e["field"] for e in error["errors"]} == {"timezone", "ends_on"}
