"""Reminders: due at each course's offsets, claimed once per parent, reminder and channel (also by two workers and
after the offsets change), in the parent's language, with the join link and one-tap answers on every channel."""

import os
import threading
import uuid
from datetime import timedelta

import pytest
from flask_babel import force_locale
from flask_babel import gettext as _
from huey import RedisHuey
from sqlalchemy import event
from sqlalchemy.orm import Session

from core import mail, sms
from core.db import utcnow
from courses import services as courses
from courses.models import Course, Enrolment
from sessions import reminder_messages, reminders
from sessions.calendar import join_url, local_when
from sessions.calendar_models import DeliveryStatus, FailureReason, ReminderDelivery
from sessions.invite_messages import session_span
from sessions.models import SessionStatus, WorkshopSession
from sessions.rsvp import rsvp_urls
from sessions.scheduling import reschedule_session
from tests.fixtures.services import need
from tests.fixtures.sql import count_statements


def mails():
    """Mail without a calendar part: reminders, not invites (the app may send those on scheduling)."""
    return [m for m in mail.get_mail_transport().outbox
            if not any(p.get_content_type() == "text/calendar" for p in m.walk())]


def texts():
    """Text and WhatsApp messages that are reminders (they carry the one-tap answers), not the invites the app sends
    on scheduling."""
    return [m for m in sms.get_sms_transport().outbox
            if "/r/" in (m.text if isinstance(m, sms.SmsMessage) else " ".join(m.variables.values()))]


def claims(db):
    rows = db.session.scalars(db.select(ReminderDelivery).order_by(ReminderDelivery.id)).all()
    return [(r.kind, r.channel) for r in rows]


@pytest.fixture
def parent(db, course, create_parent):
    parent = create_parent("Fatma", course=course, language="tr", email="fatma@example.net")
    parent.phone, parent.contact_sms = "+31612345678", True
    db.session.commit()
    return parent


def set_offsets(db, course, offsets):
    courses.update_course(course, reminder_offsets=offsets)
    db.session.commit()


@pytest.mark.parametrize(("before", "offset"), [(timedelta(hours=25), None), (timedelta(hours=23), 1440),
                                                (timedelta(minutes=30), 60), (timedelta(minutes=-5), None)])
def test_due_offset_is_the_nearest_default_offset_already_passed(db, create_workshop_session, before, offset):
    session = create_workshop_session(starts_at=utcnow().replace(microsecond=0) + timedelta(days=2))

    assert reminders.due_offset(session, session.starts_at - before) == offset


@pytest.mark.parametrize(("before", "offset"), [(timedelta(days=8), None), (timedelta(days=6), 10080),
                                                (timedelta(hours=2, minutes=59), 180), (timedelta(minutes=10), 15)])
def test_due_offset_follows_the_courses_own_offsets(db, course, create_workshop_session, before, offset):
    set_offsets(db, course, [15, 10080, 180])
    session = create_workshop_session(starts_at=utcnow().replace(microsecond=0) + timedelta(days=9))

    assert reminders.due_offset(session, session.starts_at - before) == offset


def test_course_offsets_with_the_clock_moved_send_each_reminder_once(db, course, parent, create_workshop_session):
    set_offsets(db, course, [180, 15])
    session = create_workshop_session(starts_at=utcnow().replace(microsecond=0) + timedelta(days=2))
    at = session.starts_at

    early = reminders.claim_due_reminders(at - timedelta(hours=24))
    three = reminders.claim_due_reminders(at - timedelta(hours=2, minutes=55))
    again = reminders.claim_due_reminders(at - timedelta(hours=1))
    fifteen = reminders.claim_due_reminders(at - timedelta(minutes=12))
    db.session.commit()

    assert (early, again) == ([], [])
    assert sorted((d.kind, d.channel) for d in three + fifteen) == [
        ("15@0", "email"), ("15@0", "sms"), ("180@0", "email"), ("180@0", "sms")]


def test_a_course_without_reminders_sends_none(db, course, parent, create_workshop_session):
    set_offsets(db, course, [])
    session = create_workshop_session(starts_at=utcnow() + timedelta(minutes=30))

    assert reminders.claim_due_reminders(session.starts_at - timedelta(minutes=10)) == []


def test_reminder_task_run_twice_sends_each_channel_once(db, parent, create_workshop_session):
    session = create_workshop_session(starts_at=utcnow() + timedelta(hours=23))

    first = reminders.queue_due_reminders.call_local()
    second = reminders.queue_due_reminders.call_local()

    assert (first, second) == (2, 0)
    assert [str(m["To"]) for m in mails()] == ["fatma@example.net"]
    assert [t.to_e164 for t in texts()] == ["+31612345678"]
    rows = db.session.scalars(db.select(ReminderDelivery).order_by(ReminderDelivery.channel)).all()
    assert [(r.session_id, r.kind, r.channel, r.status) for r in rows] == [
        (session.id, "1440@0", "email", DeliveryStatus.sent), (session.id, "1440@0", "sms", DeliveryStatus.sent)]


def test_periodic_tick_claims_and_sends_like_the_task(db, parent, create_workshop_session):
    create_workshop_session(starts_at=utcnow() + timedelta(minutes=50))

    reminders.reminders_tick.call_local()
    reminders.reminders_tick.call_local()

    assert claims(db) == [("60@0", "email"), ("60@0", "sms")]
    assert ([str(m["To"]) for m in mails()], [t.to_e164 for t in texts()]) == (
        ["fatma@example.net"], ["+31612345678"])


def test_reminder_task_in_two_workers_at_once_sends_each_channel_once(app, db, parent, create_workshop_session):
    create_workshop_session(starts_at=utcnow() + timedelta(minutes=40))
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        barrier.wait()
        try:
            reminders.queue_due_reminders.call_local()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert [str(m["To"]) for m in mails()] == ["fatma@example.net"]
    assert [t.to_e164 for t in texts()] == ["+31612345678"]


def test_hour_reminder_follows_the_day_reminder(db, parent, create_workshop_session):
    session = create_workshop_session(starts_at=utcnow().replace(microsecond=0) + timedelta(days=2))

    day = reminders.claim_due_reminders(session.starts_at - timedelta(hours=20))
    hour = reminders.claim_due_reminders(session.starts_at - timedelta(minutes=50))
    db.session.commit()

    assert sorted((d.kind, d.channel) for d in day + hour) == [
        ("1440@0", "email"), ("1440@0", "sms"), ("60@0", "email"), ("60@0", "sms")]


def test_a_late_session_gets_only_the_nearest_reminder_not_a_burst(db, course, parent, create_workshop_session):
    set_offsets(db, course, [1440, 180, 60])
    session = create_workshop_session(starts_at=utcnow().replace(microsecond=0) + timedelta(days=2))

    claimed = reminders.claim_due_reminders(session.starts_at - timedelta(minutes=40))
    later = reminders.claim_due_reminders(session.starts_at - timedelta(minutes=20))
    db.session.commit()

    assert sorted((d.kind, d.channel) for d in claimed) == [("60@0", "email"), ("60@0", "sms")]
    assert later == []


def test_changing_offsets_after_a_reminder_neither_resends_nor_sends_a_stale_one(db, course, parent,
                                                                               create_workshop_session):
    session = create_workshop_session(starts_at=utcnow().replace(microsecond=0) + timedelta(days=3))
    at = session.starts_at
    reminders.claim_due_reminders(at - timedelta(hours=20))  # the 24 h reminder
    db.session.commit()

    set_offsets(db, course, [2880, 1440, 60])  # 2 days added: already passed, and the parent was reminded since
    after_change = reminders.claim_due_reminders(at - timedelta(hours=19))
    set_offsets(db, course, [2880, 180])  # 3 h added: due later, once
    three = reminders.claim_due_reminders(at - timedelta(hours=2, minutes=55))
    three_again = reminders.claim_due_reminders(at - timedelta(hours=2))
    db.session.commit()

    assert (after_change, three_again) == ([], [])
    assert sorted((d.kind, d.channel) for d in three) == [("180@0", "email"), ("180@0", "sms")]
    assert sorted(claims(db)) == [("1440@0", "email"), ("1440@0", "sms"), ("180@0", "email"), ("180@0", "sms")]


def test_a_moved_session_is_reminded_again_before_its_new_time_but_not_twice(db, parent, create_workshop_session):
    session = create_workshop_session(starts_at=utcnow().replace(microsecond=0) + timedelta(days=3))
    old = session.starts_at
    reminders.claim_due_reminders(old - timedelta(hours=20))
    db.session.commit()

    reschedule_session(session, starts_local=(old + timedelta(hours=30)).astimezone(session.local_start.tzinfo)
                       .replace(tzinfo=None))
    db.session.commit()
    before_old_start = reminders.claim_due_reminders(old - timedelta(hours=19))
    new = reminders.claim_due_reminders(session.starts_at - timedelta(hours=23))
    reschedule_session(session, starts_local=(session.starts_at - timedelta(hours=2)).astimezone(
        session.local_start.tzinfo).replace(tzinfo=None))
    db.session.commit()
    moved_a_little = reminders.claim_due_reminders(session.starts_at - timedelta(hours=20))
    db.session.commit()

    assert (before_old_start, moved_a_little) == ([], [])
    assert sorted((d.kind, d.channel) for d in new) == [("1440@1", "email"), ("1440@1", "sms")]


def test_no_reminders_for_a_cancelled_session(db, parent, create_workshop_session):
    session = create_workshop_session(starts_at=utcnow() + timedelta(minutes=30))
    session.status = SessionStatus.cancelled
    db.session.commit()

    assert reminders.queue_due_reminders.call_local() == 0
    assert (mails(), texts()) == ([], [])


def test_a_claimed_reminder_of_a_session_cancelled_before_sending_is_not_sent(db, parent, create_workshop_session):
    session = create_workshop_session(starts_at=utcnow() + timedelta(minutes=30))
    claimed = reminders.claim_due_reminders()
    session.status = SessionStatus.cancelled
    db.session.commit()  # the claimed sends run after this commit and find the session cancelled

    rows = db.session.scalars(db.select(ReminderDelivery)).all()
    assert len(claimed) == 2
    assert {(r.status, r.failure) for r in rows} == {(DeliveryStatus.failed, FailureReason.cancelled)}
    assert (mails(), texts()) == ([], [])


def test_reminder_mail_is_in_the_parents_language_with_join_and_answer_links(db, parent, create_workshop_session):
    session = create_workshop_session(starts_at=utcnow() + timedelta(minutes=30))

    reminders.queue_due_reminders.call_local()

    message = next(m for m in mails())
    body = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    links = rsvp_urls(parent, session)
    with force_locale("tr"):
        coming, cannot = _("Ik kom"), _("Ik kan niet")
    assert message["Content-Language"] == "tr"
    assert local_when(session, "tr") in body
    assert f"/join/{session.id}" in body
    assert f"{coming}: {links['yes']}\n{cannot}: {links['no']}" in body
    assert f'href="{links["yes"]}"' in html and f'href="{links["no"]}"' in html


@pytest.mark.parametrize(("language", "segments"), [("nl", 2), ("en", 2), ("ar", 4), ("tr", 4)])
def test_reminder_sms_carries_three_links_within_its_segments(db, parent, create_workshop_session, language,
                                                              segments):
    parent.language = language
    session = create_workshop_session(title="Samen voorlezen en praten over taal thuis met je kind " * 2)

    text = reminder_messages.reminder_text(session, parent)

    links = rsvp_urls(parent, session)
    assert sms.sms_segments(text) <= segments
    assert [line.rsplit(" ", 1)[-1] for line in text.splitlines()] == [
        join_url(parent, session), links["yes"], links["no"]]


def test_short_title_stays_in_the_dutch_sms(db, parent, create_workshop_session):
    parent.language = "nl"
    session = create_workshop_session(title="Voorlezen")

    text = reminder_messages.reminder_text(session, parent)

    assert text.startswith("Ouderkamer: Voorlezen, ")


@pytest.mark.parametrize(("minutes", "expected"), [(3, "Het begint zo:"), (57, "Over 55 minuten begint:"),
                                                   (14, "Over 15 minuten begint:")])
def test_lead_says_how_long_until_the_start_when_sent(app, db, create_workshop_session, minutes, expected):
    session = create_workshop_session()

    with app.test_request_context(), force_locale("nl"):
        lead = reminder_messages.lead(session, session.starts_at - timedelta(minutes=minutes))

    assert lead == expected


# --- WhatsApp --------------------------------------------------------------------------------------------------


@pytest.fixture
def whatsapp_parent(db, course):
    parent = courses.add_parent(name="Amina", language="ar", phone="+31687654321", contact_email=False,
                                contact_whatsapp=True)
    courses.enrol(course, parent)
    db.session.commit()
    return parent


@pytest.fixture
def templates(app):
    saved = app.config.get("WHATSAPP_TEMPLATES")
    app.config["WHATSAPP_TEMPLATES"] = '{"reminder": {"ar": "HX-ar", "nl": "HX-nl"}}'
    yield
    app.config["WHATSAPP_TEMPLATES"] = saved


def test_whatsapp_reminder_is_the_template_of_the_parents_language(db, whatsapp_parent, create_workshop_session,
                                                                    templates):
    session = create_workshop_session(starts_at=utcnow() + timedelta(minutes=30))

    reminders.queue_due_reminders.call_local()

    links = rsvp_urls(whatsapp_parent, session)
    assert texts() == [sms.WhatsAppMessage("+31687654321", "HX-ar", {
        "1": "Amina", "2": f"\u2068{session.title}\u2069", "3": session_span(session, "ar"),
        "4": join_url(whatsapp_parent, session), "5": links["yes"], "6": links["no"]})]
    assert mails() == []


def test_without_a_template_the_reminder_goes_to_the_parents_other_channel(db, whatsapp_parent,
                                                                           create_workshop_session, templates):
    whatsapp_parent.language, whatsapp_parent.email, whatsapp_parent.contact_email = "tr", "amina@example.net", True
    db.session.commit()
    create_workshop_session(starts_at=utcnow() + timedelta(minutes=30))

    reminders.queue_due_reminders.call_local()

    assert claims(db) == [("60@0", "email")]
    assert ([str(m["To"]) for m in mails()], texts()) == (["amina@example.net"], [])


def test_without_a_template_and_no_other_channel_the_failure_is_recorded(db, whatsapp_parent,
                                                                         create_workshop_session):
    create_workshop_session(starts_at=utcnow() + timedelta(minutes=30))

    reminders.queue_due_reminders.call_local()

    row = db.session.scalars(db.select(ReminderDelivery)).one()
    assert (row.channel, row.status, row.failure, row.attempts) == (
        "whatsapp", DeliveryStatus.failed, FailureReason.setup, 1)
    assert row.error == "no WhatsApp template for 'reminder' in language 'ar' (WHATSAPP_TEMPLATES)"
    assert texts() == []


# --- Redis --------------------------------------------------------------------------------------------------------


@pytest.fixture
def redis_huey():
    """A private Huey queue on the real Redis (REDIS_URL), emptied afterwards."""
    url = os.environ.get("REDIS_URL", "").strip()
    need(bool(url), "Redis (REDIS_URL)")
    queue = RedisHuey(f"ouderkamer-test-{uuid.uuid4().hex}", url=url)
    try:
        queue.storage.conn.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means Redis is not reachable
        need(False, f"Redis at {url} ({exc})")
    yield queue
    queue.flush()


def test_two_redis_workers_past_a_reminder_send_it_once_per_parent(db, monkeypatch, course, create_parent, parent,
                                                                   create_workshop_session, redis_huey):
    create_parent("Sanne", course=course, email="sanne@example.org")
    set_offsets(db, course, [180, 60])
    session = create_workshop_session(starts_at=utcnow().replace(microsecond=0) + timedelta(days=3))
    # Read before the threads start: both would otherwise load the expired attribute through this thread's session.
    moved = session.starts_at - timedelta(minutes=50)
    monkeypatch.setattr(reminders, "utcnow", lambda: moved)  # clock moved
    tick = redis_huey.task(name="tests.reminders_tick")(lambda: reminders.queue_due_reminders.call_local())
    tick()
    tick()
    barrier = threading.Barrier(2)
    counts, errors = [], []

    def worker():
        message = redis_huey.dequeue()
        barrier.wait()
        try:
            counts.append(redis_huey.execute(message))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert (errors, sum(counts), redis_huey.pending_count()) == ([], 3, 0)
    assert sorted(str(m["To"]) for m in mails()) == ["fatma@example.net", "sanne@example.org"]
    assert [t.to_e164 for t in texts()] == ["+31612345678"]
    rows = db.session.scalars(db.select(ReminderDelivery)).all()
    assert sorted((r.kind, r.channel, r.status) for r in rows) == [
        ("60@0", "email", DeliveryStatus.sent), ("60@0", "email", DeliveryStatus.sent),
        ("60@0", "sms", DeliveryStatus.sent)]


# --- cost: statements and batches ----------------------------------------------------------------------------------


def _add_sessions(db, course, count: int, *, first, step=timedelta(minutes=1)) -> list[int]:
    """`count` scheduled sessions from `first` on, each in a course of its own with the parents of `course`,
    inserted as rows (no invites: only the tick is measured)."""
    parent_ids = [e.parent_id for e in course.enrolments]
    ids = []
    for i in range(count):
        own = Course(organisation_id=course.organisation_id, title=f"Cursus {i}")
        db.session.add(own)
        db.session.flush()
        db.session.add_all(Enrolment(course_id=own.id, parent_id=parent_id) for parent_id in parent_ids)
        row = WorkshopSession(course_id=own.id, title=f"Sessie {i}", starts_at=first + i * step,
                              room_name=f"room-{uuid.uuid4().hex}")
        db.session.add(row)
        db.session.flush()
        ids.append(row.id)
    db.session.commit()
    return ids


def test_a_tick_with_nothing_due_costs_the_same_statements_for_10_or_100_sessions(db, course, parent):
    first = utcnow().replace(microsecond=0) + timedelta(days=2)  # inside the 7-day window, before any offset
    _add_sessions(db, course, 10, first=first)
    few = count_statements(db, reminders.reminders_tick.call_local)
    _add_sessions(db, course, 90, first=first + timedelta(hours=3), step=timedelta(minutes=30))

    many = count_statements(db, reminders.reminders_tick.call_local)

    assert few == many == 1  # the window with each session's course offsets, in one read
    assert claims(db) == []


def test_a_tick_after_every_reminder_is_claimed_costs_the_same_statements_for_10_or_40_sessions(db, course,
                                                                                              parent):
    first = utcnow().replace(microsecond=0) + timedelta(hours=5)  # the 24-hour reminders are due
    _add_sessions(db, course, 10, first=first)
    reminders.reminders_tick.call_local()
    few = count_statements(db, reminders.reminders_tick.call_local)
    _add_sessions(db, course, 30, first=first + timedelta(hours=1))
    reminders.reminders_tick.call_local()

    many = count_statements(db, reminders.reminders_tick.call_local)

    assert few == many == 3  # the window, the invitees of the due sessions, and when each was last reminded
    assert len(claims(db)) == 40 * 2  # e-mail and SMS


def test_a_backlog_of_due_reminders_is_claimed_and_committed_a_chunk_at_a_time(db, monkeypatch, course, parent):
    monkeypatch.setattr(reminders, "CLAIM_BATCH", 2)
    _add_sessions(db, course, 5, first=utcnow().replace(microsecond=0) + timedelta(minutes=30))
    inserted, statements, at_commits = [], [], []
    insert_many_once = reminders.insert_many_once

    def insert_and_count(model, rows):
        new_ids = insert_many_once(model, rows)
        inserted.extend(new_ids)
        return new_ids

    monkeypatch.setattr(reminders, "insert_many_once", insert_and_count)

    def note_insert(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT INTO REMINDER_DELIVERIES"):
            statements.append(1)

    def note_commit(_session):
        if not at_commits or at_commits[-1] != len(inserted):
            at_commits.append(len(inserted))

    event.listen(db.engine, "before_cursor_execute", note_insert)
    event.listen(Session, "after_commit", note_commit)
    try:
        claimed = reminders.queue_due_reminders.call_local()
    finally:
        event.remove(db.engine, "before_cursor_execute", note_insert)
        event.remove(Session, "after_commit", note_commit)

    assert claimed == 10
    assert at_commits == [4, 8, 10]  # two sessions (e-mail + SMS each) per commit; their sends start there
    assert len(statements) == 3  # one INSERT per chunk, not one per parent and channel
    assert len(mails()) == len(texts()) == 5
