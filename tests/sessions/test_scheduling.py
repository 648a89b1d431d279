"""Scheduling live sessions: weekly series across DST, the trainer's forms, moving, cancelling, double-booking."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core.db import utcnow
from sessions import scheduling
from sessions.models import SessionKind, SessionStatus, WorkshopSeries, WorkshopSession

AMS = ZoneInfo("Europe/Amsterdam")
UTC = ZoneInfo("UTC")


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _form(**overrides) -> dict:
    start = (utcnow() + timedelta(days=3)).astimezone(AMS)
    values = {"title": "Voorlezen samen", "kind": "workshop", "starts_at": start.strftime("%Y-%m-%dT19:30"),
              "ends_at": "20:30", "timezone": "Europe/Amsterdam", "lobby_minutes": "15", "repeat": "once",
              "invite": "course"}
    return values | overrides


@pytest.mark.parametrize(("first", "utc_hours"), [
    (datetime(2027, 3, 18, 19, 30), [18, 18, 17]),  # the last Sunday of March 2027 is the 28th
    (datetime(2027, 10, 21, 19, 30), [17, 17, 18]),  # the last Sunday of October 2027 is the 31st
])
def test_schedule_series_across_dst_keeps_the_local_start(db, course, first, utc_hours):
    series = scheduling.schedule_series(course, title="Reeks", first_local=first, timezone="Europe/Amsterdam",
                                      count=3)
    db.session.commit()

    assert [s.local_start.strftime("%a %H:%M") for s in series.sessions] == ["Thu 19:30"] * 3
    assert [s.starts_at.astimezone(UTC).hour for s in series.sessions] == utc_hours
    assert [s.local_start.date() for s in series.sessions] == [first.date() + timedelta(weeks=i) for i in range(3)]


def test_schedule_series_until_counts_the_weeks_including_the_last_date(db, course):
    series = scheduling.schedule_series(course, title="Reeks", first_local=datetime(2027, 1, 7, 10),
                                      timezone="Europe/Amsterdam", until=datetime(2027, 1, 28).date())

    assert series.count == 4
    assert [s.local_start.day for s in series.sessions] == [7, 14, 21, 28]


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"ends_at": "19:00"}, "ends_at", "De eindtijd moet na de begintijd liggen."),
    ({"timezone": "Mars/Olympus"}, "timezone", "Onbekende tijdzone: Mars/Olympus"),
    ({"repeat": "weekly", "count": "0"}, "count", "Kies tussen 1 en 52 keer."),
    ({"repeat": "weekly", "count": "500"}, "count", "Kies tussen 1 en 52 keer."),
    ({"starts_at": "2020-01-02T19:30", "ends_at": "20:30"}, "starts_at", "Deze datum ligt in het verleden."),
    ({"repeat": "weekly", "until": "2020-01-01"}, "until", "De einddatum moet na de eerste datum liggen."),
])
def test_create_view_bad_input_shows_the_message_on_the_field_and_saves_nothing(
        db, client, auth, trainer, course, overrides, field, message):
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/sessions/new", data=_form(**overrides))

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'<p class="error" id="{field}-error">{message}</p>' in html
    assert (_count(db, WorkshopSession), _count(db, WorkshopSeries)) == (0, 0)


def test_create_view_weekly_series_with_chosen_parents(db, client, auth, trainer, course, create_parent):
    sanne = create_parent("Sanne", course=course)
    create_parent("Jan", course=course, email="jan@example.org")
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/sessions/new", data=_form(
        repeat="weekly", count="3", invite="chosen", invitees=[str(sanne.id)], kind="parents_meetup"))

    sessions = db.session.scalars(select(WorkshopSession).order_by(WorkshopSession.starts_at)).all()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/sessions/{sessions[0].id}"
    assert [(s.kind, s.invite_whole_course, [p.name for p in s.invitees], s.duration_minutes) for s in sessions] == [
        (SessionKind.parents_meetup, False, ["Sanne"], 60)] * 3
    assert len({s.series_id for s in sessions}) == 1


def test_create_view_one_to_one_needs_exactly_one_parent(db, client, auth, trainer, course, create_parent):
    create_parent("Sanne", course=course)
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/sessions/new", data=_form(kind="one_to_one"))

    assert response.status_code == 400
    assert "Kies precies één ouder voor een gesprek één op één." in response.get_data(as_text=True)
    assert _count(db, WorkshopSession) == 0


def test_edit_view_moves_one_date_and_leaves_the_rest_of_the_series(db, client, auth, trainer, course):
    series = scheduling.schedule_series(course, title="Reeks", first_local=datetime(2027, 1, 7, 10),
                                      timezone="Europe/Amsterdam", count=3)
    db.session.commit()
    first, second, third = series.sessions
    auth.login(trainer.email)

    response = client.post(f"/sessions/{second.id}/edit", data={
        "title": "Reeks", "starts_at": "2027-01-15T14:00", "ends_at": "15:30", "timezone": "Europe/Amsterdam",
        "scope": "one"})

    db.session.expire_all()
    assert response.status_code == 302
    assert [(s.local_start.strftime("%d %H:%M"), s.duration_minutes, s.sequence) for s in (first, second, third)] == [
        ("07 10:00", 60, 0), ("15 14:00", 90, 1), ("21 10:00", 60, 0)]


def test_cancel_view_cancels_one_date_only(db, client, auth, trainer, course):
    series = scheduling.schedule_series(course, title="Reeks", first_local=datetime(2027, 1, 7, 10),
                                      timezone="Europe/Amsterdam", count=2)
    db.session.commit()
    auth.login(trainer.email)

    client.post(f"/sessions/{series.sessions[0].id}/cancel", data={"confirmed": "1"})

    db.session.expire_all()
    assert [s.status for s in series.sessions] == [SessionStatus.cancelled, SessionStatus.scheduled]


def test_cancel_series_view_cancels_every_remaining_date(db, client, auth, trainer, course):
    series = scheduling.schedule_series(course, title="Reeks", first_local=datetime(2027, 1, 7, 10),
                                      timezone="Europe/Amsterdam", count=3)
    db.session.commit()
    auth.login(trainer.email)

    response = client.post(f"/sessions/series/{series.id}/cancel", data={"confirmed": "1"})

    db.session.expire_all()
    assert response.headers["Location"] == f"/courses/{course.id}"
    assert [s.status for s in series.sessions] == [SessionStatus.cancelled] * 3
    assert [s.sequence for s in series.sessions] == [1, 1, 1]


def test_session_pages_of_another_trainers_course_are_forbidden(db, client, auth, create_user, create_workshop_session):
    session = create_workshop_session()
    stranger = create_user("other@example.org", name="Ander")
    auth.login(stranger.email)

    assert [client.get(url).status_code for url in (f"/sessions/{session.id}", f"/sessions/{session.id}/join",
                                                    f"/sessions/{session.id}/edit")] == [403, 403, 403]


def test_a_time_in_the_dst_gap_is_refused_not_moved(db, course):
    with pytest.raises(scheduling.ScheduleError) as caught:
        scheduling.schedule_session(course, title="Nacht", starts_local=datetime(2027, 3, 28, 2, 30),
                                    timezone="Europe/Amsterdam")

    assert caught.value.field == "starts_at" and "02:30" in str(caught.value.message)


def test_a_weekly_series_with_one_date_in_the_dst_gap_is_refused(db, course):
    with pytest.raises(scheduling.ScheduleError):
        scheduling.schedule_series(course, title="Reeks", first_local=datetime(2027, 3, 14, 2, 30),
                                   timezone="Europe/Amsterdam", count=4)

