"""Editing a session or its series: title, description, recording flag and time for one date, this and the
following dates, or the whole series (moved to another weekday and time); every changed date is announced."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core import ical
from core.db import utcnow
from core.mail import get_mail_transport
from sessions import scheduling

AMS = ZoneInfo("Europe/Amsterdam")


def _next_thursday(weeks: int = 1) -> datetime:
    today = utcnow().astimezone(AMS).date()
    thursday = today + timedelta(days=(3 - today.weekday()) % 7, weeks=weeks)
    return datetime.combine(thursday, datetime.min.time()).replace(hour=10)


@pytest.fixture
def parents(course, create_parent):
    return [create_parent("Sanne", course=course, email="sanne@example.org"),
            create_parent("Jan", course=course, email="jan@example.org")]


def _series(db, course, first: datetime, count: int = 3):
    series = scheduling.schedule_series(course, title="Voorlezen", first_local=first, timezone="Europe/Amsterdam",
                                        count=count, description="Oud", allow_past=True)
    db.session.commit()
    get_mail_transport().clear()
    return series


def _summaries(messages) -> list[tuple[str, list[str], list[int]]]:
    """Per message: the addressee, the SUMMARY and SEQUENCE of each VEVENT of its calendar."""
    found = []
    for message in messages:
        part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        events = [c for c in ical.parse(part.get_payload(decode=True)).walk("VEVENT")]
        found.append((message["To"], sorted({str(e["SUMMARY"]) for e in events}), sorted({int(e["SEQUENCE"])
                                                                                        for e in events})))
    return sorted(found)


def _edit(client, workshop_session, **values):
    local = workshop_session.local_start
    data = {"title": workshop_session.title, "description": workshop_session.description,
            "starts_at": local.strftime("%Y-%m-%dT%H:%M"), "ends_at": workshop_session.local_end.strftime("%H:%M"),
            "timezone": workshop_session.timezone, "scope": "one"}
    if workshop_session.recorded:
        data["recorded"] = "y"
    return client.post(f"/sessions/{workshop_session.id}/edit", data=data | values)


def test_editing_the_whole_series_changes_every_future_date_and_sends_the_change(db, client, auth, trainer, course,
                                                                                  parents):
    series = _series(db, course, _next_thursday(weeks=-2), count=4)  # two dates are over, two to come
    past, _past, coming, last = series.sessions
    auth.login(trainer.email)

    response = _edit(client, coming, title="Samen lezen", description="Nieuwe uitleg", recorded="y", scope="all")

    db.session.expire_all()
    assert response.status_code == 302
    assert [(s.title, s.description, s.recorded, s.sequence) for s in series.sessions] == [
        ("Voorlezen", "Oud", False, 0), ("Voorlezen", "Oud", False, 0),
        ("Samen lezen", "Nieuwe uitleg", True, 1), ("Samen lezen", "Nieuwe uitleg", True, 1)]
    assert series.title == "Samen lezen"
    assert [(s.local_start.strftime("%a %H:%M")) for s in (coming, last)] == ["Thu 10:00"] * 2
    assert [(to, "Samen lezen" in summaries) for to, summaries, _seq in _summaries(get_mail_transport().outbox)] == [
        ("jan@example.org", True), ("sanne@example.org", True)]
    assert past.starts_at < utcnow()


def test_moving_the_whole_series_moves_every_future_date_to_the_new_weekday_and_time(db, client, auth, trainer,
                                                                                      course, parents):
    series = _series(db, course, _next_thursday())
    first = series.sessions[0]
    friday = first.local_start.date() + timedelta(days=1)
    auth.login(trainer.email)

    response = _edit(client, first, starts_at=f"{friday:%Y-%m-%d}T14:00", ends_at="15:30", scope="all")

    db.session.expire_all()
    assert response.status_code == 302
    assert [(s.local_start.date() - first.original_starts_at.astimezone(AMS).date(),
             s.local_start.strftime("%a %H:%M"), s.duration_minutes, s.sequence) for s in series.sessions] == [
        (timedelta(days=1 + 7 * i), "Fri 14:00", 90, 1) for i in range(3)]
    sent = _summaries(get_mail_transport().outbox)
    assert [to for to, _summary, _seq in sent] == ["jan@example.org", "sanne@example.org"]
    assert all(sequences == [series.sequence] for _to, _summary, sequences in sent) and series.sequence == 1


def test_this_and_the_following_dates_change_and_the_earlier_ones_stay(db, client, auth, trainer, course, parents):
    series = _series(db, course, _next_thursday())
    first, second, third = series.sessions
    auth.login(trainer.email)

    response = _edit(client, second, title="Tweede deel", starts_at=second.local_start.strftime("%Y-%m-%dT11:00"),
                     ends_at="12:00", scope="following")

    db.session.expire_all()
    assert response.status_code == 302
    assert [(s.title, s.local_start.strftime("%H:%M"), s.sequence) for s in (first, second, third)] == [
        ("Voorlezen", "10:00", 0), ("Tweede deel", "11:00", 1), ("Tweede deel", "11:00", 1)]
    assert len(get_mail_transport().outbox) == 2


def test_editing_one_session_sends_the_updated_invite(db, client, auth, trainer, course, parents,
                                                      create_workshop_session):
    workshop_session = create_workshop_session(starts_at=_next_thursday().replace(tzinfo=AMS), title="Alleen")
    get_mail_transport().clear()
    auth.login(trainer.email)

    page = client.get(f"/sessions/{workshop_session.id}/edit").get_data(as_text=True)
    response = _edit(client, workshop_session, title="Alleen, nieuw", recorded="y")

    db.session.expire_all()
    assert 'name="scope"' not in page  # one date without a series has nothing to choose
    assert response.status_code == 302
    assert (workshop_session.title, workshop_session.recorded, workshop_session.sequence) == ("Alleen, nieuw", True, 1)
    assert _summaries(get_mail_transport().outbox) == [("jan@example.org", ["Alleen, nieuw"], [1]),
                                                       ("sanne@example.org", ["Alleen, nieuw"], [1])]


def test_saving_without_a_change_changes_nothing(db, client, auth, trainer, course, parents):
    series = _series(db, course, _next_thursday())
    auth.login(trainer.email)

    response = _edit(client, series.sessions[0], scope="all")

    db.session.expire_all()
    assert response.status_code == 302
    assert [s.sequence for s in series.sessions] == [0, 0, 0] and get_mail_transport().outbox == []
