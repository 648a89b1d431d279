"""The trainer's course page of a large course ("cost that stays flat"): time and SQL statements per request.

    .venv/bin/python bench/course_page.py [--parents 1000] [--sessions 10] [--activities 10] [--runs 5]
                                          [--database-url URL]

Seeds one course with bulk inserts on a private SQLite file (or the empty database at --database-url): `--parents`
enrolled parents, `--sessions` past sessions (every other one for two thirds of the parents) each with a published
recording, joined/left events, RSVPs and watch progress for two thirds of the parents, and `--activities` requests
(for the course, a whole-course session or a session of chosen parents) answered by two thirds of them. Then a
logged-in trainer GETs the course page `--runs` times through the test client. Prints one JSON line: status,
statements per request, bytes, and the median and slowest milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import timedelta

import harness

PASSWORD = "bench password 1234"


def seed(parents: int, sessions: int, activities: int) -> int:
    """The course and everything on its page; returns the course id."""
    from sqlalchemy import insert, select

    from accounts import services as accounts
    from activities.models import ActivityResponse, HomeActivity, ResponseKind
    from core.db import utcnow
    from core.extensions import db
    from core.jitsi import new_room_name
    from courses import services as courses
    from courses.models import Enrolment, Parent
    from recordings.models import Recording, RecordingSource, RecordingState, WatchProgress
    from sessions.calendar_models import Rsvp, RsvpAnswer
    from sessions.models import AttendanceEvent, AttendanceKind, WorkshopSession, session_invitees

    trainer = accounts.create_user("trainer@example.org", name="Trainer", password=PASSWORD)
    course = courses.create_course(title="Groot", trainers=[trainer])
    organisation = course.organisation_id
    db.session.execute(insert(Parent), [{"organisation_id": organisation, "name": f"Ouder {i:04d}",
                                         "email": f"ouder{i}@example.org", "language": "nl"} for i in range(parents)])
    ids = list(db.session.scalars(select(Parent.id).where(Parent.organisation_id == organisation)
                                  .order_by(Parent.id)))
    db.session.execute(insert(Enrolment), [{"course_id": course.id, "parent_id": p} for p in ids])
    active = [p for i, p in enumerate(ids) if i % 3]
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    rows = [WorkshopSession(course_id=course.id, title=f"Week {n}", starts_at=now - timedelta(days=7 * (sessions - n)),
                            room_name=new_room_name(), invite_whole_course=n % 2 == 0) for n in range(sessions)]
    db.session.add_all(rows)
    db.session.flush()
    chosen = ids[: 2 * parents // 3]
    for s in rows:
        if not s.invite_whole_course:
            db.session.execute(insert(session_invitees), [{"session_id": s.id, "parent_id": p} for p in chosen])
        db.session.execute(insert(AttendanceEvent), [
            {"session_id": s.id, "parent_id": p, "kind": kind, "at": s.starts_at + timedelta(minutes=minute)}
            for p in active for kind, minute in ((AttendanceKind.joined, 1), (AttendanceKind.left, 45))])
        db.session.execute(insert(Rsvp), [{"session_id": s.id, "parent_id": p, "answer": RsvpAnswer.coming,
                                           "answered_at": now} for p in active])
        recording = Recording(course_id=course.id, session_id=s.id, source=RecordingSource.upload,
                              state=RecordingState.published, duration_s=1800.0, published_at=now)
        db.session.add(recording)
        db.session.flush()
        db.session.execute(insert(WatchProgress), [{"recording_id": recording.id, "parent_id": p, "position_s": 1700,
                                                    "furthest_s": 1700, "duration_s": 1800} for p in active])
    for n in range(activities):
        activity = HomeActivity(course_id=course.id, title=f"Opdracht {n}", request_kinds="text",
                                session_id=rows[n % 3 - 1].id if n % 3 and sessions > 1 else None)
        db.session.add(activity)
        db.session.flush()
        db.session.execute(insert(ActivityResponse), [
            {"activity_id": activity.id, "parent_id": p, "kind": ResponseKind.text, "text": "Gedaan",
             "client_key": f"bench-{activity.id}-{p}"} for p in active])
    db.session.commit()
    return course.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parents", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--activities", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with harness.temp_dir("course-page") as instance:
        harness.isolate(instance)
        from flask_migrate import upgrade
        from sqlalchemy import event

        from core.app import create_app
        from core.extensions import db

        app = create_app({"DATABASE_URL": args.database_url or f"sqlite:///{instance / 'bench.sqlite'}",
                          "INSTANCE_PATH": str(instance), "SECRET_KEY": harness.SECRET_KEY, "HUEY_IMMEDIATE": True,
                          "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False, "MAIL_TRANSPORT": "memory",
                          "SMS_TRANSPORT": "memory", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
        with app.app_context():
            upgrade()
            course_id = seed(args.parents, args.sessions, args.activities)
            seen: list[str] = []
            event.listen(db.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
        client = app.test_client()
        client.post("/login", data={"email": "trainer@example.org", "password": PASSWORD})
        timings, statements, status, size = [], 0, 0, 0
        for _ in range(args.runs):
            seen.clear()
            start = time.perf_counter()
            response = client.get(f"/courses/{course_id}")
            timings.append((time.perf_counter() - start) * 1000)
            statements, status, size = len(seen), response.status_code, len(response.data)
    print(json.dumps({"parents": args.parents, "sessions": args.sessions, "activities": args.activities,
                      "status": status, "statements": statements, "bytes": size,
                      "median_ms": round(statistics.median(timings), 1), "max_ms": round(max(timings), 1)}))


if __name__ == "__main__":
    main()
