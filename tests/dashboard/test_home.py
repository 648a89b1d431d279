"""The trainer's home page says what is next: today's and the next sessions (join when open), recordings waiting for
review, activities with answers nobody replied to, parents no message reaches; statuses in words, a past session as
past; the same statements for ten times the data."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from activities import answers
from core.db import utcnow
from courses import services as courses
from dashboard.home import home_for, session_status
from recordings.models import Recording, RecordingSource, RecordingState
from sessions import scheduling
from tests.activities.helpers import make_activity
from tests.fixtures.sql import statements

AMS = ZoneInfo("Europe/Amsterdam")


def _at(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


def _schedule(course, title: str, local: datetime, **values):
    return scheduling.schedule_session(course, title=title, starts_local=local, timezone="Europe/Amsterdam", **values)


def test_home_lists_today_next_reviews_new_answers_and_unreachable_parents(db, trainer, course, create_course,
                                                                           create_user, create_parent):
    day = utcnow().astimezone(AMS) + timedelta(days=7)
    now = _at(day, 10).astimezone(ZoneInfo("UTC"))
    morning, open_, evening = (_schedule(course, title, _at(day, hour, minute)) for title, hour, minute in
                               (("Ochtend", 8, 0), ("Nu", 10, 5), ("Avond", 19, 0)))
    scheduling.cancel_session(_schedule(course, "Vervalt", _at(day, 14)))
    tomorrow = _schedule(course, "Morgen", _at(day + timedelta(days=1), 10))
    scheduling.cancel_session(_schedule(course, "Morgen vervalt", _at(day + timedelta(days=1), 12)))
    later = _schedule(course, "Later", _at(day + timedelta(days=8), 10))
    other_course = create_course("Niet van mij", trainers=[create_user("ander@example.org", name="Ander")])
    _schedule(other_course, "Andermans", _at(day, 11))
    sanne = create_parent("Sanne", course=course, email="sanne@example.org")
    bram = create_parent("Bram", course=course, email="bram@example.org")
    only_phone = courses.add_parent(name="Zeynep", phone="0612345678", email=None)
    with_whatsapp = courses.add_parent(name="Omar", phone="0612345679", email=None, contact_whatsapp=True)
    for parent in (only_phone, with_whatsapp):
        courses.enrol(course, parent)
    db.session.add_all([Recording(course=course, session=morning, source=RecordingSource.upload, state=state)
                        for state in (RecordingState.ready_for_review, RecordingState.published)])
    waiting, replied = make_activity(course, kinds=("text",), title="Voorlezen"), make_activity(
        course, kinds=("text",), title="Zingen")
    for activity, parent, reply in ((waiting, sanne, False), (waiting, bram, True), (replied, sanne, True)):
        answers.add_response(activity, parent, client_key=f"{activity.id}-{parent.id}-" + "k" * 16, text="Gedaan")
        if reply:
            answers.add_reply(activity, parent, author=trainer, text="Mooi!")
    db.session.commit()

    home = home_for(trainer, now=now)

    assert [(s.title, session_status(s, now=now)) for s in home.today] == [
        ("Ochtend", "past"), ("Nu", "open"), ("Vervalt", "cancelled"), ("Avond", "scheduled")]
    assert [s.title for s in home.upcoming] == ["Morgen", "Later"]
    assert (open_, evening, tomorrow, later) == (home.today[1], home.today[3], home.upcoming[0], home.upcoming[1])
    assert [(r.session.title, r.state) for r in home.to_review] == [("Ochtend", RecordingState.ready_for_review)]
    assert [(a.activity.title, a.course_title, a.parents) for a in home.answered] == [("Voorlezen", "Voorlezen", 1)]
    assert [(p.name, c.title) for p, c in home.unreachable] == [("Zeynep", "Voorlezen")]


def test_home_page_has_join_for_the_open_session_and_nothing_of_another_organisation(db, client, auth, trainer,
                                                                                    course, create_workshop_session):
    from accounts import services as accounts
    from tests.fixtures.factories import PASSWORD

    open_ = create_workshop_session(title="Nu open", starts_at=(utcnow() + timedelta(minutes=10)).replace(
        second=0, microsecond=0))
    later = create_workshop_session(title="Volgende week", starts_at=(utcnow() + timedelta(days=7)).replace(
        second=0, microsecond=0))
    elsewhere = accounts.create_organisation("Andere aanbieder")
    accounts.create_user("baas@elders.example", name="Baas", password=PASSWORD, coordinator=True,
                         organisation=elsewhere)
    db.session.commit()

    auth.login(trainer.email)
    mine = client.get("/home").get_data(as_text=True)
    auth.logout()
    auth.login("baas@elders.example")
    theirs = client.get("/home").get_data(as_text=True)

    assert f'href="/sessions/{open_.id}/join"' in mine
    assert f'href="/sessions/{later.id}/join"' not in mine  # not open yet: no join button on the home page
    assert "Nu open" in mine and "Volgende week" in mine and f'href="/courses/{course.id}"' in mine
    assert "Voorlezen" not in theirs and "Nu open" not in theirs


def test_trainer_pages_show_statuses_in_words_and_a_past_session_as_past(db, client, auth, trainer, course,
                                                                         create_workshop_session):
    past = create_workshop_session(title="Gisteren", allow_past=True,
                                   starts_at=(utcnow() - timedelta(days=1)).replace(second=0, microsecond=0))
    cancelled = create_workshop_session(title="Vervalt")
    scheduling.cancel_session(cancelled)
    db.session.commit()
    coming = create_workshop_session(title="Morgen", starts_at=(utcnow() + timedelta(days=2)).replace(
        second=0, microsecond=0))
    auth.login(trainer.email)

    course_page = client.get(f"/courses/{course.id}").get_data(as_text=True)
    past_page = client.get(f"/sessions/{past.id}").get_data(as_text=True)
    coming_page = client.get(f"/sessions/{coming.id}").get_data(as_text=True)

    for raw in ("scheduled", "cancelled", "ended"):
        assert f">{raw}<" not in course_page and f">{raw}" not in past_page
    assert [word in course_page for word in ("Afgelopen", "Geannuleerd", "Gepland")] == [True] * 3
    assert f'href="/sessions/{past.id}/join"' not in course_page
    assert f'href="/sessions/{coming.id}/join"' in course_page
    assert '<dd id="session-status" data-status="past">Afgelopen</dd>' in past_page
    assert "Deelnemen als trainer" not in past_page
    assert "Deelnemen als trainer" in coming_page


def _seed(db, trainer, units: int, tag: str) -> None:
    """Per unit: a course of the trainer with two parents who can be reached and one who cannot, a session soon, one
    next week and one past with a recording waiting for review and a published one, and a home activity with two
    answers of which one got a reply. Rows are added directly: no invites or notices are sent."""
    from activities.models import ActivityReply, ActivityResponse, HomeActivity, ResponseKind
    from core.jitsi import new_room_name
    from sessions.models import WorkshopSession

    now = utcnow().replace(second=0, microsecond=0)
    for unit in range(units):
        course = courses.create_course(title=f"Cursus {tag} {unit}", trainers=[trainer])
        parents = [courses.add_parent(name=f"Ouder {tag} {unit} {i}", email=f"{tag}{unit}-{i}@example.org")
                   for i in range(2)]
        parents.append(courses.add_parent(name=f"Zonder kanaal {tag} {unit}", phone=f"+316111{unit:05d}", email=None))
        for parent in parents:
            courses.enrol(course, parent)
        sessions = [WorkshopSession(course=course, title=f"{title} {tag} {unit}", starts_at=now + offset,
                                    timezone="Europe/Amsterdam", room_name=new_room_name())
                    for title, offset in (("Straks", timedelta(minutes=5 + unit)), ("Volgende week", timedelta(days=7)),
                                          ("Vorige week", timedelta(days=-7)))]
        activity = HomeActivity(course=course, title=f"Opdracht {tag} {unit}", request_kinds="text")
        db.session.add_all([*sessions, activity])
        db.session.flush()
        db.session.add_all([Recording(course=course, session=sessions[2], source=RecordingSource.upload, state=state)
                            for state in (RecordingState.ready_for_review, RecordingState.published)])
        db.session.add_all([ActivityResponse(activity_id=activity.id, parent_id=parent.id, kind=ResponseKind.text,
                                             text="Gedaan", client_key=f"{tag}-{unit}-{i}-" + "k" * 16)
                            for i, parent in enumerate(parents[:2])])
        db.session.add(ActivityReply(activity_id=activity.id, parent_id=parents[0].id, author_id=trainer.id,
                                     text="Mooi!", created_at=now + timedelta(minutes=1)))
    db.session.commit()


def test_home_costs_the_same_statements_for_ten_times_the_courses_sessions_and_parents(db, client, auth, trainer):
    auth.login(trainer.email)
    _seed(db, trainer, 1, "klein")
    with statements(db) as small:
        assert client.get("/home").status_code == 200
    _seed(db, trainer, 10, "groot")
    with statements(db) as large:
        page = client.get("/home").get_data(as_text=True)

    assert len(large) == len(small)
    assert [f"{what} groot 9" in page for what in ("Straks", "Zonder kanaal", "Opdracht", "Cursus")] == [True] * 4
    assert page.count('href="/recordings/') == 11  # every recording waiting for review, none of the published ones
