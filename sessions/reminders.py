"""Reminders at each course's offsets before a session, claimed once per parent, reminder and channel by a periodic
task, and sent by e-mail, SMS or WhatsApp with the join link and one-tap answers."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta

from huey import crontab
from sqlalchemy import Row, and_, func, or_, select

from core import mail, sms
from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_after_commit, periodic_task, task
from courses.models import Course, Enrolment, Parent
from courses.services import DEFAULT_REMINDERS, REMINDER_OFFSETS
from sessions import reminder_messages
from sessions.calendar_models import DeliveryStatus, FailureReason, ReminderDelivery, insert_many_once
from sessions.deliveries import REMINDER, RETRIES, DeliveryKind, attempt, fail, is_ahead, register
from sessions.models import SessionStatus, WorkshopSession, session_invitees

logger = logging.getLogger("ouderkamer.sessions")

#: How often the periodic task looks for due reminders.
CHECK_EVERY_MINUTES = 5
EMAIL, SMS, WHATSAPP = "email", "sms", "whatsapp"
#: Sessions of the reminder window read per statement, and due sessions claimed per chunk (the tick commits each).
WINDOW_BATCH = 500
CLAIM_BATCH = 50
INSERT_BATCH = 500  # rows per INSERT: 6 values each, far below SQLite's and PostgreSQL's parameter limits
#: A run starts no new chunk after this long; the next tick goes on, soonest sessions first.
RUN_SECONDS = 120


def _offsets(chosen: list[int] | None) -> list[int]:
    chosen = chosen if chosen is not None else DEFAULT_REMINDERS
    return sorted({minutes for minutes in chosen if minutes in REMINDER_OFFSETS}, reverse=True)


def offsets_of(course: Course) -> list[int]:
    """The course's reminder offsets in minutes, largest first (the defaults when it has none set)."""
    return _offsets(course.reminder_offsets)


def _nearest_passed(starts_at: datetime, offsets: list[int], now: datetime) -> int | None:
    if starts_at <= now:
        return None
    passed = [m for m in offsets if starts_at - timedelta(minutes=m) <= now]
    return min(passed) if passed else None


def due_offset(workshop_session: WorkshopSession, now: datetime) -> int | None:
    """The reminder due now for a session: the nearest of its course's offsets already passed, or None (started,
    too early, or no reminders). Only the nearest: a late or changed schedule never sends a burst of stale ones."""
    return _nearest_passed(workshop_session.starts_at, offsets_of(workshop_session.course), now)


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


def _window(now: datetime, after: tuple[datetime, int] | None) -> list[Row]:
    """One batch of the scheduled sessions within the largest offset, soonest first, with their course's offsets
    (read through the starts_at index and the course's key: no row per course)."""
    horizon = now + timedelta(minutes=max(REMINDER_OFFSETS))
    query = (select(WorkshopSession.id, WorkshopSession.course_id, WorkshopSession.starts_at,
                    WorkshopSession.sequence, WorkshopSession.invite_whole_course, Course.reminder_offsets)
             .join(Course, Course.id == WorkshopSession.course_id)
             .where(WorkshopSession.status == SessionStatus.scheduled, WorkshopSession.starts_at > now,
                    WorkshopSession.starts_at <= horizon))
    if after is not None:
        starts_at, session_id = after
        query = query.where(WorkshopSession.starts_at >= starts_at,
                            or_(WorkshopSession.starts_at > starts_at,
                                and_(WorkshopSession.starts_at == starts_at, WorkshopSession.id > session_id)))
    query = query.order_by(WorkshopSession.starts_at, WorkshopSession.id).limit(WINDOW_BATCH)
    return list(db.session.execute(query))


def _due_sessions(now: datetime) -> Iterator[list[tuple[Row, int]]]:
    """The due sessions of the window with their due offset, a chunk at a time."""
    after = None
    while True:
        rows = _window(now, after)
        due = [(row, offset) for row in rows
               if (offset := _nearest_passed(row.starts_at, _offsets(row.reminder_offsets), now)) is not None]
        for start in range(0, len(due), CLAIM_BATCH):
            yield due[start:start + CLAIM_BATCH]
        if len(rows) < WINDOW_BATCH:
            return
        after = (rows[-1].starts_at, rows[-1].id)


def _invitees(sessions: list[Row]) -> dict[int, list[Parent]]:
    """The parents each session's messages go to (the whole course or the chosen ones, without those whose access
    is revoked), as sessions.services.invitees has them, for a chunk of sessions in two statements."""
    whole = {row.course_id for row in sessions if row.invite_whole_course}
    chosen = [row.id for row in sessions if not row.invite_whole_course]
    by_course, by_session = defaultdict(list), defaultdict(list)
    reachable, by_name = Parent.access_revoked_at.is_(None), (Parent.name, Parent.id)
    if whole:
        query = (select(Enrolment.course_id, Parent).join(Parent, Parent.id == Enrolment.parent_id)
                 .where(Enrolment.course_id.in_(whole), reachable).order_by(*by_name))
        for course_id, parent in db.session.execute(query):
            by_course[course_id].append(parent)
    if chosen:
        query = (select(session_invitees.c.session_id, Parent).join(Parent, Parent.id == session_invitees.c.parent_id)
                 .where(session_invitees.c.session_id.in_(chosen), reachable).order_by(*by_name))
        for session_id, parent in db.session.execute(query):
            by_session[session_id].append(parent)
    return {row.id: by_course[row.course_id] if row.invite_whole_course else by_session[row.id] for row in sessions}


def _last_reminded(session_ids: list[int]) -> dict[tuple[int, int, str], datetime]:
    """When each parent was last reminded of each of these sessions, by channel."""
    query = (select(ReminderDelivery.session_id, ReminderDelivery.parent_id, ReminderDelivery.channel,
                    func.max(ReminderDelivery.created_at))
             .where(ReminderDelivery.session_id.in_(session_ids))
             .group_by(ReminderDelivery.session_id, ReminderDelivery.parent_id, ReminderDelivery.channel))
    return {(session_id, parent_id, channel): at for session_id, parent_id, channel, at in db.session.execute(query)}


def reminder_kind(offset: int, workshop_session: WorkshopSession | Row) -> str:
    """The claim key of a reminder: its offset at the session's SEQUENCE ("1440@0"), so a moved session is
    reminded again before its new time."""
    return f"{offset}@{workshop_session.sequence}"


def offset_of(kind: str) -> int:
    """The offset in minutes of a reminder kind."""
    return int(kind.split("@", 1)[0])


def _claim_chunk(due: list[tuple[Row, int]], now: datetime) -> list[int]:
    parents = _invitees([row for row, _offset in due])
    last = _last_reminded([row.id for row, _offset in due])
    wanted = []
    for row, offset in due:
        due_at = row.starts_at - timedelta(minutes=offset)
        for parent in parents[row.id]:
            for channel in reminder_channels(parent):
                previous = last.get((row.id, parent.id, channel))
                if previous is not None and previous >= due_at:
                    continue  # reminded since this reminder fell due (the offsets changed): once per window is enough
                wanted.append({"session_id": row.id, "parent_id": parent.id, "kind": reminder_kind(offset, row),
                               "channel": channel, "created_at": now})
    claimed = []
    # The unique rows are the claim: a second run, or another worker, inserts nothing. One statement per batch.
    for start in range(0, len(wanted), INSERT_BATCH):
        claimed += insert_many_once(ReminderDelivery, wanted[start:start + INSERT_BATCH])
    for delivery_id in claimed:
        enqueue_after_commit(db.session, send_reminder, delivery_id)
    return claimed


def _claims(now: datetime, deadline: float | None = None) -> Iterator[list[int]]:
    """Claim due reminders a chunk of sessions at a time, yielding each chunk's new delivery ids (flushed, sends
    enqueued after commit); stops before a new chunk once `deadline` (time.monotonic) has passed."""
    for due in _due_sessions(now):
        if deadline is not None and time.monotonic() > deadline:
            logger.warning("reminder tick stopped after %s s; the next tick goes on", RUN_SECONDS)
            return
        yield _claim_chunk(due, now)


def claim_due_reminders(now: datetime | None = None) -> list[ReminderDelivery]:
    """Claim every due, unclaimed reminder and enqueue its send after commit; flushes."""
    claimed = [delivery_id for chunk in _claims(now or utcnow()) for delivery_id in chunk]
    if not claimed:
        return []
    return list(db.session.scalars(select(ReminderDelivery).where(ReminderDelivery.id.in_(claimed))
                                   .order_by(ReminderDelivery.id)))


def run_reminders(now: datetime | None = None) -> int:
    """Claim due reminders a chunk at a time, committing each chunk (its sends start then), for at most
    RUN_SECONDS; returns how many were claimed."""
    claimed = 0
    for chunk in _claims(now or utcnow(), time.monotonic() + RUN_SECONDS):
        db.session.commit()
        claimed += len(chunk)
    db.session.commit()
    return claimed


@task(name="sessions.queue_due_reminders")
def queue_due_reminders() -> int:
    """Claim due reminders and enqueue one send task per parent and channel; commits per chunk; returns how many."""
    return run_reminders()


@periodic_task(crontab(minute=f"*/{CHECK_EVERY_MINUTES}"), name="sessions.reminders_tick")
def reminders_tick() -> None:
    """Every few minutes: claim due reminders and enqueue their sends; commits per chunk."""
    run_reminders()


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
