"""Reminders a day and an hour before a session, claimed once per parent and channel by a periodic task."""

from __future__ import annotations

from datetime import datetime, timedelta

from huey import crontab
from sqlalchemy import select

from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_after_commit, huey, task
from sessions.calendar_models import ReminderDelivery, insert_once
from sessions.invite_tasks import send_reminder
from sessions.invites import invitees
from sessions.models import SessionStatus, WorkshopSession

#: Reminder kinds and how long before the start they go out.
REMINDER_OFFSETS = {"day": timedelta(hours=24), "hour": timedelta(hours=1)}
#: How often the periodic task looks for due reminders.
CHECK_EVERY_MINUTES = 5


def due_kind(session: WorkshopSession, now: datetime) -> str | None:
    """The reminder due now for a session: the nearest offset already passed, or None (started or too early)."""
    if session.starts_at <= now:
        return None
    passed = [(offset, kind) for kind, offset in REMINDER_OFFSETS.items() if session.starts_at - offset <= now]
    return min(passed)[1] if passed else None


def _upcoming(now: datetime) -> list[WorkshopSession]:
    horizon = now + max(REMINDER_OFFSETS.values())
    query = select(WorkshopSession).where(
        WorkshopSession.status == SessionStatus.scheduled,
        WorkshopSession.starts_at > now,
        WorkshopSession.starts_at <= horizon,
    )
    return list(db.session.scalars(query.order_by(WorkshopSession.starts_at)))


def claim_due_reminders(now: datetime | None = None) -> list[ReminderDelivery]:
    """Claim every due, unclaimed reminder and enqueue its send after commit; flushes."""
    now = now or utcnow()
    claimed = []
    for session in _upcoming(now):
        kind = due_kind(session, now)
        for parent in invitees(session) if kind else []:
            for channel in parent.channels:
                # The unique row is the claim: a second run, or another worker, inserts nothing.
                delivery_id = insert_once(ReminderDelivery, session_id=session.id, parent_id=parent.id, kind=kind,
                                          channel=channel)
                if delivery_id is not None:
                    enqueue_after_commit(db.session, send_reminder, delivery_id)
                    claimed.append(db.session.get(ReminderDelivery, delivery_id))
    return claimed


@task(name="sessions.queue_due_reminders")
def queue_due_reminders() -> int:
    """Claim due reminders and enqueue one send task per parent and channel; returns how many."""
    claimed = claim_due_reminders()
    db.session.commit()
    return len(claimed)


@huey.periodic_task(crontab(minute=f"*/{CHECK_EVERY_MINUTES}"), name="sessions.reminders_tick")
def reminders_tick() -> None:
    """Every few minutes: run queue_due_reminders in this worker (inside an app context)."""
    queue_due_reminders.call_local()
