"""Reminders at each course's offsets before a session, claimed once per parent, reminder and channel by a periodic
task, and sent by e-mail, SMS or WhatsApp with the join link and one-tap answers."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from huey import crontab
from sqlalchemy import func, select

from core import mail, sms
from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_after_commit, periodic_task, task
from courses.models import Course, Parent
from courses.services import DEFAULT_REMINDERS, REMINDER_OFFSETS
from sessions import reminder_messages
from sessions.calendar_models import DeliveryStatus, FailureReason, ReminderDelivery, insert_once
from sessions.deliveries import REMINDER, RETRIES, DeliveryKind, attempt, fail, is_ahead, register
from sessions.models import SessionStatus, WorkshopSession
from sessions.services import invitees

logger = logging.getLogger("ouderkamer.sessions")

#: How often the periodic task looks for due reminders.
CHECK_EVERY_MINUTES = 5
EMAIL, SMS, WHATSAPP = "email", "sms", "whatsapp"


def offsets_of(course: Course) -> list[int]:
    """The course's reminder offsets in minutes, largest first (the defaults when it has none set)."""
    chosen = course.reminder_offsets if course.reminder_offsets is not None else DEFAULT_REMINDERS
    return sorted({minutes for minutes in chosen if minutes in REMINDER_OFFSETS}, reverse=True)


def due_offset(workshop_session: WorkshopSession, now: datetime) -> int | None:
    """The reminder due now for a session: the nearest of its course's offsets already passed, or None (started,
    too early, or no reminders). Only the nearest: a late or changed schedule never sends a burst of stale ones."""
    if workshop_session.starts_at <= now:
        return None
    starts_at = workshop_session.starts_at
    passed = [m for m in offsets_of(workshop_session.course) if starts_at - timedelta(minutes=m) <= now]
    return min(passed) if passed else None


def reminder_channels(parent: Parent) -> list[str]:
    """The parent's channels for a reminder: WhatsApp is left out when no template exists for their language and
    they have another channel; as their only channel it stays, so the failure shows on the trainer's page."""
    channels = parent.channels
    if WHATSAPP in channels and len(channels) > 1 and not sms.whatsapp_template(
            reminder_messages.WHATSAPP_KIND, parent.language):
        logger.warning("no WhatsApp reminder template for %r: parent %s gets %s only", parent.language, parent.id,
                       ", ".join(c for c in channels if c != WHATSAPP))
        return [c for c in channels if c != WHATSAPP]
    return channels


def _upcoming(now: datetime) -> list[WorkshopSession]:
    horizon = now + timedelta(minutes=max(REMINDER_OFFSETS))
    query = select(WorkshopSession).where(
        WorkshopSession.status == SessionStatus.scheduled,
        WorkshopSession.starts_at > now,
        WorkshopSession.starts_at <= horizon,
    )
    return list(db.session.scalars(query.order_by(WorkshopSession.starts_at)))


def _last_reminded(workshop_session: WorkshopSession) -> dict[tuple[int, str], datetime]:
    """When each parent and channel was last reminded of this session."""
    query = (select(ReminderDelivery.parent_id, ReminderDelivery.channel, func.max(ReminderDelivery.created_at))
             .where(ReminderDelivery.session_id == workshop_session.id)
             .group_by(ReminderDelivery.parent_id, ReminderDelivery.channel))
    return {(parent_id, channel): at for parent_id, channel, at in db.session.execute(query)}


def reminder_kind(offset: int, workshop_session: WorkshopSession) -> str:
    """The claim key of a reminder: its offset at the session's SEQUENCE ("1440@0"), so a moved session is
    reminded again before its new time."""
    return f"{offset}@{workshop_session.sequence}"


def offset_of(kind: str) -> int:
    """The offset in minutes of a reminder kind."""
    return int(kind.split("@", 1)[0])


def _claim_session(workshop_session: WorkshopSession, offset: int, now: datetime) -> list[int]:
    due_at = workshop_session.starts_at - timedelta(minutes=offset)
    last = _last_reminded(workshop_session)
    claimed = []
    for parent in invitees(workshop_session):
        for channel in reminder_channels(parent):
            previous = last.get((parent.id, channel))
            if previous is not None and previous >= due_at:
                continue  # reminded since this reminder fell due (the offsets changed): once per window is enough
            # The unique row is the claim: a second run, or another worker, inserts nothing.
            delivery_id = insert_once(ReminderDelivery, session_id=workshop_session.id, parent_id=parent.id,
                                      kind=reminder_kind(offset, workshop_session), channel=channel, created_at=now)
            if delivery_id is not None:
                enqueue_after_commit(db.session, send_reminder, delivery_id)
                claimed.append(delivery_id)
    return claimed


def claim_due_reminders(now: datetime | None = None) -> list[ReminderDelivery]:
    """Claim every due, unclaimed reminder and enqueue its send after commit; flushes."""
    now = now or utcnow()
    claimed = []
    for workshop_session in _upcoming(now):
        offset = due_offset(workshop_session, now)
        if offset is not None:
            claimed += _claim_session(workshop_session, offset, now)
    return [db.session.get(ReminderDelivery, delivery_id) for delivery_id in claimed]


@task(name="sessions.queue_due_reminders")
def queue_due_reminders() -> int:
    """Claim due reminders and enqueue one send task per parent and channel; commits; returns how many."""
    claimed = claim_due_reminders()
    db.session.commit()
    return len(claimed)


@periodic_task(crontab(minute=f"*/{CHECK_EVERY_MINUTES}"), name="sessions.reminders_tick")
def reminders_tick() -> None:
    """Every few minutes: claim due reminders and enqueue their sends; commits."""
    claim_due_reminders()
    db.session.commit()


# --- sending ------------------------------------------------------------------------------------------------------


def _send(delivery: ReminderDelivery) -> None:
    workshop_session, parent, channel = delivery.session, delivery.parent, delivery.channel
    if channel == EMAIL:
        message = reminder_messages.reminder_mail(workshop_session, parent, utcnow())
        attempt(delivery, lambda: mail.send_message(message))
        return
    text = reminder_messages.reminder_text(workshop_session, parent) if channel == SMS else ""
    variables = reminder_messages.whatsapp_variables(workshop_session, parent) if channel == WHATSAPP else {}
    attempt(delivery, lambda: sms.send_to_phone(channel, parent.phone, text=text, language=parent.language,
                                                kind=reminder_messages.WHATSAPP_KIND, variables=variables))


@task(name="sessions.send_reminder", **RETRIES)
def send_reminder(delivery_id: int) -> None:
    """Send one claimed reminder (e-mail, SMS or WhatsApp) unless sent already, cancelled or begun; commits
    (network: SMTP, Twilio or the log)."""
    delivery = db.session.get(ReminderDelivery, delivery_id)
    if delivery is None or delivery.status is not DeliveryStatus.pending:
        return
    if delivery.session.status is SessionStatus.cancelled:
        fail(delivery, FailureReason.cancelled, "session cancelled")
    elif delivery.session.starts_at <= utcnow():
        fail(delivery, FailureReason.too_late, "the session had begun before the reminder could be sent")
    elif delivery.channel not in delivery.parent.channels:
        fail(delivery, FailureReason.cancelled, f"the parent no longer takes messages by {delivery.channel}")
    else:
        _send(delivery)


# --- sending again -----------------------------------------------------------------------------------------------


def _plan(delivery: ReminderDelivery, resend: bool) -> tuple | None:
    """The reaper queues a lost reminder as it is (send_reminder closes it if it is no longer wanted); the trainer's
    button only while the session is ahead and the parent still takes messages on that channel."""
    if resend and (delivery.failure is FailureReason.too_late or not is_ahead(delivery.session)
                   or delivery.channel not in delivery.parent.channels):
        return None
    return (send_reminder, delivery.id)


def _shown(delivery: ReminderDelivery, _workshop_session: WorkshopSession) -> tuple[str, str]:
    return delivery.channel, str(offset_of(delivery.kind))


register(REMINDER, DeliveryKind(ReminderDelivery, _plan, lambda workshop_session: [workshop_session.id], _shown))
