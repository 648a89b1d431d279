"""The one delivery mechanism of invites and reminders: send once, retry what may pass, record why a message failed
for good, show those failures, send one again, and re-queue a delivery whose task died with its worker.

Each kind of delivery (sessions.invite_tasks, sessions.reminders) registers a DeliveryKind: which send task and
arguments a row needs at the current state, so this module knows no message. A failed row is set back to `pending`
by one conditional UPDATE (only from `failed`), and the send task sends only pending rows; so a double click, or
two trainers at once, still send one message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, literal, select, update
from sqlalchemy.orm import selectinload

from core import mail, sms
from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_after_commit
from courses.models import Parent
from sessions.calendar_models import DeliveryStatus, FailureReason, InviteDelivery, ReminderDelivery
from sessions.models import SessionStatus, WorkshopSeries, WorkshopSession

logger = logging.getLogger("ouderkamer.sessions")

#: Sends tried before a delivery is marked failed (Huey retries = MAX_ATTEMPTS - 1).
MAX_ATTEMPTS = 5
#: Seconds before the first retry; each next wait doubles (1, 2, 4, 8 minutes: 15 minutes in all).
RETRY_DELAY = 60
RETRY_BACKOFF = 2
RETRIES = {"retries": MAX_ATTEMPTS - 1, "retry_delay": RETRY_DELAY, "retry_backoff": RETRY_BACKOFF}
#: A pending delivery untouched this long has lost its task (a worker died mid-send): Huey's retries, which survive
#: a worker's death in the queue's schedule, all end within 15 minutes of the first try.
STALE_AFTER = timedelta(minutes=30)
#: Stale deliveries the reaper reads, updates and commits at a time, and the most batches per kind in one run.
REAP_BATCH = 200
REAP_MAX_BATCHES = 25
#: SMTP replies that point at our own settings (authentication required or refused).
_SMTP_SETUP_CODES = frozenset({530, 534, 535, 538})
_SMS_REASONS = {sms.REFUSED: FailureReason.refused, sms.SETUP: FailureReason.setup,
                sms.UNCERTAIN: FailureReason.uncertain}
#: Failures that are not the trainer's concern: the message was no longer needed.
_NOT_SHOWN = {FailureReason.cancelled}

Delivery = InviteDelivery | ReminderDelivery
#: A send task and its arguments.
Plan = tuple


# --- sending once ------------------------------------------------------------------------------------------------


def failure_reason(exc: mail.MailError | sms.SmsError) -> FailureReason:
    """What a send error that ends the delivery means for the trainer (the raw message is kept beside it)."""
    if exc.transient:
        return FailureReason.unreachable  # still failing after the last retry
    if isinstance(exc, sms.SmsError):
        return _SMS_REASONS.get(exc.reason, FailureReason.other)
    text = str(exc)
    if exc.smtp_code in _SMTP_SETUP_CODES or text.startswith("SMTP failed"):
        return FailureReason.setup
    if "recipients refused" in text or (exc.smtp_code or 0) >= 500:
        return FailureReason.refused
    return FailureReason.other


def attempt(delivery: Delivery, send: Callable[[], object]) -> None:
    """Run `send()` once for a delivery: record sent, a permanent failure, or a transient one (re-raised to retry);
    commits. Two tasks for one delivery (a re-queue by the reaper meeting a late original) send it once."""
    if not _take_up(delivery):
        return
    try:
        send()
    except (mail.MailError, sms.SmsError) as exc:
        delivery.error = str(exc)[:2000]
        last = delivery.attempts >= MAX_ATTEMPTS
        if exc.transient and not last:
            db.session.commit()
            raise
        fail(delivery, failure_reason(exc), delivery.error)
        logger.warning("delivery %r failed (%s): %s", delivery, delivery.failure.value, exc)
        return
    delivery.status, delivery.sent_at, delivery.error, delivery.failure = DeliveryStatus.sent, utcnow(), None, None
    db.session.commit()


def _take_up(delivery: Delivery) -> bool:
    """Count this attempt with one conditional UPDATE, committed before the network call; False when another task
    took the delivery up first (or it is no longer pending)."""
    model, seen = type(delivery), delivery.attempts
    taken = db.session.execute(
        update(model)
        .where(model.id == delivery.id, model.status == DeliveryStatus.pending, model.attempts == seen)
        .values(attempts=seen + 1, touched_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if taken.rowcount != 1:
        return False
    db.session.refresh(delivery)
    return True


def fail(delivery: Delivery, reason: FailureReason, error: str) -> None:
    """Record that a delivery will not go out, and why; commits."""
    delivery.status, delivery.failure, delivery.error = DeliveryStatus.failed, reason, error[:2000]
    db.session.commit()


def is_ahead(workshop_session: WorkshopSession) -> bool:
    """True while a message about the session still makes sense: not cancelled and not begun."""
    return workshop_session.status is not SessionStatus.cancelled and workshop_session.starts_at > utcnow()


# --- the kinds of delivery ---------------------------------------------------------------------------------------

INVITE, REMINDER = "invite", "reminder"


@dataclass(frozen=True)
class DeliveryKind:
    """What the mechanism needs of one kind of delivery."""

    model: type[Delivery]
    #: The send task and arguments that send a row at the current state, or None when it is no longer wanted;
    #: `resend` is True for the trainer's button, False for the reaper.
    plan: Callable[[Delivery, bool], Plan | None]
    #: The ids of the sessions whose rows one session's page lists and may send again (a series shares invites).
    session_ids: Callable[[WorkshopSession], list[int]]
    #: How the page names a failed row, (channel, detail), or None when a newer message replaced it.
    shown: Callable[[Delivery, WorkshopSession], tuple[str, str] | None]


_KINDS: dict[str, DeliveryKind] = {}


def register(name: str, kind: DeliveryKind) -> None:
    """Make a kind of delivery (INVITE or REMINDER) known to the page, the resend button and the reaper."""
    _KINDS[name] = kind


def _kinds() -> list[tuple[str, DeliveryKind]]:
    return [(name, _KINDS[name]) for name in (INVITE, REMINDER) if name in _KINDS]


# --- what the trainer sees, and sending again ----------------------------------------------------------------


@dataclass(frozen=True)
class FailedDelivery:
    """One message that did not reach a parent: what, to whom, on which channel, why, and whether it can go again."""

    kind: str  # INVITE or REMINDER
    id: int
    parent: Parent
    channel: str  # email, sms or whatsapp; "none" for an invite to a parent who can't be reached
    #: REQUEST/CANCEL for invites; the offset in minutes for reminders ("1440").
    detail: str
    reason: FailureReason
    error: str
    attempts: int
    at: datetime
    can_resend: bool


def _failed(model: type[Delivery], session_ids: list[int]) -> list[Delivery]:
    query = select(model).where(model.session_id.in_(session_ids), model.status == DeliveryStatus.failed)
    rows = db.session.scalars(query.order_by(model.created_at, model.id))
    return [r for r in rows if (r.failure or FailureReason.other) not in _NOT_SHOWN and r.error != "session cancelled"]


def failed_deliveries(workshop_session: WorkshopSession) -> list[FailedDelivery]:
    """The session's invites (of its series, at the current SEQUENCE) and reminders that failed for good."""
    found = []
    for name, kind in _kinds():
        for row in _failed(kind.model, kind.session_ids(workshop_session)):
            shown = kind.shown(row, workshop_session)
            if shown is not None:
                found.append(FailedDelivery(name, row.id, row.parent, *shown, row.failure or FailureReason.other,
                                            row.error or "", row.attempts, row.created_at,
                                            kind.plan(row, True) is not None))
    return found


def resend_delivery(workshop_session: WorkshopSession, kind_name: str, delivery_id: int) -> bool:
    """Set one failed delivery of this session back to pending and enqueue its send after commit; False when it
    cannot go again (sent meanwhile, out of date, or not this session's); flushes."""
    kind = _KINDS[kind_name]
    model = kind.model
    delivery = db.session.get(model, delivery_id)
    if delivery is None or delivery.status is not DeliveryStatus.failed:
        return False
    if delivery.session_id not in kind.session_ids(workshop_session):
        return False
    plan = kind.plan(delivery, True)
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


def _is_pending(model: type[Delivery]):
    # The status as a literal, not a parameter: a prepared (generic) plan could not use the partial index otherwise.
    return model.status == literal(DeliveryStatus.pending, model.status.type, literal_execute=True)


def _stale_batch(kind: DeliveryKind, cutoff: datetime, after: int) -> list[Delivery]:
    """The next pending rows untouched since `cutoff`, by id, through the partial index of pending rows; with the
    session, its series' dates and the parent every plan looks at (a statement each, not one per row)."""
    model = kind.model
    query = (select(model)
             .where(_is_pending(model), func.coalesce(model.touched_at, model.created_at) < cutoff, model.id > after)
             .order_by(model.id).limit(REAP_BATCH)
             .options(selectinload(model.parent),
                      selectinload(model.session).selectinload(WorkshopSession.series)
                      .selectinload(WorkshopSeries.sessions)))
    return list(db.session.scalars(query))


def _requeue(kind: DeliveryKind, rows: list[Delivery], cutoff: datetime) -> int:
    model, plans = kind.model, {}
    for row in rows:
        plan = kind.plan(row, False)
        if plan is None:  # a newer message carries the current state, or it no longer makes sense
            row.status, row.failure, row.error = DeliveryStatus.failed, FailureReason.cancelled, "superseded"
        else:
            plans[row.id] = plan
    if not plans:
        return 0
    # Conditional, so two reapers at once queue each row once.
    touched = db.session.execute(
        update(model).where(model.id.in_(plans), _is_pending(model),
                            func.coalesce(model.touched_at, model.created_at) < cutoff)
        .values(touched_at=utcnow()).returning(model.id).execution_options(synchronize_session=False))
    queued = 0
    for delivery_id in touched.scalars():
        task_fn, *args = plans[delivery_id]
        enqueue_after_commit(db.session, task_fn, *args)
        queued += 1
    return queued


def requeue_stale_deliveries(now: datetime | None = None) -> int:
    """Enqueue again each pending invite or reminder whose send task was lost, REAP_BATCH rows at a time, each batch
    committed (its sends start then); a superseded one is closed instead. At most REAP_MAX_BATCHES per kind and run:
    the next run goes on. Returns how many were queued."""
    cutoff = (now or utcnow()) - STALE_AFTER
    queued = 0
    for _name, kind in _kinds():
        after = 0
        for _batch in range(REAP_MAX_BATCHES):
            rows = _stale_batch(kind, cutoff, after)
            if rows:
                queued += _requeue(kind, rows, cutoff)
                after = rows[-1].id
            db.session.commit()
            if len(rows) < REAP_BATCH:
                break
    return queued
