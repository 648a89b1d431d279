"""SQL statements of the pages parents hit at once (issue 10, bench/join_storm.py and bench/feed.py).

Counted with a SQLAlchemy cursor event on the app's engine; no timing anywhere.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event

from core.db import utcnow
from courses import links
from courses import services as courses
from courses.links import parent_feed_token
from courses.models import CourseConsent
from sessions import services
from tests.fixtures.sql import statements


def tables_read(seen: list[str]) -> list[str]:
    """The main table of each SELECT, in order."""
    found = []
    for statement in seen:
        match = re.match(r"\s*SELECT\b.*?\bFROM\s+(\w+)", statement, re.S | re.I)
        if match:
            found.append(match[1])
    return found


@pytest.fixture
def open_session(create_workshop_session):
    start = (utcnow() + timedelta(minutes=10)).replace(second=0, microsecond=0)
    return create_workshop_session(starts_at=start, title="Voorlezen", recorded=True)


@pytest.fixture
def sanne(db, course, create_parent):
    parent = create_parent("Sanne", course=course)
    token = "sanne-" + "t" * 40
    links.issue_personal_link(parent, token=token)
    parent_feed_token(parent)
    db.session.commit()
    return parent, token


def test_lobby_reads_nothing_after_logging_the_join_click(db, client, open_session, sanne):
    _parent, token = sanne

    with statements(db) as seen:
        response = client.get(f"/p/{token}/s/{open_session.id}")

    assert response.status_code == 200
    writes = [i for i, s in enumerate(seen) if s.lstrip().upper().startswith("INSERT")]
    assert len(writes) == 1 and seen[writes[0]:][1:] == []  # rendered before the commit: no row loaded again


def test_lobby_reads_only_this_parents_latest_consent(db, client, course, create_parent, open_session, sanne):
    parent, token = sanne
    for i in range(20):
        other = create_parent(f"Ouder {i}", course=course, email=f"ouder{i}@example.org")
        services.record_consent(open_session, other, objected=i % 2 == 0)
    services.record_consent(open_session, parent, objected=True)
    db.session.commit()
    loaded = []

    def note(target, _context):
        loaded.append(target.parent_id)

    event.listen(CourseConsent, "load", note)
    try:
        response = client.get(f"/p/{token}/s/{open_session.id}")
    finally:
        event.remove(CourseConsent, "load", note)

    assert response.status_code == 200
    assert loaded == []  # one column of this parent's latest row, not the whole course's consent log
    assert services.lacks_consent(open_session, parent) is True


def test_route_map_reads_each_table_once_however_many_courses_and_sessions(db, client, create_course,
                                                                          create_workshop_session, sanne, course):
    parent, token = sanne
    create_workshop_session(title="Voorlezen 1")
    with statements(db) as small:
        assert client.get(f"/p/{token}").status_code == 200
    for title in ("Samen spelen", "Praten met je kind"):
        other = create_course(title)
        courses.enrol(other, parent)
        for week in range(4):
            create_workshop_session(course=other, title=f"{title} {week}",
                                    starts_at=(utcnow() + timedelta(weeks=week + 1)).replace(second=0, microsecond=0))
    db.session.commit()

    with statements(db) as large:
        assert client.get(f"/p/{token}").status_code == 200

    assert len(large) == len(small)
    assert [t for t in tables_read(large) if tables_read(large).count(t) > 1] in ([], ["workshop_session"] * 2)


# --- Trainer pages and the route map: the same statements for 3 parents and 2 sessions as for 30 and 20 -----------


def seed_course(db, create_course, size: int, *, tag: str):
    """A course with `3 * size` parents, `2 * size` past sessions (every other one for chosen parents, each
    recorded and published) with attendance, consents, RSVPs, watch progress and a failed reminder, `size` upcoming
    sessions, and `3 * size` activities (course-wide and per session) with answers, replies and nudges. Returns
    (course, parents, past sessions, activities); the first parent has the personal link f"{tag}-" + "t" * 40."""
    from activities import answers as activity_answers
    from activities import services as activity_services
    from activities.models import ActivityNudge
    from core.db import utcnow as now_
    from recordings.models import Recording, RecordingSource, RecordingState, WatchProgress
    from sessions import scheduling
    from sessions.calendar_models import DeliveryStatus, FailureReason, ReminderDelivery, RsvpAnswer, upsert_rsvp
    from sessions.models import AttendanceEvent, AttendanceKind

    course = create_course(f"Cursus {tag}")
    trainer = course.trainers[0]
    parents = []
    for i in range(3 * size):
        parent = courses.add_parent(name=f"Ouder {tag} {i:03d}", email=f"{tag}{i}@example.org",
                                    phone=f"+316123{i:05d}", contact_sms=i % 2 == 0)
        courses.enrol(course, parent)
        parents.append(parent)
    links.issue_personal_link(parents[0], token=f"{tag}-" + "t" * 40)
    chosen = parents[: 2 * size]
    sessions_ = []
    for week in range(2 * size):
        start = (now_() - timedelta(days=70 - week * 3)).replace(minute=0, second=0, microsecond=0)
        sessions_.append(scheduling.schedule_session(
            course, title=f"Bijeenkomst {week}", starts_local=start, timezone="Europe/Amsterdam", recorded=True,
            invitees=chosen if week % 2 else None, allow_past=True))
    for session_ in sessions_:
        for i, parent in enumerate(parents):
            if i % 3 == 2:
                continue
            db.session.add_all([
                AttendanceEvent(session_id=session_.id, parent_id=parent.id, kind=AttendanceKind.join_click,
                                at=session_.starts_at),
                AttendanceEvent(session_id=session_.id, parent_id=parent.id, kind=AttendanceKind.joined,
                                at=session_.starts_at + timedelta(minutes=2)),
                AttendanceEvent(session_id=session_.id, parent_id=parent.id, kind=AttendanceKind.left,
                                at=session_.starts_at + timedelta(minutes=40 + i))])
            services.record_consent(session_, parent, objected=i % 4 == 0)
            upsert_rsvp(session_.id, parent.id, RsvpAnswer.coming if i % 2 else RsvpAnswer.not_coming)
        recording = Recording(course=course, session=session_, source=RecordingSource.upload,
                              state=RecordingState.published, duration_s=600.0, published_at=now_())
        db.session.add(recording)
        db.session.flush()
        db.session.add_all(WatchProgress(recording_id=recording.id, parent_id=p.id, position_s=100 * i,
                                         furthest_s=100 * i, duration_s=600) for i, p in enumerate(parents[:6]))
        db.session.add(ReminderDelivery(session_id=session_.id, parent_id=parents[1].id, kind="60@0",
                                        channel="email", status=DeliveryStatus.failed,
                                        failure=FailureReason.refused, error="550 refused", attempts=1))
    for week in range(size):  # upcoming ones too: the route map links them to calendars
        start = (now_() + timedelta(days=7 * week + 7)).replace(minute=0, second=0, microsecond=0)
        scheduling.schedule_session(course, title=f"Later {week}", starts_local=start, timezone="Europe/Amsterdam",
                                    invitees=chosen if week % 2 else None)
    activities_ = []
    for n in range(3 * size):  # for the course, for a whole-course session, for a session of chosen parents
        activities_.append(activity_services.create_activity(
            course, created_by=trainer, title=f"Opdracht {n}", body="", request_kinds=["text"], request_text="",
            due_on=None, translations=None, session_id=sessions_[n % 3 - 1].id if n % 3 else None))
    for activity in activities_:
        for i, parent in enumerate(parents):
            if i % 3 == 0:
                continue
            activity_answers.add_response(activity, parent, client_key=f"key-{activity.id}-{parent.id}-" + "k" * 10,
                                          text="Gedaan")
            activity_answers.add_reply(activity, parent, author=trainer, text="Mooi!")
        db.session.add(ActivityNudge(activity_id=activity.id, parent_id=parents[0].id, channel="email"))
    db.session.commit()
    return course, parents, sessions_, activities_


def _count(db, client, url: str) -> int:
    with statements(db) as seen:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(seen)


def _pages(seed) -> dict[str, str]:
    course, parents, sessions_, activities_ = seed
    return {"course page": f"/courses/{course.id}",
            "session page (whole course)": f"/sessions/{sessions_[0].id}",
            "session page (chosen parents)": f"/sessions/{sessions_[1].id}",
            "activity list": f"/courses/{course.id}/activities",
            "inbox (course-wide activity)": f"/courses/{course.id}/activities/{activities_[0].id}",
            "inbox (whole-course session activity)": f"/courses/{course.id}/activities/{activities_[1].id}",
            "inbox (chosen-parents session activity)": f"/courses/{course.id}/activities/{activities_[2].id}",
            "route map": f"/p/{parents[0].name.split()[1]}-" + "t" * 40}


def test_pages_cost_the_same_statements_for_ten_times_the_parents_sessions_and_activities(db, client, auth, trainer,
                                                                                        create_course):
    small = seed_course(db, create_course, 1, tag="klein")
    large = seed_course(db, create_course, 10, tag="groot")
    auth.login(trainer.email)

    counts = [{page: _count(db, client, url) for page, url in _pages(seed).items()} for seed in (small, large)]

    assert counts[1] == counts[0]
