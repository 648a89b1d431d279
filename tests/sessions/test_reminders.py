"""Reminders: due a day and an hour before, claimed once per parent and channel, SMS within two parts."""

import os
import threading
import uuid
from datetime import timedelta

import pytest
from huey import RedisHuey

from core import mail, sms
from core.db import utcnow
from sessions import invites, reminders
from sessions.calendar_models import DeliveryStatus, ReminderDelivery
from sessions.models import SessionStatus
from tests.fixtures.services import need


def mails():
    """Mail without a calendar part: reminders, not invites (the app may send those on scheduling)."""
    return [m for m in mail.get_mail_transport().outbox
            if not any(p.get_content_type() == "text/calendar" for p in m.walk())]


def texts():
    return sms.get_sms_transport().outbox


@pytest.fixture
def parent(db, course, create_parent):
    parent = create_parent("Fatma", course=course, language="tr", email="fatma@example.net")
    parent.phone, parent.contact_sms = "+31612345678", True
    db.session.commit()
    return parent


@pytest.mark.parametrize(("before", "kind"), [(timedelta(hours=25), None), (timedelta(hours=23), "day"),
                                              (timedelta(minutes=30), "hour"), (timedelta(minutes=-5), None)])
def test_due_kind_is_the_nearest_offset_already_passed(db, create_workshop_session, before, kind):
    session = create_workshop_session(starts_at=utcnow().replace(microsecond=0) + timedelta(days=2))

    assert reminders.due_kind(session, session.starts_at - before) == kind


def test_reminder_task_run_twice_sends_each_channel_once(db, parent, create_workshop_session):
    session = create_workshop_session(starts_at=utcnow() + timedelta(hours=23))

    first = reminders.queue_due_reminders.call_local()
    second = reminders.queue_due_reminders.call_local()

    assert (first, second) == (2, 0)
    assert [str(m["To"]) for m in mails()] == ["fatma@example.net"]
    assert [t.to_e164 for t in texts()] == ["+31612345678"]
    rows = db.session.scalars(db.select(ReminderDelivery).order_by(ReminderDelivery.channel)).all()
    assert [(r.session_id, r.kind, r.channel, r.status) for r in rows] == [
        (session.id, "day", "email", DeliveryStatus.sent), (session.id, "day", "sms", DeliveryStatus.sent)]


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
        ("day", "email"), ("day", "sms"), ("hour", "email"), ("hour", "sms")]


def test_no_reminders_for_a_cancelled_session(db, parent, create_workshop_session):
    session = create_workshop_session(starts_at=utcnow() + timedelta(minutes=30))
    session.status = SessionStatus.cancelled
    db.session.commit()

    assert reminders.queue_due_reminders.call_local() == 0
    assert (mails(), texts()) == ([], [])


def test_reminder_mail_is_in_the_parents_language_with_the_join_link(db, parent, create_workshop_session):
    session = create_workshop_session(starts_at=utcnow() + timedelta(minutes=30))

    reminders.queue_due_reminders.call_local()

    message = next(m for m in mails())
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert message["Content-Language"] == "tr"
    assert invites.local_when(session, "tr") in body
    assert f"/join/{session.id}" in body


@pytest.mark.parametrize("language", ["nl", "ar", "tr"])
def test_reminder_sms_fits_two_segments_even_with_a_long_title(db, parent, create_workshop_session, language):
    parent.language = language
    session = create_workshop_session(title="Samen voorlezen en praten over taal thuis met je kind " * 2)

    text = invites.reminder_sms_text(session, parent)

    assert sms.sms_segments(text) <= 2
    assert text.endswith(f"/join/{session.id}")


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
    session = create_workshop_session(starts_at=utcnow().replace(microsecond=0) + timedelta(days=3))
    monkeypatch.setattr(reminders, "utcnow", lambda: session.starts_at - timedelta(minutes=50))  # clock moved
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
        ("hour", "email", DeliveryStatus.sent), ("hour", "email", DeliveryStatus.sent),
        ("hour", "sms", DeliveryStatus.sent)]
