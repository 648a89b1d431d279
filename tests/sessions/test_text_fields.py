"""Session titles are one line (field error, nothing stored); titles and names stored before that rule still give
valid feeds, downloads and invite mails."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from accounts import services as accounts
from core import ical, mail
from core.text import has_control_chars
from courses.links import course_feed_token, parent_feed_token
from courses.models import Course, Parent
from sessions.models import WorkshopSeries, WorkshopSession
from sessions.scheduling import reschedule_session

TITLE_MESSAGE = "Schrijf de titel op één regel, zonder tabs of onzichtbare tekens."
TEXT_MESSAGE = "Deze tekst bevat een teken dat niet kan."
#: PostgreSQL text cannot hold NUL, so what is stored holds the other control characters.
STORED_TITLE, STORED_NAME, STORED_DESCRIPTION = "Titel\r\nX\x0bY", "San\x0bne\r\nde Vries", "Een\r\nTwee\x1bDrie"


@pytest.fixture
def bearer(db):
    def make(user) -> dict:
        _row, token = accounts.create_api_token(user)
        db.session.commit()
        return {"Authorization": f"Bearer {token}"}

    return make


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"title": "Titel\nX"}, "title", TITLE_MESSAGE),
    ({"title": "Titel\nX", "count": 3}, "title", TITLE_MESSAGE),
    ({"title": "Titel\u2029X"}, "title", TITLE_MESSAGE),
    ({"title": "Titel", "description": "Een\x07Twee"}, "description", TEXT_MESSAGE),
])
def test_api_session_with_a_control_character_gets_422_and_stores_nothing(client, db, trainer, course, bearer,
                                                                          body, field, message):
    response = client.post(f"/api/v1/courses/{course.id}/sessions", headers=bearer(trainer),
                           json={"starts_at": "2030-03-25T19:30", "ends_at": "21:00", **body})

    assert response.status_code == 422
    assert response.get_json() == {"error": {"code": "invalid", "field": field, "message": message}}
    assert (_count(db, WorkshopSession), _count(db, WorkshopSeries)) == (0, 0)


def test_session_form_with_a_line_break_in_the_title_shows_the_field_error(client, auth, db, trainer, course):
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/sessions/new", data={
        "title": "Titel\r\nX", "kind": "workshop", "starts_at": "2030-03-25T19:30", "ends_at": "20:30",
        "timezone": "Europe/Amsterdam", "lobby_minutes": "15", "repeat": "once", "invite": "course"})

    assert response.status_code == 400
    assert f'<p class="error" id="title-error">{TITLE_MESSAGE}</p>' in response.get_data(as_text=True)
    assert _count(db, WorkshopSession) == 0


def _valid_calendar(body: bytes):
    """The parsed calendar, after checking that no control character but a tab is left outside the CRLF line ends."""
    assert not has_control_chars(body.decode().replace("\r\n", ""), multi_line=True)
    assert b"\r" not in body.replace(b"\r\n", b"") and b"\n" not in body.replace(b"\r\n", b"")
    return ical.parse(body)


@pytest.fixture
def stored(db, course, create_parent, create_workshop_session):
    """A session, its course and a parent whose texts were written into the database with control characters."""
    parent = create_parent("Sanne", course=course)
    session = create_workshop_session(title="Workshop")
    db.session.execute(update(WorkshopSession).where(WorkshopSession.id == session.id)
                       .values(title=STORED_TITLE, description=STORED_DESCRIPTION))
    db.session.execute(update(Parent).where(Parent.id == parent.id).values(name=STORED_NAME))
    db.session.execute(update(Course).where(Course.id == course.id).values(title=STORED_TITLE))
    db.session.commit()
    db.session.expire_all()
    mail.get_mail_transport().outbox.clear()
    return session, parent


def test_feed_and_download_of_stored_control_characters_are_valid(client, db, stored):
    session, parent = stored
    token = parent_feed_token(parent)
    course_token = course_feed_token(session.course)
    db.session.commit()

    feed = client.get(f"/c/{token}.ics")
    download = client.get(f"/c/{token}/session/{session.id}.ics")
    course_feed = client.get(f"/c/{course_token}.ics")

    assert (feed.status_code, download.status_code, course_feed.status_code) == (200, 200, 200)
    for response in (feed, download):
        event = _valid_calendar(response.data).walk("VEVENT")[0]
        assert str(event["SUMMARY"]) == "Titel X Y"
        assert str(event["DESCRIPTION"]).endswith("Een\nTwee Drie")
    assert str(_valid_calendar(course_feed.data)["X-WR-CALNAME"]) == "Ouderkamer – Titel X Y"


def test_invite_mail_of_stored_control_characters_is_sent_and_valid(db, stored):
    session, parent = stored

    reschedule_session(session, starts_local=session.local_start + timedelta(days=7))
    db.session.commit()

    [message] = mail.get_mail_transport().outbox
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    event = _valid_calendar(part.get_payload(decode=True)).walk("VEVENT")[0]
    assert str(message["To"]) == parent.email
    assert str(message["Subject"]).startswith("Gewijzigd: Titel X Y op ")
    assert (str(event["SUMMARY"]), event["ATTENDEE"].params["CN"]) == ("Titel X Y", "San ne de Vries")
    assert b"Subject: Gewijzigd: Titel X Y op" in message.as_bytes()
