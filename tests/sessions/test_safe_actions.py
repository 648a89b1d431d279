"""Safe actions: a confirmation that says what will happen before cancel, archive, unenrol, revoke and nudge; the
double-booking and course-end warnings before anything is saved; a local time that occurs twice is asked, not
guessed (form) and refused without its offset (API)."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from accounts import services as accounts
from activities.models import ActivityNudge
from core.db import utcnow
from core.mail import get_mail_transport
from courses import services as courses
from courses.models import Course, Parent
from sessions import scheduling
from sessions.models import SessionStatus, WorkshopSeries, WorkshopSession
from tests.activities.helpers import make_activity

AMS = ZoneInfo("Europe/Amsterdam")


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def world(db, course, create_parent):
    """A course with six reachable parents and one without a channel, a weekly series of three dates, an activity."""
    parents = [create_parent(f"Ouder {i}", course=course, email=f"ouder{i}@example.org") for i in range(6)]
    courses.enrol(course, courses.add_parent(name="Zonder kanaal", phone="+31612345699", contact_email=False))
    first = (utcnow() + timedelta(days=2)).astimezone(AMS).replace(hour=10, minute=0, second=0, microsecond=0)
    series = scheduling.schedule_series(course, title="Reeks", first_local=first.replace(tzinfo=None),
                                        timezone="Europe/Amsterdam", count=3)
    db.session.commit()
    get_mail_transport().clear()
    return {"course": course, "parents": parents, "series": series, "session": series.sessions[0],
            "activity": make_activity(course, title="Voorlezen thuis")}


def _urls(w) -> dict:
    course, parent = w["course"].id, w["parents"][0].id
    return {"cancel": f"/sessions/{w['session'].id}/cancel", "cancel_series": f"/sessions/series/{w['series'].id}/cancel",
            "archive": f"/courses/{course}/archive", "unenrol": f"/courses/{course}/parents/{parent}/remove",
            "revoke": f"/courses/{course}/parents/{parent}/link/revoke",
            "nudge": f"/courses/{course}/activities/{w['activity'].id}/nudge"}


def _state(db, w) -> tuple:
    db.session.expire_all()
    return (tuple(s.status for s in w["series"].sessions), db.session.get(Course, w["course"].id).archived_at,
            len(courses.course_parents(w["course"])), db.session.get(Parent, w["parents"][0].id).access_revoked_at,
            _count(db, ActivityNudge), len(get_mail_transport().outbox))


ACTIONS = {
    "cancel": ("Deze datum annuleren?", ["6 ouders krijgen een afzegging.", "1 ouder is niet te bereiken"]),
    "cancel_series": ("De hele reeks annuleren?", ["3 bijeenkomsten worden geannuleerd:",
                                                   "6 ouders krijgen een afzegging."]),
    "archive": ("Cursus archiveren?", ["7 ouders zien de cursus niet meer op hun eigen pagina."]),
    "unenrol": ("Ouder 0 uitschrijven?", ["Dit is de laatste cursus van Ouder 0"]),
    "revoke": ("Link van Ouder 0 intrekken?", ["werken meteen niet meer, voor 1 cursus."]),
    "nudge": ("Herinnering sturen?", ["6 ouders krijgen een herinnering, elk in de eigen taal.",
                                      "1 ouder is niet te bereiken"]),
}


#: Which part of _state each confirmed action changes: statuses, archived, enrolled, revoked, nudges.
CHANGES = {"cancel": [0], "cancel_series": [0], "archive": [1], "unenrol": [2, 3], "revoke": [3], "nudge": [4]}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_a_one_click_post_only_shows_the_confirmation_with_what_will_happen(db, client, auth, trainer, world, action):
    auth.login(trainer.email)
    before = _state(db, world)
    heading, consequences = ACTIONS[action]

    shown = client.get(_urls(world)[action])
    one_click = client.post(_urls(world)[action])
    after_one_click = _state(db, world)
    confirmed = client.post(_urls(world)[action], data={"confirmed": "1"})

    html = one_click.get_data(as_text=True)
    assert (shown.status_code, one_click.status_code, confirmed.status_code) == (200, 200, 302)
    assert f"<h1>{heading}</h1>" in html and f"<h1>{heading}</h1>" in shown.get_data(as_text=True)
    assert [text for text in consequences if text not in html] == []
    assert '<input type="hidden" name="confirmed" value="1">' in html
    assert after_one_click == before  # nothing cancelled, archived, unenrolled, revoked or nudged; no mail
    after = _state(db, world)  # unenrolled from their last course: the link is revoked too
    assert [i for i in range(5) if after[i] != before[i]] == CHANGES[action]


def test_the_cancel_reason_reaches_the_session(db, client, auth, trainer, world):
    auth.login(trainer.email)

    client.post(_urls(world)["cancel"], data={"confirmed": "1", "reason": "  De trainer is ziek.  "})

    db.session.expire_all()
    assert [(s.status, s.cancellation_reason) for s in world["series"].sessions] == [
        (SessionStatus.cancelled, "De trainer is ziek."), (SessionStatus.scheduled, None),
        (SessionStatus.scheduled, None)]


def test_the_series_cancel_reason_reaches_every_date_and_a_bad_one_cancels_nothing(db, client, auth, trainer, world):
    auth.login(trainer.email)

    refused = client.post(_urls(world)["cancel_series"], data={"confirmed": "1", "reason": "x" * 301})
    db.session.expire_all()
    untouched = [s.status for s in world["series"].sessions]
    client.post(_urls(world)["cancel_series"], data={"confirmed": "1", "reason": "Vakantie"})

    db.session.expire_all()
    assert refused.status_code == 400 and "Schrijf de reden in hoogstens 300 tekens." in refused.get_data(as_text=True)
    assert untouched == [SessionStatus.scheduled] * 3
    assert [(s.status, s.cancellation_reason) for s in world["series"].sessions] == [
        (SessionStatus.cancelled, "Vakantie")] * 3


# --- warnings before saving ---------------------------------------------------------------------------------------


def _form(start: datetime, **overrides) -> dict:
    return {"title": "Voorlezen samen", "kind": "workshop", "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=1)).strftime("%H:%M"), "timezone": "Europe/Amsterdam",
            "lobby_minutes": "15", "repeat": "once", "invite": "course"} | overrides


def _three_days_ahead(hour: int) -> datetime:
    return (utcnow() + timedelta(days=3)).astimezone(AMS).replace(hour=hour, minute=0, second=0, microsecond=0,
                                                                 tzinfo=None)


def test_a_double_booking_is_warned_before_any_row_is_written_and_saved_only_when_confirmed(
        db, client, auth, trainer, course, create_course):
    start = _three_days_ahead(19)
    scheduling.schedule_session(create_course("Spelen"), title="Al gepland", starts_local=start,
                                timezone="Europe/Amsterdam")
    db.session.commit()
    auth.login(trainer.email)

    warned = client.post(f"/courses/{course.id}/sessions/new", data=_form(start + timedelta(minutes=30)))
    rows_after_warning = _count(db, WorkshopSession)
    saved = client.post(f"/courses/{course.id}/sessions/new", data=_form(start + timedelta(minutes=30),
                                                                          confirmed="1"))

    html = warned.get_data(as_text=True)
    assert warned.status_code == 200
    assert "Dubbel geboekt: op dat moment is er al 1 bijeenkomst met een trainer van deze cursus." in html
    assert f"Al gepland (Spelen): {start:%d-%m-%Y} 19:00–20:00" in html
    assert '<button type="submit" name="confirmed" value="1" class="button" id="save-anyway">Toch opslaan</button>' in html
    assert rows_after_warning == 1
    assert saved.status_code == 302 and _count(db, WorkshopSession) == 2


def test_a_series_past_the_course_end_is_warned_before_any_row_is_written(db, client, auth, trainer, create_course):
    start = _three_days_ahead(10)
    course = create_course("Kort", ends_on=(start + timedelta(days=8)).date())
    auth.login(trainer.email)

    warned = client.post(f"/courses/{course.id}/sessions/new", data=_form(start, repeat="weekly", count="4"))

    html = warned.get_data(as_text=True)
    assert warned.status_code == 200
    assert f"2 datums liggen na de einddatum van de cursus ({course.ends_on:%d-%m-%Y})." in html
    assert [f"{start + timedelta(weeks=w):%d-%m-%Y} 10:00" in html for w in (2, 3)] == [True, True]
    assert (_count(db, WorkshopSession), _count(db, WorkshopSeries)) == (0, 0)


def test_a_move_into_a_double_booking_is_warned_before_saving(db, client, auth, trainer, course, create_workshop_session):
    start = _three_days_ahead(19)
    create_workshop_session(starts_at=start.replace(tzinfo=AMS), title="Al gepland")
    moving = create_workshop_session(starts_at=(start + timedelta(days=1)).replace(tzinfo=AMS), title="Verplaatsen")
    auth.login(trainer.email)

    warned = client.post(f"/sessions/{moving.id}/edit", data={
        "title": "Verplaatsen", "starts_at": f"{start:%Y-%m-%dT19:30}", "ends_at": "20:30",
        "timezone": "Europe/Amsterdam"})

    db.session.expire_all()
    assert warned.status_code == 200
    assert "Dubbel geboekt" in warned.get_data(as_text=True)
    assert (moving.local_start.replace(tzinfo=None), moving.sequence) == (start + timedelta(days=1), 0)


# --- daylight saving time -----------------------------------------------------------------------------------------


def test_the_form_asks_which_of_the_two_0230s_on_the_night_the_clocks_go_back(db, client, auth, trainer, course):
    auth.login(trainer.email)
    night = datetime(2027, 10, 31, 2, 30)  # the last Sunday of October 2027

    asked = client.post(f"/courses/{course.id}/sessions/new", data=_form(night))
    rows = _count(db, WorkshopSession)
    chosen = client.post(f"/courses/{course.id}/sessions/new", data=_form(night, fold="1"))

    html = asked.get_data(as_text=True)
    assert asked.status_code == 400 and rows == 0
    assert "Op 31-10-2027 komt 02:30 twee keer voor" in html
    assert '<input id="fold-0" name="fold" type="radio" value="0"> 02:30 zomertijd (UTC+2)' in html
    assert '<input id="fold-1" name="fold" type="radio" value="1"> 02:30 wintertijd (UTC+1)' in html
    assert chosen.status_code == 302
    assert db.session.scalar(select(WorkshopSession.starts_at)).isoformat() == "2027-10-31T01:30:00+00:00"


def test_the_api_refuses_an_ambiguous_time_without_its_offset(db, client, trainer, course):
    _row, token = accounts.create_api_token(trainer)
    db.session.commit()
    answers = {}

    for starts_at in ("2027-10-31T02:30", "2027-10-31T02:30+02:00", "2027-10-31T02:30+01:00",
                      "2027-10-31T02:30+03:00", "2027-03-28T02:30"):  # the last: the hour skipped in spring
        response = client.post(f"/api/v1/courses/{course.id}/sessions", headers={"Authorization": f"Bearer {token}"},
                               json={"title": "Nacht", "starts_at": starts_at, "timezone": "Europe/Amsterdam"})
        body = response.get_json()
        answers[starts_at] = (response.status_code, body[0]["starts_at"] if response.status_code == 201 else
                              (body["error"]["field"], body["error"]["message"]))

    assert answers == {
        "2027-10-31T02:30": (422, ("starts_at", "2027-10-31T02:30 occurs twice in Europe/Amsterdam (the clocks go back "
                                                "an hour that night): give its offset: 2027-10-31T02:30+02:00 (summer "
                                                "time) or 2027-10-31T02:30+01:00 (winter time).")),
        "2027-10-31T02:30+02:00": (201, "2027-10-31T00:30:00+00:00"),
        "2027-10-31T02:30+01:00": (201, "2027-10-31T01:30:00+00:00"),
        "2027-10-31T02:30+03:00": (422, ("starts_at", "2027-10-31T02:30 in Europe/Amsterdam is at UTC+02:00, not "
                                                      "+03:00: give the local time in `timezone`.")),
        "2027-03-28T02:30": (422, ("starts_at", "Op 28-03-2027 bestaat 02:30 niet: de klok gaat die nacht een uur "
                                                "vooruit. Kies een andere tijd.")),
    }
    assert _count(db, WorkshopSession) == 2


def test_a_weekly_series_through_the_night_the_clocks_go_back_is_asked_too(db, course):
    with pytest.raises(scheduling.AmbiguousTimeError) as caught:
        scheduling.schedule_series(course, title="Reeks", first_local=datetime(2027, 10, 17, 2, 30),
                                   timezone="Europe/Amsterdam", count=3)

    series = scheduling.schedule_series(course, title="Reeks", first_local=datetime(2027, 10, 17, 2, 30),
                                        timezone="Europe/Amsterdam", count=3, fold=1)
    assert caught.value.local == datetime(2027, 10, 31, 2, 30)
    assert [s.starts_at.strftime("%d %H:%M") for s in series.sessions] == ["17 00:30", "24 00:30", "31 01:30"]
    assert date(2027, 10, 31) == series.sessions[2].local_start.date()
