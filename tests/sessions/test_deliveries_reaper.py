"""The stale-delivery reaper: an invite or reminder whose send task died with its worker goes out once, later."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from core.db import utcnow
from core.mail import get_mail_transport
from sessions import deliveries
from sessions.calendar_models import DeliveryStatus, FailureReason, InviteDelivery, ReminderDelivery
from sessions.deliveries import attempt
from tests.fixtures.sql import count_statements


@pytest.fixture
def ahead(create_workshop_session):
    return create_workshop_session(title="Voorlezen", starts_at=utcnow() + timedelta(minutes=50))


@pytest.fixture
def mailed_parent(db, create_parent, course):
    parent = create_parent("Sanne", course=course, language="nl", email="sanne@example.org")
    db.session.commit()
    return parent


def _reminder(db, session, parent, *, age: timedelta) -> ReminderDelivery:
    row = ReminderDelivery(session_id=session.id, parent_id=parent.id, kind=f"60@{session.sequence}",
                           channel="email", created_at=utcnow() - age)
    db.session.add(row)
    db.session.commit()
    return row


def _reload(db, row):
    db.session.expire_all()
    return db.session.get(type(row), row.id)


def test_a_lost_reminder_is_sent_once_by_the_reaper(db, ahead, mailed_parent):
    row = _reminder(db, ahead, mailed_parent, age=timedelta(minutes=40))  # claimed, but its task was lost

    first = deliveries.requeue_stale_deliveries()
    db.session.commit()  # immediate queue: the send runs here
    second = deliveries.requeue_stale_deliveries()
    db.session.commit()

    assert (first, second) == (1, 0)
    assert [m["To"] for m in get_mail_transport().outbox] == ["sanne@example.org"]
    assert _reload(db, row).status is DeliveryStatus.sent


def test_a_recent_pending_reminder_is_left_to_its_task(db, ahead, mailed_parent):
    row = _reminder(db, ahead, mailed_parent, age=timedelta(minutes=5))

    queued = deliveries.requeue_stale_deliveries()
    db.session.commit()

    assert (queued, get_mail_transport().outbox, _reload(db, row).status) == (0, [], DeliveryStatus.pending)


def test_two_reapers_in_a_row_queue_it_once(db, ahead, mailed_parent):
    _reminder(db, ahead, mailed_parent, age=timedelta(minutes=40))

    counts = [deliveries.requeue_stale_deliveries(), deliveries.requeue_stale_deliveries()]
    db.session.commit()

    assert counts == [1, 0]
    assert len(get_mail_transport().outbox) == 1


def test_a_task_that_lost_the_race_to_another_sends_nothing(db, ahead, mailed_parent):
    row = _reminder(db, ahead, mailed_parent, age=timedelta(minutes=1))
    sends = []
    # Another task took the delivery up after this one read it.
    db.session.execute(update(ReminderDelivery).where(ReminderDelivery.id == row.id).values(attempts=1)
                       .execution_options(synchronize_session=False))

    attempt(row, lambda: sends.append("sent"))

    assert sends == []


def test_a_superseded_lost_invite_is_closed_not_sent(db, ahead, mailed_parent):
    row = InviteDelivery(session_id=ahead.id, parent_id=mailed_parent.id, sequence=ahead.sequence + 5,
                         method="REQUEST", created_at=utcnow() - timedelta(hours=1))
    db.session.add(row)
    db.session.commit()

    queued = deliveries.requeue_stale_deliveries()
    db.session.commit()

    row = _reload(db, row)
    assert (queued, row.status, row.failure, get_mail_transport().outbox) == (
        0, DeliveryStatus.failed, FailureReason.cancelled, [])


# --- cost: batches and statements ----------------------------------------------------------------------------------


def _lost_reminders(db, session, create_parent, count: int) -> list[int]:
    parents = [create_parent(f"Ouder {i}", email=f"ouder{i}@example.org") for i in range(count)]
    return [_reminder(db, session, parent, age=timedelta(minutes=40)).id for parent in parents]


def test_a_backlog_of_lost_deliveries_is_requeued_in_bounded_batches(db, monkeypatch, ahead, create_parent):
    monkeypatch.setattr(deliveries, "REAP_BATCH", 2)
    monkeypatch.setattr(deliveries, "REAP_MAX_BATCHES", 2)
    _lost_reminders(db, ahead, create_parent, 5)

    runs = [deliveries.requeue_stale_deliveries() for _ in range(3)]

    assert runs == [4, 1, 0]  # two batches of two per run; the next run goes on
    assert len(get_mail_transport().outbox) == 5


def test_closing_superseded_invites_costs_the_same_statements_for_2_or_8(db, ahead, create_parent):
    def lost_invites(count: int, offset: int) -> None:
        for i in range(count):
            parent = create_parent(f"Ouder {offset + i}", email=f"ouder{offset + i}@example.org")
            db.session.add(InviteDelivery(session_id=ahead.id, parent_id=parent.id, sequence=ahead.sequence + 5,
                                          method="REQUEST", created_at=utcnow() - timedelta(hours=1)))
        db.session.commit()

    lost_invites(2, 0)
    few = count_statements(db, deliveries.requeue_stale_deliveries)
    lost_invites(8, 2)

    many = count_statements(db, deliveries.requeue_stale_deliveries)

    assert few == many
    assert db.session.scalar(select(func.count()).where(InviteDelivery.status == DeliveryStatus.failed)) == 10


