"""Messages that failed for good, as the trainer sees them on a session's page, and sending one again.

A failed row is set back to `pending` by one conditional UPDATE (only from `failed`), and the send task sends only
pending rows; so a double click, or two trainers at once, still send one message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_after_commit
from courses.models import Parent
from sessions import invites
from sessions.calendar_models import DeliveryStatus, FailureReason, InviteDelivery, ReminderDelivery
from sessions.invite_tasks import send_cancel, send_invite, send_series_invite
from sessions.models import SessionStatus, WorkshopSession
from sessions.reminders import offset_of, send_reminder

INVITE, REMINDER = "invite", "reminder"
#: A pending delivery untouched this long has lost its task (a worker died mid-send): Huey's retries, which survive
#: a worker's death in the queue's schedule, all end within 15 minutes of the first try.
STALE_AFTER = timedelta(minutes=30)
#: Failures that are not the trainer's concern: the message was no longer needed.
_NOT_SHOWN = {FailureReason.cancelled}


@dataclass(frozen=True)
class FailedDelivery:
    """One message that did not reach a parent: what, to whom, on which channel, why, and whether it can go again."""

    kind: str  # INVITE or REMINDER
    id: int
    parent: Parent
    channel: str  # email, sms or whatsapp
    #: REQUEST/CANCEL for invites; the offset in minutes for reminders ("1440").
    detail: str
    reason: FailureReason
    error: str
    attempts: int
    at: datetime
    can_resend: bool


def _is_ahead(session: WorkshopSession) -> bool:
    return session.status is not SessionStatus.cancelled and session.starts_at > utcnow()


def _reminder_resendable(delivery: ReminderDelivery) -> bool:
    return (delivery.failure is not FailureReason.too_late and _is_ahead(delivery.session)
            and delivery.channel in delivery.parent.channels)


def _invite_plan(delivery: InviteDelivery) -> tuple | None:
    """The send task and arguments that send this invite's message again at the current state, or None when it is
    out of date (a newer message carries the current state) or no longer makes sense."""
    session, parent = delivery.session, delivery.parent
    if not parent.email:
        return None
    series = session.series
    if series is None:
        if delivery.sequence != session.sequence:
            return None
        if delivery.method == "CANCEL":
            return (send_cancel, session.id, parent.id, delivery.sequence)
        return (send_invite, session.id, parent.id, delivery.sequence) if _is_ahead(session) else None
    if delivery.sequence != series.sequence:
        return None
    first = invites.series_dates(series)[0].id == session.id
    if delivery.method == "CANCEL":
        scope = invites.CANCEL_ALL if first and invites.is_cancelled(series) else invites.CANCEL_ONE
        return (send_series_invite, series.id, parent.id, delivery.sequence, scope, session.id)
    if invites.is_cancelled(series):
        return None
    # The first date's REQUEST row is the full message (master + overrides); another date's is its override.
    if first:
        return (send_series_invite, series.id, parent.id, delivery.sequence, invites.FULL, None)
    if not _is_ahead(session):
        return None
    return (send_series_invite, series.id, parent.id, delivery.sequence, invites.OVERRIDE, session.id)


def _failed(model, session_ids: list[int]) -> list:
    query = select(model).where(model.session_id.in_(session_ids), model.status == DeliveryStatus.failed)
    rows = db.session.scalars(query.order_by(model.created_at, model.id))
    return [r for r in rows if (r.failure or FailureReason.other) not in _NOT_SHOWN and r.error != "session cancelled"]


def failed_deliveries(session: WorkshopSession) -> list[FailedDelivery]:
    """The session's invites (of its series, at the current SEQUENCE) and reminders that failed for good."""
    found = []
    series_dates = [s.id for s in session.series.sessions] if session.series else [session.id]
    current = session.series.sequence if session.series else session.sequence
    for row in _failed(InviteDelivery, series_dates):
        if row.sequence == current:
            found.append(FailedDelivery(INVITE, row.id, row.parent, "email", row.method,
                                        row.failure or FailureReason.other, row.error or "", row.attempts,
                                        row.created_at, _invite_plan(row) is not None))
    for row in _failed(ReminderDelivery, [session.id]):
        found.append(FailedDelivery(REMINDER, row.id, row.parent, row.channel, str(offset_of(row.kind)),
                                    row.failure or FailureReason.other, row.error or "", row.attempts,
                                    row.created_at, _reminder_resendable(row)))
    return found


def resend_delivery(session: WorkshopSession, kind: str, delivery_id: int) -> bool:
    """Set one failed delivery of this session back to pending and enqueue its send after commit; False when it
    cannot go again (sent meanwhile, out of date, or not this session's); flushes."""
    model = InviteDelivery if kind == INVITE else ReminderDelivery
    delivery = db.session.get(model, delivery_id)
    if delivery is None or delivery.status is not DeliveryStatus.failed:
        return False
    allowed = [s.id for s in session.series.sessions] if session.series and kind == INVITE else [session.id]
    if delivery.session_id not in allowed:
        return False
    if kind == INVITE:
        plan = _invite_plan(delivery)
    else:
        plan = (send_reminder, delivery.id) if _reminder_resendable(delivery) else None
    if plan is None:
        return False
    reset = db.session.execute(update(model).where(model.id == delivery.id, model.status == DeliveryStatus.failed)
                               .values(status=DeliveryStatus.pending, attempts=0, error=None, failure=None,
                                       touched_at=utcnow()))  # queued now: not stale for the reaper
    if reset.rowcount != 1:
        return False  # another click got there first
    task_fn, *args = plan
    enqueue_after_commit(db.session, task_fn, *args)
    return True


def requeue_stale_deliveries(now: datetime | None = None) -> int:
    """Enqueue again, after commit, each pending invite or reminder whose send task was lost; a superseded one is
    closed instead; flushes; returns how many were queued."""
    cutoff = (now or utcnow()) - STALE_AFTER
    queued = 0
    for model in (InviteDelivery, ReminderDelivery):
        last_touch = func.coalesce(model.touched_at, model.created_at)
        stale = select(model).where(model.status == DeliveryStatus.pending, last_touch < cutoff)
        for row in db.session.scalars(stale.order_by(model.id)).all():
            plan = _invite_plan(row) if model is InviteDelivery else (send_reminder, row.id)
            if plan is None:  # a newer message carries the current state, or it no longer makes sense
                row.status, row.failure, row.error = DeliveryStatus.failed, FailureReason.cancelled, "superseded"
                continue
            # Conditional, so two reapers at once queue it once.
            touched = db.session.execute(
                update(model).where(model.id == row.id, model.status == DeliveryStatus.pending, last_touch < cutoff)
                .values(touched_at=utcnow()).execution_options(synchronize_session=False))
            if touched.rowcount == 1:
                task_fn, *args = plan
                enqueue_after_commit(db.session, task_fn, *args)
                queued += 1
    db.session.flush()
    return queued
