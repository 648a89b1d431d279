"""Calendar feeds: PUBLISH body, same UIDs as invites, ETag/304, revocable token, join entry point."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from core import ical
from core.db import utcnow
from courses.links import course_feed_token, parent_feed_token, reset_feed_token
from sessions.calendar import series_dates, series_uid, session_uid
from sessions.models import SessionStatus
from sessions.scheduling import cancel_series, cancel_session, reschedule_session, schedule_series

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def substance(component) -> tuple:
    """Components, properties, values and parameters, independent of order, quoting and folding."""
    props = []
    for name, values in component.items():
        for value in values if isinstance(values, list) else [values]:
            params = tuple(sorted((key, str(val)) for key, val in value.params.items()))
            props.append((name, value.to_ical(), params))
    return component.name, tuple(sorted(props)), tuple(sorted(substance(s) for s in component.subcomponents))


@pytest.fixture
def parent(course, create_parent):
    return create_parent("Sanne", course=course)


@pytest.fixture
def token(db, parent):
    value = parent_feed_token(parent)
    db.session.commit()
    return value


def test_feed_is_publish_with_invite_uids_names_and_refresh_hints(client, create_workshop_session, token):
    first = create_workshop_session(title="Eerste")
    second = create_workshop_session(title="Tweede", starts_at=first.starts_at + timedelta(days=7))

    response = client.get(f"/c/{token}.ics")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    cal = ical.parse(response.data)
    assert (cal["METHOD"], str(cal["X-WR-CALNAME"]), str(cal["NAME"])) == ("PUBLISH", "Ouderkamer", "Ouderkamer")
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H" in response.data
    assert b"X-PUBLISHED-TTL:PT1H" in response.data
    events = cal.walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [session_uid(first), session_uid(second)]
    assert all("ATTENDEE" not in e for e in events)
    assert [e["DTSTAMP"].dt for e in events] == [first.updated_at.replace(microsecond=0),
                                                 second.updated_at.replace(microsecond=0)]
    assert str(events[0]["URL"]) == f"http://ouderkamer.test/c/{token}/join/{first.id}"


def test_feed_is_stored_by_radicale_unchanged(client, caldav, create_workshop_session, token):
    create_workshop_session(title="Eerste")
    create_workshop_session(title="Tweede", starts_at=utcnow() + timedelta(days=120))
    body = client.get(f"/c/{token}.ics").data
    collection = caldav.new_calendar()

    status = caldav.put(collection, body).status_code
    stored = ical.parse(caldav.get(collection))

    assert status in (201, 204)
    sent = sorted(substance(e) for e in ical.parse(body).walk("VEVENT"))
    assert sorted(substance(e) for e in stored.walk("VEVENT")) == sent


def test_feed_etag_is_stable_and_if_none_match_gives_304(client, create_workshop_session, token):
    create_workshop_session()

    first = client.get(f"/c/{token}.ics")
    second = client.get(f"/c/{token}.ics")
    cached = client.get(f"/c/{token}.ics", headers={"If-None-Match": first.headers["ETag"]})

    assert first.headers["ETag"] == second.headers["ETag"]
    assert first.data == second.data
    assert first.headers["ETag"].startswith('"') and not first.headers["ETag"].startswith("W/")
    assert (cached.status_code, cached.data) == (304, b"")


def test_feed_etag_changes_when_a_session_moves(db, client, create_workshop_session, token):
    session = create_workshop_session()
    before = client.get(f"/c/{token}.ics").headers["ETag"]

    session.starts_at += timedelta(hours=1)
    session.sequence += 1
    db.session.commit()
    after = client.get(f"/c/{token}.ics", headers={"If-None-Match": before})

    assert after.status_code == 200
    assert after.headers["ETag"] != before


def test_feed_leaves_out_cancelled_sessions(db, client, create_workshop_session, token):
    session = create_workshop_session()
    session.status = SessionStatus.cancelled
    db.session.commit()

    response = client.get(f"/c/{token}.ics")

    assert b"BEGIN:VEVENT" not in response.data


def test_reset_token_gets_404_and_the_new_one_works(db, client, parent, token):
    new = reset_feed_token(parent=parent)
    db.session.commit()

    assert client.get(f"/c/{token}.ics").status_code == 404
    assert client.get(f"/c/{new}.ics").status_code == 200
    assert client.get("/c/not-a-token.ics").status_code == 404


def test_join_link_opens_the_lobby_with_the_calendar_token(client, create_workshop_session, token):
    session = create_workshop_session(title="Voorlezen")

    response = client.get(f"/c/{token}/join/{session.id}")
    lobby = client.get(response.headers["Location"])

    assert response.status_code == 302
    assert response.headers["Location"] == f"/p/{token}/s/{session.id}"
    assert lobby.status_code == 200
    assert "Voorlezen" in lobby.get_data(as_text=True)


def test_join_link_of_a_cancelled_session_says_so(db, client, create_workshop_session, token):
    session = create_workshop_session(title="Voorlezen")
    session.status = SessionStatus.cancelled
    db.session.commit()

    response = client.get(f"/c/{token}/join/{session.id}")

    assert response.status_code == 200
    assert "<h1><bdi>Voorlezen</bdi></h1>" in response.get_data(as_text=True)


def test_join_link_for_another_courses_session_is_404(client, create_course, create_workshop_session, token):
    other = create_workshop_session(course=create_course("Ander"))

    assert client.get(f"/c/{token}/join/{other.id}").status_code == 404


def test_download_is_a_publish_ics_of_one_session(client, create_workshop_session, token):
    session = create_workshop_session()

    response = client.get(f"/c/{token}/session/{session.id}.ics")

    cal = ical.parse(response.data)
    assert response.headers["Content-Disposition"] == f'attachment; filename="ouderkamer-{session.id}.ics"'
    assert cal["METHOD"] == "PUBLISH"
    assert [str(e["UID"]) for e in cal.walk("VEVENT")] == [session_uid(session)]
    assert "ATTENDEE" not in cal.walk("VEVENT")[0]


def test_course_feed_page_needs_a_trainer_of_the_course(client, auth, course, coordinator):
    assert client.get(f"/courses/{course.id}/calendar").status_code == 302

    auth.login("trainer@example.org")
    page = client.get(f"/courses/{course.id}/calendar").get_data(as_text=True)

    assert "webcal://ouderkamer.test/c/" in page


def test_course_feed_lists_the_courses_sessions_without_join_links(db, client, course, create_workshop_session):
    session = create_workshop_session()
    token = course_feed_token(course)
    db.session.commit()

    cal = ical.parse(client.get(f"/c/{token}.ics").data)

    assert str(cal["NAME"]) == "Ouderkamer – Voorlezen"
    assert [str(e["UID"]) for e in cal.walk("VEVENT")] == [session_uid(session)]
    assert "URL" not in cal.walk("VEVENT")[0]


def test_session_for_other_invitees_is_neither_in_the_feed_nor_joinable(client, course, create_parent,
                                                                      create_workshop_session, token):
    other = create_parent("Jan", course=course, email="jan@example.org")
    private = create_workshop_session(title="Gesprek", invitees=[other])

    body = client.get(f"/c/{token}.ics").data

    assert session_uid(private).encode() not in body
    assert client.get(f"/c/{token}/join/{private.id}").status_code == 404


@pytest.fixture
def series(db, course, parent):
    first = (utcnow() + timedelta(days=2)).astimezone(AMSTERDAM).replace(hour=10, minute=0, second=0, microsecond=0)
    series = schedule_series(course, title="Reeks", first_local=first, timezone="Europe/Amsterdam", count=3)
    db.session.commit()
    return series


def test_feed_lists_a_series_once_with_its_override_and_exdate(db, client, caldav, series, token):
    second, third = series_dates(series)[1:]
    original = second.starts_at
    reschedule_session(second, starts_local=second.local_start + timedelta(hours=3))
    cancel_session(third)
    db.session.commit()

    body = client.get(f"/c/{token}.ics").data

    events = ical.parse(body).walk("VEVENT")
    assert [(str(e["UID"]), e.get("RECURRENCE-ID") and e["RECURRENCE-ID"].dt) for e in events] == [
        (series_uid(series), None), (series_uid(series), original.astimezone(AMSTERDAM))]
    assert dict(events[0]["RRULE"])["COUNT"] == [3]
    assert [d.dt for d in events[0]["EXDATE"].dts] == [third.starts_at.astimezone(AMSTERDAM)]
    assert events[1].start == second.starts_at.astimezone(AMSTERDAM)
    assert all("ATTENDEE" not in e for e in events)
    assert str(events[0]["URL"]) == f"http://ouderkamer.test/c/{token}/series/{series.id}/join"
    collection = caldav.new_calendar()
    assert caldav.put(collection, body).status_code in (201, 204)
    stored = ical.parse(caldav.get(collection))
    assert sorted(substance(e) for e in stored.walk("VEVENT")) == sorted(substance(e) for e in events)


def test_feed_with_a_series_has_stable_bytes(client, series, token):
    first = client.get(f"/c/{token}.ics")
    second = client.get(f"/c/{token}.ics")

    assert (first.data, first.headers["ETag"]) == (second.data, second.headers["ETag"])


def test_feed_leaves_out_a_cancelled_series(db, client, series, token):
    cancel_series(series)
    db.session.commit()

    assert b"BEGIN:VEVENT" not in client.get(f"/c/{token}.ics").data


def test_download_of_a_series_date_is_the_whole_series(client, series, token):
    session = series_dates(series)[1]

    cal = ical.parse(client.get(f"/c/{token}/session/{session.id}.ics").data)

    assert cal["METHOD"] == "PUBLISH"
    assert [str(e["UID"]) for e in cal.walk("VEVENT")] == [series_uid(series)]
    assert dict(cal.walk("VEVENT")[0]["RRULE"])["COUNT"] == [3]


def test_series_join_link_leads_to_the_next_date(db, client, series, token):
    first, second = series_dates(series)[:2]
    cancel_session(first)
    db.session.commit()

    response = client.get(f"/c/{token}/series/{series.id}/join")

    assert response.status_code == 302
    assert response.headers["Location"] == f"/c/{token}/join/{second.id}"


def test_series_join_link_of_another_course_is_404(client, create_course, token):
    other = schedule_series(create_course("Ander"), title="Ander", first_local=utcnow() + timedelta(days=3),
                            timezone="Europe/Amsterdam", count=2)

    assert client.get(f"/c/{token}/series/{other.id}/join").status_code == 404
