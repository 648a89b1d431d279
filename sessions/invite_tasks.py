"""Invite and cancellation deliveries, sent by the worker with retries; each is recorded once (reminders use the
same `attempt` in sessions.reminders)."""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from core import mail, sms
from core.db import utcnow
from core.extensions import db
from core.queue import task
from courses.models import Parent
from sessions import invites
from sessions.calendar_models import DeliveryStatus, FailureReason, InviteDelivery, ReminderDelivery, insert_once
from sessions.models import SessionStatus, WorkshopSeries, WorkshopSession
from sessions.services import session_cancelled, session_rescheduled, session_scheduled

logger = logging.getLogger("ouderkamer.sessions")

#: Sends tried before a delivery is marked failed (Huey retries = MAX_ATTEMPTS - 1).
MAX_ATTEMPTS = 5
#: Seconds before the first retry; each next wait doubles (1, 2, 4, 8 minutes: 15 minutes in all).
RETRY_DELAY = 60
RETRY_BACKOFF = 2
RETRIES = {"retries": MAX_ATTEMPTS - 1, "retry_delay": RETRY_DELAY, "retry_backoff": RETRY_BACKOFF}
#: SMTP replies that point at our own settings (authentication required or refused).
_SMTP_SETUP_CODES = frozenset({530, 534, 535, 538})
_SMS_REASONS = {sms.REFUSED: FailureReason.refused, sms.SETUP: FailureReason.setup,
                sms.UNCERTAIN: FailureReason.uncertain}


def _invite_delivery(session_id: int, parent_id: int, sequence: int, method: str) -> InviteDelivery:
    keys = {"session_id": session_id, "parent_id": parent_id, "sequence": sequence, "method": method}
    delivery = db.session.scalars(select(InviteDelivery).filter_by(**keys)).first()
    if delivery is not None:
        return delivery
    insert_once(InviteDelivery, **keys)  # None when another worker recorded it first
    return db.session.scalars(select(InviteDelivery).filter_by(**keys)).one()


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


def attempt(delivery: InviteDelivery | ReminderDelivery, send) -> None:
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


def _take_up(delivery: InviteDelivery | ReminderDelivery) -> bool:
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


def fail(delivery: InviteDelivery | ReminderDelivery, reason: FailureReason, error: str) -> None:
    """Record that a delivery will not go out, and why; commits."""
    delivery.status, delivery.failure, delivery.error = DeliveryStatus.failed, reason, error[:2000]
    db.session.commit()


def _send_itip(session_id: int, parent_id: int, sequence: int, method: str) -> None:
    session = db.session.get(WorkshopSession, session_id)
    parent = db.session.get(Parent, parent_id)
    if session is None or parent is None or not parent.email:
        return
    if method == "REQUEST" and (session.sequence != sequence or session.status is SessionStatus.cancelled):
        return  # superseded: a newer REQUEST or a CANCEL carries the current state
    delivery = _invite_delivery(session_id, parent_id, sequence, method)
    if delivery.status is not DeliveryStatus.pending:
        return
    message = invites.invite_message(session, parent, method)
    attempt(delivery, lambda: mail.send_message(message))


@task(name="sessions.send_invite", **RETRIES)
def send_invite(session_id: int, parent_id: int, sequence: int) -> None:
    """Mail one parent the REQUEST for a session at a SEQUENCE, once (network: SMTP or the log)."""
    _send_itip(session_id, parent_id, sequence, "REQUEST")


@task(name="sessions.send_cancel", **RETRIES)
def send_cancel(session_id: int, parent_id: int, sequence: int) -> None:
    """Mail one parent the CANCEL for a session, once (network: SMTP or the log)."""
    _send_itip(session_id, parent_id, sequence, "CANCEL")


def _series_delivery_key(series: WorkshopSeries, session: WorkshopSession | None, sequence: int,
                         scope: str) -> tuple[int, int, str]:
    """(session_id, sequence, method) of a series message's delivery row.

    A series message is recorded on its one date, or on the series' first date for master messages; every
    transaction that changes a series raises its SEQUENCE, so these keys never collide between messages.
    """
    anchor = session if session is not None else invites.series_dates(series)[0]
    return anchor.id, sequence, "CANCEL" if scope in invites.CANCEL_SCOPES else "REQUEST"


@task(name="sessions.send_series_invite", **RETRIES)
def send_series_invite(series_id: int, parent_id: int, sequence: int, scope: str,
                       session_id: int | None = None) -> None:
    """Mail one parent a series REQUEST or CANCEL (master + overrides, one override, ...) once (network)."""
    series = db.session.get(WorkshopSeries, series_id)
    parent = db.session.get(Parent, parent_id)
    session = db.session.get(WorkshopSession, session_id) if session_id is not None else None
    if series is None or parent is None or not parent.email or not series.sessions:
        return
    if scope not in invites.CANCEL_SCOPES and invites.is_cancelled(series):
        return  # the CANCEL of the whole series carries the current state
    if scope == invites.OVERRIDE and (session is None or session.status is SessionStatus.cancelled):
        return  # the CANCEL of that date carries it
    if scope == invites.FULL:
        sequence = series.sequence  # a late full REQUEST carries (and is recorded at) the current state
    anchor_id, sequence, method = _series_delivery_key(series, session, sequence, scope)
    delivery = _invite_delivery(anchor_id, parent_id, sequence, method)
    if delivery.status is not DeliveryStatus.pending:
        return
    message = invites.series_message(series, parent, scope, session)
    attempt(delivery, lambda: mail.send_message(message))


# --- scheduling signals -----------------------------------------------------------------------------------


def _on_scheduled(session: WorkshopSession, **_extra) -> None:
    invites.notify_scheduled(session)


def _on_rescheduled(session: WorkshopSession, **_extra) -> None:
    invites.notify_changed(session)


def _on_cancelled(session: WorkshopSession, **_extra) -> None:
    invites.notify_cancelled(session)


_RECEIVERS = ((session_scheduled, _on_scheduled), (session_rescheduled, _on_rescheduled),
              (session_cancelled, _on_cancelled))


def connect_scheduling_signals() -> None:
    """Send invites, updates and cancellations whenever sessions.services schedules, moves or cancels a date."""
    for signal, receiver in _RECEIVERS:
        signal.connect(receiver, weak=False)


def disconnect_scheduling_signals() -> None:
    """Stop reacting to the scheduling signals (tests that count other mail)."""
    for signal, receiver in _RECEIVERS:
        signal.disconnect(receiver)


def scheduling_signals_connected() -> bool:
    """True when connect_scheduling_signals() is in effect."""
    return all(receiver in signal.receivers.values() for signal, receiver in _RECEIVERS)
