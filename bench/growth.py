"""Cost that stays flat as data grows: the same pages and periodic jobs at sizes S, M and L.

    .venv/bin/python bench/growth.py [--large] [--sizes S,M,L] [--requests 20] [--log-dir DIR]

For each size, on a private PostgreSQL database (created, migrated, VACUUM ANALYZEd, dropped at the end):

    size  organisations  courses  parents  sessions  audit rows  busiest trainer  biggest course
    S     1              5        100      50        1,000       2 courses        20 parents
    M     2              50       1,000    500       10,000      5 courses        100 parents
    L     5              500      10,000   5,000     100,000     50 courses       1,000 parents

Half of the courses and parents are in one organisation (its coordinator, the busiest trainer and the biggest
course are there); the rest are spread over the others. A typical course has 20 parents and 10 weekly sessions
(6 past, 4 coming; every fourth course as a series; one in ten sessions for chosen parents), a home activity per
past session plus one for the course. Organisations, users and API tokens, the biggest course, and a parent in
four courses come from the project's services; everything else is bulk INSERTs of the rows those services write
(every course and parent with its organisation, every parent with a calendar feed and a personal link): per
invited parent invites, and for past sessions reminders, join/joined/left events for two thirds, RSVPs for half,
watch progress of recordings for half, answers to two thirds of the activities, a trainer's reply to one answer
in ten, plus a few stuck clips, stale deliveries, a stale transcode and recordings due for expiry.

Then per page (the first page where it is a list):

- timings: gunicorn with 2 workers (the real `wsgi:app`, production settings, rate limits counted in a private
  Redis, which is also the task queue), `--requests` sequential requests each on a fresh connection after four
  warm-up rounds of every page: p50 and p90, the response size, and the web workers' CPU time per request;
- statements: the same request in-process (the same app on the same database, a test client), counted with a
  SQLAlchemy `before_cursor_execute` listener on the second request, with the time spent in them (SQL ms) and
  the slowest one.

And the periodic jobs, called in-process in an app context and timed (with their statements): the reminder tick
with a backlog (nobody reminded of the sessions in the next 24 h yet) and then with nothing due, the stale-delivery
reaper, the stale-recording reaper, the retention sweep (and the expiries it queues) and the stuck-clip sweep,
each once with its backlog and once more with nothing left to do.

Prints a table per size, the growth factor from the smallest to the largest size (p50 and statements), and one
JSON line at the end. `--large` adds L (a few minutes of seeding on 2 cores); the default is S and M.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import secrets
import sys
import time
import urllib.parse
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import harness

PASSWORD = "bench password 1234"
WARM_UP = 4  # rounds of every page before the timed requests
CHUNK = 5000
PARENTS_PER_COURSE = 20
SESSION_WEEKS = range(-6, 4)  # 6 past, 4 coming
LANGUAGES = ("nl", "nl", "nl", "ar", "tr", "en")
FIRST = ("Sanne", "Fatima", "Ayşe", "Mohammed", "Emma", "Noah", "Yusuf", "Lotte", "Amina", "Daan", "Zeynep", "Bram",
         "Nour", "Sem", "Elif", "Julia", "Omar", "Fleur", "Hamza", "Iris")
LAST = ("de Vries", "El Amrani", "Yılmaz", "Jansen", "Bakker", "Öztürk", "Visser", "Smit", "Benali", "Meijer",
        "Kaya", "de Boer", "Mulder", "Bouzid", "de Groot", "Demir", "Bos", "Vos", "Peters", "Hendriks")


@dataclass(frozen=True)
class Size:
    label: str
    factor: int
    organisations: int

    @property
    def courses(self) -> int:
        return 5 * self.factor

    @property
    def parents(self) -> int:
        return PARENTS_PER_COURSE * self.courses

    @property
    def sessions(self) -> int:
        return len(SESSION_WEEKS) * self.courses

    @property
    def audit_rows(self) -> int:
        return 1000 * self.factor

    @property
    def big(self) -> int:
        """Parents of the biggest course."""
        return max(PARENTS_PER_COURSE, self.parents // 10)

    @property
    def busy(self) -> int:
        """Courses of the busiest trainer (the biggest course among them)."""
        return max(2, self.courses // 10)


SIZES = {"S": Size("S", 1, 1), "M": Size("M", 10, 2), "L": Size("L", 100, 5)}

#: (key, label, target p50 ms, target KB); the paths are filled in from what the seed made.
PAGES = (
    ("course", "course page, typical (20 parents)", 30, None),
    ("course_big", "course page, biggest course", 150, None),
    ("inbox_big", "activity inbox, biggest course", 150, None),
    ("activities_big", "activities list, biggest course", 150, None),
    ("session_big", "session page, biggest course", None, None),
    ("courses_trainer", "course list of the busiest trainer", None, None),
    ("api_courses", "API GET /courses (coordinator)", 50, 100),
    ("api_parents_big", "API /courses/{id}/parents, biggest", 50, 100),
    ("api_attendance_big", "API /sessions/{id}/attendance, big", 50, 100),
    ("api_activities_big", "API /courses/{id}/activities, big", 50, 100),
    ("api_responses_big", "API /courses/{id}/responses, big", 50, 100),
    ("route_map", "route map, parent in 4 courses", 40, None),
)

JOBS = (
    ("reminders", "reminder tick (backlog / nothing due)"),
    ("delivery_reaper", "stale-delivery reaper"),
    ("recording_reaper", "stale-recording reaper"),
    ("retention", "retention sweep (+ its expiries)"),
    ("stuck_clips", "stuck-clip sweep"),
)
JOB_TARGET_S = 1.0


# --- seeding ---------------------------------------------------------------------------------------------------


def _bulk(target, rows: list[dict], returning=None) -> list[int]:
    """INSERT rows in chunks (executemany, batched into multi-row VALUES by SQLAlchemy); the new ids in row order."""
    from sqlalchemy import insert

    from core.extensions import db

    ids: list[int] = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        if returning is not None:
            statement = insert(target).returning(returning, sort_by_parameter_order=True)
            ids += db.session.scalars(statement, chunk).all()
        else:
            db.session.execute(insert(target), chunk)
    return ids


def seed(app, size: Size) -> dict:
    """Every row of one size; returns the ids, tokens and row counts the measurements need."""
    from accounts import services as accounts
    from accounts.audit import ACTIONS, AuditEntry
    from activities.models import (
        ActivityNudge,
        ActivityReply,
        ActivityResponse,
        HomeActivity,
        MediaState,
        ResponseKind,
    )
    from core.db import utcnow
    from core.extensions import db
    from core.jitsi import new_room_name
    from core.tokens import hash_token
    from courses import links
    from courses import services as courses
    from courses.models import CalendarFeed, Course, CourseConsent, Enrolment, Parent, course_trainers
    from recordings.models import Recording, RecordingSource, RecordingState, WatchProgress
    from sessions.calendar_models import (
        DeliveryStatus,
        FailureReason,
        InviteDelivery,
        ReminderDelivery,
        Rsvp,
        RsvpAnswer,
    )
    from sessions.models import (
        AttendanceEvent,
        AttendanceKind,
        SessionStatus,
        WorkshopSeries,
        WorkshopSession,
        session_invitees,
    )

    rng = random.Random(size.factor)
    counts: dict[str, int] = {}
    now = utcnow().replace(second=0, microsecond=0)
    hour = now.replace(minute=0)
    with app.app_context():
        # Organisations, staff and tokens through the services.
        organisations = [accounts.create_organisation(f"Stichting Voorlezen {i + 1}")
                         for i in range(size.organisations)]
        main = organisations[0]
        coordinator = accounts.create_user("coordinator@example.org", name="Coördinator", password=PASSWORD,
                                           coordinator=True, organisation=main)
        busy = accounts.create_user("trainer@example.org", name="Drukke Trainer", password=PASSWORD, organisation=main)
        coordinator_token = accounts.create_api_token(coordinator, name="bench")[1]
        accounts.create_api_token(busy, name="bench")
        big_course = courses.create_course(title="Groot: Voorlezen in de wijk", trainers=[busy])

        # Courses: half in the main organisation (the first `busy` of them the busiest trainer's), the rest spread.
        main_count = size.courses if size.organisations == 1 else size.courses // 2
        rest = size.courses - main_count
        course_orgs = [0] * main_count + [1 + i * (size.organisations - 1) // rest for i in range(rest)]
        trainers: dict[int, int] = dict.fromkeys(range(size.busy), busy.id)  # course index -> trainer id
        for org_index, organisation in enumerate(organisations):  # the other trainers: five courses each
            own = [i for i, o in enumerate(course_orgs) if o == org_index and i not in trainers]
            for n in range(0, len(own), 5):
                user = accounts.create_user(f"trainer{org_index}-{n // 5}@example.org",
                                            name=f"Trainer {org_index}-{n // 5:03d}", password=PASSWORD,
                                            organisation=organisation)
                trainers.update(dict.fromkeys(own[n:n + 5], user.id))
        themes = ("Voorlezen", "Samen spelen", "Taal thuis", "Rekenen met de kleintjes", "Opvoeden en zo")
        course_rows = [{"organisation_id": organisations[course_orgs[i]].id, "title": f"{themes[i % 5]} {i:03d}",
                        "description": "Een cursus voor ouders van peuters. " * 3, "language": "nl",
                        "timezone": "Europe/Amsterdam", "retention_days": 60, "reminder_offsets": [1440, 60],
                        "publish_automatically": False, "created_at": now - timedelta(days=80)}
                       for i in range(1, size.courses)]
        course_ids = [big_course.id] + _bulk(Course, course_rows, Course.id)
        _bulk(course_trainers, [{"course_id": course_ids[i], "user_id": trainers[i]} for i in range(1, size.courses)])
        course_org_ids = [organisations[org].id for org in course_orgs]

        # Parents: 20 per course of each organisation, each with a personal link and a calendar feed.
        parent_rows, parent_orgs = [], []
        for org_index, organisation in enumerate(organisations):
            for _ in range(PARENTS_PER_COURSE * course_orgs.count(org_index)):
                i = len(parent_rows)
                phone = f"+3161{i:07d}" if i % 4 == 0 else None
                parent_rows.append({
                    "organisation_id": organisation.id, "name": f"{rng.choice(FIRST)} {rng.choice(LAST)} {i:05d}",
                    "email": f"ouder{i}@example.org", "phone": phone, "language": LANGUAGES[i % len(LANGUAGES)],
                    "link_token_hash": hash_token(secrets.token_urlsafe(32)),
                    "link_issued_at": now - timedelta(days=70),
                    "consent_recording": i % 5 != 0, "contact_email": True, "contact_sms": phone is not None,
                    "contact_whatsapp": False, "created_at": now - timedelta(days=75)})
                parent_orgs.append(org_index)
        parent_ids = _bulk(Parent, parent_rows, Parent.id)
        phones = {pid for pid, row in zip(parent_ids, parent_rows) if row["contact_sms"]}
        feeds = []
        for pid in parent_ids:
            feed = CalendarFeed(parent_id=pid)
            links._issue(feed)  # the nonce, the hashed token and the time, as ensure_calendar_token makes them
            feeds.append({"parent_id": pid, "nonce": feed.nonce, "token_hash": feed.token_hash,
                          "issued_at": feed.issued_at})
        _bulk(CalendarFeed, feeds)

        # Enrolments: the biggest course takes its own block of the main organisation's parents; every other course
        # 20 of its organisation's pool, in turn (in the main organisation some parents are in two courses).
        members: dict[int, list[int]] = {}
        for org_index in range(size.organisations):
            pool = [pid for pid, o in zip(parent_ids, parent_orgs) if o == org_index]
            indexes = [i for i, o in enumerate(course_orgs) if o == org_index]
            if org_index == 0:
                members[0], pool, indexes = pool[:size.big], pool[size.big:], indexes[1:]
            for n, index in enumerate(indexes):
                members[index] = [pool[(n * PARENTS_PER_COURSE + j) % len(pool)] for j in range(PARENTS_PER_COURSE)]
        enrolled = [{"course_id": course_ids[i], "parent_id": pid, "created_at": now - timedelta(days=75)}
                    for i in range(size.courses) for pid in dict.fromkeys(members[i])]
        _bulk(Enrolment, enrolled)

        # The parent of the route map: through the services, in four courses (the biggest among them).
        route_parent = courses.add_parent(name="Sanne de Vries", email="sanne@example.org", language="nl",
                                          organisation_id=main.id)
        for index in (0, 1, 2, 3):
            course = db.session.get(Course, course_ids[index % main_count])
            courses.enrol(course, route_parent)
            members[index % main_count] = [*members[index % main_count], route_parent.id]
        route_link = links.issue_personal_link(route_parent)
        route_token = route_link.rstrip("/").rsplit("/", 1)[1]
        db.session.commit()
        counts.update(organisations=size.organisations, courses=size.courses, parents=len(parent_ids) + 1,
                      enrolments=len(enrolled) + 4, calendar_feeds=len(feeds) + 1)

        # Series (every fourth course) and sessions: weekly, the coming one within a week, on the course's own day.
        series_rows = [{"course_id": course_ids[i], "title": "Wekelijkse bijeenkomst", "timezone": "Europe/Amsterdam",
                        "count": len(SESSION_WEEKS), "sequence": 0, "created_at": now - timedelta(days=70),
                        "updated_at": now - timedelta(days=70)} for i in range(0, size.courses, 4)]
        series_ids = dict(zip(range(0, size.courses, 4), _bulk(WorkshopSeries, series_rows, WorkshopSeries.id)))
        session_rows, session_meta = [], []
        for i in range(size.courses):
            for week in SESSION_WEEKS:
                starts = hour + timedelta(days=7 * week + i % 7, hours=1 + i % 10)
                cancelled = (i + week) % 20 == 0 and i != 0
                status = SessionStatus.cancelled if cancelled else (
                    SessionStatus.ended if week < 0 else SessionStatus.scheduled)
                chosen = week == (-4 if i == 0 else -2)
                session_rows.append({
                    "course_id": course_ids[i], "series_id": series_ids.get(i), "title": f"Bijeenkomst {week + 7}",
                    "description": "Samen lezen en praten. " * 2, "status": status, "starts_at": starts,
                    "original_starts_at": starts if i in series_ids else None, "timezone": "Europe/Amsterdam",
                    "duration_minutes": 60, "recorded": week in (-5, -3, -1, 1), "lobby_minutes": 15,
                    "room_name": new_room_name(), "sequence": 0, "invite_whole_course": not chosen,
                    "created_at": now - timedelta(days=70), "updated_at": now - timedelta(days=70)})
                session_meta.append((i, week, starts, status, chosen))
        session_ids = _bulk(WorkshopSession, session_rows, WorkshopSession.id)
        sessions = []  # (session id, course index, week, starts, status, invitees)
        invitee_rows = []
        for sid, (i, week, starts, status, chosen) in zip(session_ids, session_meta):
            invited = members[i][: len(members[i]) // 2] if chosen else members[i]
            if chosen:
                invitee_rows += [{"session_id": sid, "parent_id": pid} for pid in invited]
            sessions.append((sid, i, week, starts, status, invited))
        _bulk(session_invitees, invitee_rows)
        counts.update(sessions=len(session_ids), series=len(series_rows), chosen_invitees=len(invitee_rows))

        # Per invited parent: invites (a few failed, a few lost in a dead worker), and for past sessions the reminders,
        # attendance, consent, RSVPs.
        invites, reminders, attendance, consents, rsvps = [], [], [], [], []
        coming = [s for s in sessions if s[2] > 0 and s[4] is SessionStatus.scheduled]
        lost = {(s[0], s[5][0]) for s in coming[::max(1, len(coming) // max(2, size.sessions // 250))]}
        for sid, _i, week, starts, status, invited in sessions:
            past = week < 0 and status is not SessionStatus.cancelled
            for pid in invited:
                sent = starts - timedelta(days=14)
                stale = (sid, pid) in lost  # its send task died with a worker two hours ago
                failed = (pid + sid) % 97 == 0
                invites.append({
                    "session_id": sid, "parent_id": pid, "sequence": 0, "method": "REQUEST",
                    "status": DeliveryStatus.pending if stale else (
                        DeliveryStatus.failed if failed else DeliveryStatus.sent),
                    "attempts": 0 if stale else 1, "error": "550 mailbox unavailable" if failed and not stale else None,
                    "failure": FailureReason.refused if failed and not stale else None,
                    "created_at": now - timedelta(hours=2) if stale else sent,
                    "touched_at": now - timedelta(hours=2) if stale else sent,
                    "sent_at": None if stale or failed else sent})
                if status is SessionStatus.cancelled:
                    invites.append({"session_id": sid, "parent_id": pid, "sequence": 1, "method": "CANCEL",
                                    "status": DeliveryStatus.sent, "attempts": 1, "error": None, "failure": None,
                                    "created_at": sent, "touched_at": sent, "sent_at": sent})
                if (pid + sid) % 2 == 0:
                    rsvps.append({"session_id": sid, "parent_id": pid, "answered_at": starts - timedelta(days=1),
                                  "answer": RsvpAnswer.coming if pid % 5 else RsvpAnswer.not_coming})
                if not past:
                    continue
                for channel in ("email", "sms") if pid in phones else ("email",):
                    for offset in (1440, 60):
                        at = starts - timedelta(minutes=offset)
                        reminders.append({"session_id": sid, "parent_id": pid, "kind": f"{offset}@0",
                                          "channel": channel, "status": DeliveryStatus.sent, "attempts": 1,
                                          "error": None, "failure": None, "created_at": at, "touched_at": at,
                                          "sent_at": at})
                if (pid + sid) % 3 != 0:
                    attendance += [{"session_id": sid, "parent_id": pid, "kind": kind, "at": starts + delta}
                                   for kind, delta in ((AttendanceKind.join_click, timedelta(minutes=-2)),
                                                       (AttendanceKind.joined, timedelta(minutes=1)),
                                                       (AttendanceKind.left, timedelta(minutes=55)))]
                    if pid % 5 == 0:
                        consents.append({"course_id": course_ids[_i], "parent_id": pid,
                                         "consented": pid % 50 != 0, "source": "parent", "created_at": starts})
        _bulk(InviteDelivery, invites)
        _bulk(ReminderDelivery, reminders)
        _bulk(AttendanceEvent, attendance)
        _bulk(CourseConsent, consents)
        _bulk(Rsvp, rsvps)
        db.session.commit()
        counts.update(invite_deliveries=len(invites), reminder_deliveries=len(reminders),
                      attendance_events=len(attendance), course_consents=len(consents), rsvps=len(rsvps),
                      stale_deliveries=sum(1 for r in invites if r["status"] is DeliveryStatus.pending))

        # Recordings of the recorded past sessions: published (a few past their retention), one stale transcode per
        # 500; watch progress of half the invitees.
        recording_rows, watchers = [], []
        for sid, i, week, starts, status, invited in sessions:
            if week >= 0 or week % 2 == 0 or status is SessionStatus.cancelled:
                continue
            uuid = secrets.token_hex(16)
            due = len(recording_rows) % 100 == 7
            published = starts + timedelta(hours=3)
            recording_rows.append({
                "uuid": uuid, "course_id": course_ids[i], "session_id": sid, "source": RecordingSource.jibri,
                "state": RecordingState.published, "attempts": 1, "progress": 1.0, "heartbeat_at": None,
                "duration_s": 3300.0, "width": 1280, "height": 720,
                "published_prefix": f"orgs/{course_org_ids[i]}/recordings/{uuid}/", "published_at": published,
                "expires_at": now - timedelta(hours=1) if due else published + timedelta(days=60),
                "created_at": starts + timedelta(hours=1), "updated_at": published})
            watchers.append(invited)
        stale_recordings = max(1, len(recording_rows) // 500)
        for n in range(stale_recordings):
            sid, i, _week, starts, _status, _invited = sessions[len(SESSION_WEEKS) * (1 + n) + 5]
            recording_rows.append({
                "uuid": secrets.token_hex(16), "course_id": course_ids[i], "session_id": sid,
                "source": RecordingSource.jibri, "state": RecordingState.transcoding, "attempts": 1, "progress": 0.4,
                "heartbeat_at": now - timedelta(hours=1), "duration_s": None, "width": None, "height": None,
                "published_prefix": None, "published_at": None, "expires_at": None,
                "created_at": now - timedelta(hours=2), "updated_at": now - timedelta(hours=1)})
        recording_ids = _bulk(Recording, recording_rows, Recording.id)
        progress = [{"recording_id": rid, "parent_id": pid, "position_s": 1200.0 + pid % 2000,
                     "furthest_s": 1800.0 + pid % 1500, "duration_s": 3300.0, "updated_at": now - timedelta(days=1)}
                    for rid, invited in zip(recording_ids, watchers) for pid in invited if (pid + rid) % 2 == 0]
        _bulk(WatchProgress, progress)
        db.session.commit()
        counts.update(recordings=len(recording_ids), watch_progress=len(progress), stale_recordings=stale_recordings,
                      recordings_due=sum(1 for r in recording_rows if r["expires_at"] and r["expires_at"] < now))

        # Home activities: one for the course and one per past session; two thirds answer (a photo in four);
        # a reply to one answer in ten, a nudge to a quarter of the rest; one clip in 1,000 stuck in processing.
        activity_rows, activity_meta = [], []
        for sid, i, week, starts, status, invited in sessions:
            if week == SESSION_WEEKS[0]:
                activity_rows.append({"uuid": secrets.token_hex(16), "course_id": course_ids[i], "session_id": None,
                                      "created_by_id": trainers.get(i, busy.id), "title": "Voorlezen thuis",
                                      "body": "Lees elke dag tien minuten voor. " * 3, "request_kinds": "text,photo",
                                      "request_text": "Vertel hoe het ging.", "translations": {},
                                      "created_at": starts, "updated_at": starts})
                activity_meta.append((i, members[i], starts))
            if week < 0 and status is not SessionStatus.cancelled:
                at = starts + timedelta(hours=2)
                activity_rows.append({"uuid": secrets.token_hex(16), "course_id": course_ids[i], "session_id": sid,
                                      "created_by_id": trainers.get(i, busy.id),
                                      "title": f"Thuisopdracht week {week + 7}",
                                      "body": "Kies samen een prentenboek. " * 3, "request_kinds": "text,photo",
                                      "request_text": "Stuur een foto of vertel het.", "translations": {},
                                      "created_at": at, "updated_at": at})
                activity_meta.append((i, invited, at))
        activity_ids = _bulk(HomeActivity, activity_rows, HomeActivity.id)
        responses, replies, nudges = [], [], []
        for aid, row, (i, addressed, at) in zip(activity_ids, activity_rows, activity_meta):
            for pid in addressed:
                if (pid + aid) % 3 == 0:
                    if pid % 4 == 0:
                        nudges.append({"activity_id": aid, "parent_id": pid, "channel": "email",
                                       "created_at": at + timedelta(days=3), "sent_at": at + timedelta(days=3)})
                    continue
                n = len(responses)
                stuck, photo = n % 1000 == 300, pid % 4 == 0
                key = f"orgs/{course_org_ids[i]}/activities/{row['uuid']}/responses/r{n}"
                responses.append({
                    "uuid": secrets.token_hex(16), "activity_id": aid, "parent_id": pid,
                    "kind": ResponseKind.clip if stuck else (ResponseKind.photo if photo else ResponseKind.text),
                    "text": "" if stuck else "Het ging goed, we hebben samen gelezen.",
                    "client_key": f"bench-{aid}-{pid}",
                    "media_key": f"{key}/original.mp4" if stuck else (f"{key}/photo.jpg" if photo else None),
                    "content_type": "video/mp4" if stuck else ("image/jpeg" if photo else None),
                    "size": 2_000_000 if stuck else (180_000 if photo else None),
                    "state": MediaState.processing if stuck else MediaState.ready,
                    "created_at": at + timedelta(days=1),
                    "updated_at": now - timedelta(hours=2) if stuck else at + timedelta(days=1)})
                if n % 10 == 0:
                    replies.append({"activity_id": aid, "parent_id": pid, "author_id": trainers.get(i, busy.id),
                                    "text": "Mooi gedaan!", "created_at": at + timedelta(days=2)})
        _bulk(ActivityResponse, responses)
        _bulk(ActivityReply, replies)
        _bulk(ActivityNudge, nudges)
        db.session.commit()
        counts.update(activities=len(activity_ids), responses=len(responses), replies=len(replies),
                      nudges=len(nudges), stuck_clips=sum(1 for r in responses if r["state"] is MediaState.processing))

        # The audit log: one organisation's parents and courses per row, over the last half year.
        actions = sorted(ACTIONS)
        audit = []
        for n in range(size.audit_rows):
            k = rng.randrange(len(parent_ids))
            org = parent_orgs[k]
            audit.append({"organisation_id": organisations[org].id, "created_at": now - timedelta(minutes=n * 3),
                          "action": actions[n % len(actions)], "actor_kind": "staff" if org == 0 else "system",
                          "actor_id": coordinator.id if org == 0 else None,
                          "actor_name": coordinator.name if org == 0 else "", "parent_id": parent_ids[k],
                          "parent_name": parent_rows[k]["name"], "course_id": None, "details": {}})
        _bulk(AuditEntry, audit)
        db.session.commit()
        counts["audit_entries"] = len(audit) + 4

        big_session = next(sid for sid, i, week, *_ in sessions if i == 0 and week == -1)
        big_activity = next(aid for aid, row in zip(activity_ids, activity_rows)
                            if row["course_id"] == big_course.id and row["session_id"] is None)
    return {"course": course_ids[1], "course_big": course_ids[0], "session_big": big_session,
            "activity_big": big_activity, "coordinator_token": coordinator_token, "route_token": route_token,
            "counts": counts}


def analyse(app) -> None:
    """VACUUM ANALYZE, as autovacuum would have by the time a database holds this much."""
    from sqlalchemy import text

    from core.extensions import db

    with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


# --- measuring -------------------------------------------------------------------------------------------------


def page_paths(seeded: dict) -> dict[str, tuple[str, str]]:
    """Per page: its path and who asks ("trainer", "coordinator" or "parent")."""
    big, session, activity = seeded["course_big"], seeded["session_big"], seeded["activity_big"]
    return {
        "course": (f"/courses/{seeded['course']}", "trainer"),
        "course_big": (f"/courses/{big}", "trainer"),
        "inbox_big": (f"/courses/{big}/activities/{activity}", "trainer"),
        "activities_big": (f"/courses/{big}/activities", "trainer"),
        "session_big": (f"/sessions/{session}", "trainer"),
        "courses_trainer": ("/courses", "trainer"),
        "api_courses": ("/api/v1/courses", "coordinator"),
        "api_parents_big": (f"/api/v1/courses/{big}/parents", "coordinator"),
        "api_attendance_big": (f"/api/v1/sessions/{session}/attendance", "coordinator"),
        "api_activities_big": (f"/api/v1/courses/{big}/activities", "coordinator"),
        "api_responses_big": (f"/api/v1/courses/{big}/responses", "coordinator"),
        "route_map": (f"/p/{seeded['route_token']}", "parent"),
    }


def count_statements(app, seeded: dict) -> dict[str, dict]:
    """SQL statements of each page's second request, in-process on the same database, with the time spent in them
    and the slowest one (the database's share of the page, and where it grows)."""
    from sqlalchemy import event

    from core.extensions import db

    seen: list[tuple[str, float]] = []

    def before(conn, *_args):
        conn.info.setdefault("growth_started", []).append(time.perf_counter())

    def after(conn, _cursor, statement, *_args):
        seen.append((statement, time.perf_counter() - conn.info["growth_started"].pop()))

    client = app.test_client()
    login = client.post("/login", data={"email": "trainer@example.org", "password": PASSWORD})
    if login.status_code != 302:
        raise SystemExit(f"in-process login answered {login.status_code}")
    headers = {"trainer": {}, "parent": {}, "coordinator": {"Authorization": f"Bearer {seeded['coordinator_token']}"}}
    found = {}
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", before)
        event.listen(db.engine, "after_cursor_execute", after)
    try:
        for key, (path, who) in page_paths(seeded).items():
            client.get(path, headers=headers[who])
            seen.clear()
            response = client.get(path, headers=headers[who])
            slowest = max(seen, key=lambda item: item[1], default=("", 0.0))
            found[key] = {"statements": len(seen), "status": response.status_code,
                          "sql_ms": round(1000 * sum(t for _, t in seen), 1),
                          "slowest_sql_ms": round(1000 * slowest[1], 1),
                          "slowest_sql": " ".join(slowest[0].split())[:300]}
    finally:
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", before)
            event.remove(db.engine, "after_cursor_execute", after)
    return found


async def http_login(port: int) -> str:
    """Log the busiest trainer in through the login form, as a browser does; returns the Cookie header."""
    form = await harness.request(port, "/login")
    cookie = form.headers["set-cookie"].split(";", 1)[0]
    token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', form.body) or \
        re.search(rb'value="([^"]+)"[^>]*name="csrf_token"', form.body)
    body = urllib.parse.urlencode({"email": "trainer@example.org", "password": PASSWORD,
                                   "csrf_token": token.group(1).decode()}).encode()
    done = await harness.request(port, "/login", method="POST", body=body, headers={
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    if done.status != 302:
        raise SystemExit(f"login over HTTP answered {done.status}")
    return done.headers["set-cookie"].split(";", 1)[0]


async def time_pages(port: int, seeded: dict, requests: int, workers: list[int]) -> dict[str, dict]:
    """Per page: `requests` sequential requests after WARM_UP; p50, p90, size, statuses, and the CPU time of the
    web workers per request (a figure the machine's other load barely moves)."""
    cookie = await http_login(port)
    headers = {"trainer": {"Cookie": cookie}, "parent": {},
               "coordinator": {"Authorization": f"Bearer {seeded['coordinator_token']}"}}
    paths = page_paths(seeded)
    for _ in range(WARM_UP):  # every page on both workers: templates compiled, catalogs and caches loaded
        for path, who in paths.values():
            await harness.request(port, path, headers=headers[who])
    found = {}
    for key, (path, who) in paths.items():
        tally, size, cpu = harness.Tally(), 0, harness.cpu_seconds(workers)
        for _ in range(requests):
            reply = await harness.request(port, path, headers=headers[who])
            tally.add(reply)
            size = len(reply.body)
        cpu = harness.cpu_seconds(workers) - cpu
        ms = sorted(x * 1000 for x in tally.latencies)
        found[key] = {"p50_ms": round(harness.percentile(ms, 50), 1), "p90_ms": round(harness.percentile(ms, 90), 1),
                      "cpu_ms": round(1000 * cpu / max(1, requests), 1), "kb": round(size / 1024, 1),
                      "statuses": {str(k): v for k, v in tally.statuses.items()}}
    return found


#: The periodic jobs' tasks, by their registered names (core.queue.TASKS), and the modules that declare them.
JOB_TASKS = {"reminders": "sessions.queue_due_reminders", "delivery_reaper": "sessions.requeue_stale_deliveries",
             "recording_reaper": "recordings.reap_stale_steps", "retention": "recordings.expire_due",
             "stuck_clips": "activities.requeue_stuck_clips"}
JOB_MODULES = ("sessions.reminders", "sessions.tasks", "recordings.tasks", "recordings.publish_tasks",
               "activities.tasks")


def _backlogs(app) -> dict[str, list[int]]:
    """What each job has to do, read with plain queries of our own (not the jobs' code): the ids of reminder
    deliveries so far, pending deliveries untouched for 30 minutes, running recording steps without a heartbeat for
    30 minutes, recordings past their retention, clips processing for 30 minutes."""
    from sqlalchemy import func, or_, select

    from activities.models import ActivityMedia, ActivityResponse, MediaState
    from core.db import utcnow
    from core.extensions import db
    from recordings.models import Recording, RecordingState
    from sessions.calendar_models import DeliveryStatus, InviteDelivery, ReminderDelivery

    now = utcnow()
    old = now - timedelta(minutes=30)
    running = [RecordingState.probing, RecordingState.transcoding, RecordingState.publishing]
    with app.app_context():
        pending = [list(db.session.scalars(select(model.id).where(
            model.status == DeliveryStatus.pending, func.coalesce(model.touched_at, model.created_at) < old)))
            for model in (InviteDelivery, ReminderDelivery)]
        clips = [list(db.session.scalars(select(model.id).where(model.state == MediaState.processing,
                                                                model.updated_at < old)))
                 for model in (ActivityResponse, ActivityMedia)]
        return {
            "reminders": list(db.session.scalars(select(ReminderDelivery.id))),
            "delivery_reaper": pending[0] + pending[1],
            "recording_reaper": list(db.session.scalars(select(Recording.id).where(
                Recording.state.in_(running), or_(Recording.heartbeat_at.is_(None), Recording.heartbeat_at < old)))),
            "retention": list(db.session.scalars(select(Recording.id).where(
                Recording.state != RecordingState.expired, Recording.expires_at <= now))),
            "stuck_clips": clips[0] + clips[1],
        }


def run_jobs(app) -> dict[str, dict]:
    """Each periodic job twice, in-process, through its Huey task (`call_local`, in an app context as a worker runs
    it): with what the seed left for it, then with nothing left. Seconds, statements, and how many items it had
    (reminders claimed; stale deliveries, stale recordings, recordings due, stuck clips found before the run)."""
    import importlib

    from sqlalchemy import event

    from core.extensions import db
    from core.queue import TASKS

    for module in JOB_MODULES:
        importlib.import_module(module)
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    found: dict[str, dict] = {}
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", note)
    try:
        for name, task in JOB_TASKS.items():
            for run in ("first", "again"):
                before = _backlogs(app)[name]
                seen.clear()
                start = time.perf_counter()
                TASKS[task].call_local()
                if name == "retention":
                    for recording_id in before:  # the sweep queued one expiry each: what a worker then runs
                        TASKS["recordings.expire"].call_local(recording_id)
                seconds = time.perf_counter() - start
                items = len(before) if name != "reminders" else len(_backlogs(app)[name]) - len(before)
                found.setdefault(name, {})[run] = {"s": round(seconds, 3), "statements": len(seen), "items": items}
    finally:
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", note)
    return found


def measure(size: Size, env: dict, instance: Path, redis_url: str, requests: int, log_dir: Path | None) -> dict:
    with harness.postgres_database(f"growth_{size.label.lower()}") as database_url:
        port = harness.free_port()
        base = f"http://127.0.0.1:{port}"
        app = harness.migrated_app(database_url, PUBLIC_BASE_URL=base, RATELIMIT_ENABLED=False,
                                   WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
        start = time.perf_counter()
        seeded = seed(app, size)
        analyse(app)
        seed_s = time.perf_counter() - start
        print(f"  {size.label}: seeded in {seed_s:.0f} s: {seeded['counts']}", file=sys.stderr, flush=True)
        statements = count_statements(app, seeded)
        # Production settings and rate limits in Redis; the personal-link limit (60 a minute per link) is lifted,
        # as one link is fetched more often here than a parent ever would.
        web_env = {**env, **harness.production_env(instance, database_url, base, REDIS_URL=redis_url,
                                                   RATELIMIT_PERSONAL_LINK="100000 per minute")}
        load = harness.load_average()
        with harness.gunicorn("wsgi:app", web_env, port=port,
                              log=log_dir and log_dir / f"growth_{size.label}_web.log") as web:
            pages = asyncio.run(time_pages(port, seeded, requests, harness.children(web.pid)))
        for key in pages:
            pages[key].update(statements[key])
        jobs = run_jobs(app)
        with app.app_context():
            from core.extensions import db

            db.session.remove()
            db.engine.dispose()
    return {"pages": pages, "jobs": jobs, "rows": seeded["counts"], "seed_s": round(seed_s, 1), "load_avg": load}


# --- reporting -------------------------------------------------------------------------------------------------


def _ratio(last: float, first: float) -> float | None:
    return round(last / first, 2) if first else None


def summarise(results: dict[str, dict]) -> dict:
    """The growth factors and the figures run_all.py checks, from the smallest to the largest size measured."""
    labels = list(results)
    first, last = results[labels[0]], results[labels[-1]]
    growth = {key: {"p50": _ratio(last["pages"][key]["p50_ms"], first["pages"][key]["p50_ms"]),
                    "statements": _ratio(last["pages"][key]["statements"], first["pages"][key]["statements"])}
              for key, *_ in PAGES}
    missed = []
    for key, _label, target_ms, target_kb in PAGES:
        figures = last["pages"][key]
        if target_ms is not None and figures["p50_ms"] > target_ms:
            missed.append(f"{key}: p50 {figures['p50_ms']} ms > {target_ms} ms at {labels[-1]}")
        if target_kb is not None and figures["kb"] > target_kb:
            missed.append(f"{key}: {figures['kb']} KB > {target_kb} KB at {labels[-1]}")
        if len({results[s]["pages"][key]["statements"] for s in labels}) > 1:
            missed.append(f"{key}: statements " + " / ".join(str(results[s]["pages"][key]["statements"])
                                                              for s in labels))
        if any(set(results[s]["pages"][key]["statuses"]) != {"200"} or results[s]["pages"][key]["status"] != 200
               for s in labels):
            missed.append(f"{key}: answers other than 200")
    for name, _label in JOBS:
        for run in ("first", "again"):
            seconds = last["jobs"][name][run]["s"]
            if seconds > JOB_TARGET_S:
                missed.append(f"{name} ({run}): {seconds} s > {JOB_TARGET_S} s at {labels[-1]}")
    api = [last["pages"][key] for key, *_ in PAGES if key.startswith("api_")]
    return {
        "largest": labels[-1], "growth": growth, "missed": missed,
        "course_p50_ms": last["pages"]["course"]["p50_ms"],
        "big_course_p50_ms": last["pages"]["course_big"]["p50_ms"],
        "inbox_p50_ms": last["pages"]["inbox_big"]["p50_ms"],
        "activities_p50_ms": last["pages"]["activities_big"]["p50_ms"],
        "api_p50_ms_max": max(p["p50_ms"] for p in api), "api_kb_max": max(p["kb"] for p in api),
        "route_map_p50_ms": last["pages"]["route_map"]["p50_ms"],
        "job_s_max": max(last["jobs"][name][run]["s"] for name, _ in JOBS for run in ("first", "again")),
        "statements_growing": sum(1 for key, *_ in PAGES
                                  if len({results[s]["pages"][key]["statements"] for s in labels}) > 1),
    }


def _table(rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).rjust(w) if n else str(c).ljust(w) for n, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def report(results: dict[str, dict], summary: dict) -> str:
    labels = list(results)
    span = f"{labels[0]}->{labels[-1]}"
    head = ("page", *(f"{s} p50 ms" for s in labels), *(f"{s} stmts" for s in labels), *(f"{s} KB" for s in labels),
            f"x p50 {span}", f"x stmts {span}", "target")
    rows = [head]
    for key, label, target_ms, target_kb in PAGES:
        pages = [results[s]["pages"][key] for s in labels]
        target = " ".join(t for t in (f"<= {target_ms} ms" if target_ms else "",
                                      f"<= {target_kb} KB" if target_kb else "") if t)
        rows.append((label, *(p["p50_ms"] for p in pages), *(p["statements"] for p in pages),
                     *(p["kb"] for p in pages), summary["growth"][key]["p50"], summary["growth"][key]["statements"],
                     target))
    jobs = [("periodic job", *(f"{s} s" for s in labels), *(f"{s} stmts" for s in labels),
             *(f"{s} found" for s in labels), *(f"{s} again s" for s in labels), *(f"{s} again stmts" for s in labels))]
    for name, label in JOBS:
        runs = [results[s]["jobs"][name] for s in labels]
        jobs.append((label, *(r["first"]["s"] for r in runs), *(r["first"]["statements"] for r in runs),
                     *(r["first"]["items"] for r in runs), *(r["again"]["s"] for r in runs),
                     *(r["again"]["statements"] for r in runs)))
    sizes = [("size", "parents", "courses", "sessions", "audit", "deliveries", "attendance", "responses", "seed s",
              "load avg")]
    for s in labels:
        rows_ = results[s]["rows"]
        sizes.append((s, rows_["parents"], rows_["courses"], rows_["sessions"], rows_["audit_entries"],
                      rows_["invite_deliveries"] + rows_["reminder_deliveries"], rows_["attendance_events"],
                      rows_["responses"], results[s]["seed_s"], results[s]["load_avg"]))
    sql = [("page: where the time goes", *(f"{s} worker CPU ms" for s in labels), *(f"{s} SQL ms" for s in labels),
            *(f"{s} slowest stmt ms" for s in labels))]
    for key, label, *_ in PAGES:
        pages = [results[s]["pages"][key] for s in labels]
        sql.append((label, *(p["cpu_ms"] for p in pages), *(p["sql_ms"] for p in pages),
                    *(p["slowest_sql_ms"] for p in pages)))
    verdict = "\n".join(f"  MISSED {m}" for m in summary["missed"]) or "  every target met"
    return "\n\n".join([_table(sizes), _table(rows), _table(sql), _table(jobs), "targets:\n" + verdict])


def run(labels: list[str], requests: int, log_dir: Path | None) -> tuple[dict, dict]:
    results = {}
    with harness.temp_dir("growth") as instance, harness.private_redis() as redis_url:
        env = harness.isolate(instance, REDIS_URL=redis_url)  # the task queue (and rate limits) in a private Redis
        for label in labels:
            print(f"growth: size {label} ...", file=sys.stderr, flush=True)
            results[label] = measure(SIZES[label], env, instance, redis_url, requests, log_dir)
    return results, summarise(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="add size L (500 courses, 10,000 parents)")
    parser.add_argument("--sizes", help="comma-separated sizes to run, of S, M, L (default S,M; with --large S,M,L)")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page and size")
    parser.add_argument("--log-dir", type=Path, help="keep the gunicorn logs here")
    args = parser.parse_args()
    labels = args.sizes.upper().split(",") if args.sizes else ["S", "M"]
    if args.large and "L" not in labels:
        labels.append("L")
    unknown = sorted(set(labels) - set(SIZES))
    if unknown:
        parser.error(f"unknown size(s): {', '.join(unknown)}")
    labels = sorted(dict.fromkeys(labels), key=list(SIZES).index)
    start = time.perf_counter()
    results, summary = run(labels, args.requests, args.log_dir)
    print(report(results, summary))
    print(f"total {time.perf_counter() - start:.0f} s; {args.requests} requests per page; "
          f"load average {harness.load_average()} at the end")
    print(json.dumps({**summary, "sizes": labels, "requests": args.requests, "results": results}))


if __name__ == "__main__":
    main()
