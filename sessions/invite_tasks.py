"""Sending invites, changes and cancellations: one task per parent, message and channel (e-mail with the .ics, SMS,
WhatsApp), each recorded once and sent through the shared delivery mechanism (sessions.deliveries); a parent with
no channel gets a row that failed as "can't be reached"; what a failed or lost one needs to go again."""

from __future__ import annotations

from sqlalchemy import select

from core import sms
from core.extensions import db
from core.queue import enqueue_after_commit, task
from courses.models import Parent
from sessions import calendar, invite_messages
from sessions.calendar_models import DeliveryStatus, FailureReason, InviteDelivery, insert_once
from sessions.deliveries import INVITE, RETRIES, DeliveryKind, attempt, fail, is_ahead, register
from sessions.invite_messages import EMAIL, NONE
from sessions.models import SessionStatus, WorkshopSeries, WorkshopSession

NO_CHANNEL = "no e-mail address, SMS or WhatsApp: the parent can't be reached"


def channels_of(parent: Parent) -> list[str]:
    """The channels a parent's invites go on: their contact channels, or NONE (recorded as "can't be reached")."""
    return parent.channels or [NONE]


def _invite_delivery(session_id: int, parent_id: int, sequence: int, method: str, channel: str,
                     changed_from: str | None) -> InviteDelivery:
    keys = {"session_id": session_id, "parent_id": parent_id, "sequence": sequence, "method": method,
            "channel": channel}
    delivery = db.session.scalars(select(InviteDelivery).filter_by(**keys)).first()
    if delivery is not None:
        return delivery
    insert_once(InviteDelivery, changed_from=changed_from, **keys)  # None when another worker recorded it first
    return db.session.scalars(select(InviteDelivery).filter_by(**keys)).one()


def _channel_now(parent: Parent, channel: str, again, key: dict) -> str | None:
    """The channel to record this message on as the parent is now, or None (nothing to send: the parent's other
    channels carry it). A parent who got a channel since they could not be reached gets the message there (their
    "can't be reached" row is closed); commits then."""
    channels = parent.channels
    if channel == NONE and channels:
        unreached = db.session.scalars(select(InviteDelivery).filter_by(channel=NONE, **key)).first()
        if unreached is not None:
            unreached.status, unreached.failure = DeliveryStatus.failed, FailureReason.cancelled
            unreached.error = "sent on the channels the parent has since"
        for current in channels:
            again(current)
        db.session.commit()
        return None
    if channel != NONE and channel not in channels:
        return None if channels else NONE
    return channel


def _send_once(session_id: int, parent: Parent, sequence: int, method: str, channel: str, about, ics,
               changed_from: str | None = None) -> None:
    delivery = _invite_delivery(session_id, parent.id, sequence, method, channel, changed_from)
    if delivery.status is not DeliveryStatus.pending:
        return
    if channel == NONE:
        fail(delivery, FailureReason.no_channel, NO_CHANNEL)
        return
    message = about(invite_messages.loads_previous(delivery.changed_from))
    if channel == "whatsapp" and "sms" in parent.channels and not sms.whatsapp_template(message.kind,
                                                                                        parent.language):
        fail(delivery, FailureReason.cancelled, "no WhatsApp template for this message: sent by SMS")
        return
    attempt(delivery, invite_messages.sender(channel, message, parent, ics, method))


def _send_itip(session_id: int, parent_id: int, sequence: int, method: str, channel: str,
               changed_from: str | None = None) -> None:
    workshop_session = db.session.get(WorkshopSession, session_id)
    parent = db.session.get(Parent, parent_id)
    if workshop_session is None or parent is None:
        return
    if method == "REQUEST" and (workshop_session.sequence != sequence
                                or workshop_session.status is SessionStatus.cancelled):
        return  # superseded: a newer REQUEST or a CANCEL carries the current state
    task_fn = send_cancel if method == "CANCEL" else send_invite
    key = {"session_id": session_id, "parent_id": parent_id, "sequence": sequence, "method": method}
    channel = _channel_now(parent, channel, lambda c: enqueue_after_commit(
        db.session, task_fn, session_id, parent_id, sequence, channel=c, changed_from=changed_from), key)
    if channel is not None:
        _send_once(session_id, parent, sequence, method, channel,
                   lambda previous: invite_messages.about_session(workshop_session, parent, method, previous),
                   lambda: calendar.invite_ics(workshop_session, parent, method), changed_from)


@task(name="sessions.send_invite", **RETRIES)
def send_invite(session_id: int, parent_id: int, sequence: int, channel: str = EMAIL,
                changed_from: str | None = None) -> None:
    """Send one parent the REQUEST for a session at a SEQUENCE on one channel, once (network: SMTP, Twilio or the
    log); `changed_from` holds the earlier times of a change (invite_messages.dumps_previous)."""
    _send_itip(session_id, parent_id, sequence, "REQUEST", channel, changed_from)


@task(name="sessions.send_cancel", **RETRIES)
def send_cancel(session_id: int, parent_id: int, sequence: int, channel: str = EMAIL,
                changed_from: str | None = None) -> None:
    """Send one parent the CANCEL for a session on one channel, once (network: SMTP, Twilio or the log)."""
    _send_itip(session_id, parent_id, sequence, "CANCEL", channel)


def _series_delivery_key(series: WorkshopSeries, workshop_session: WorkshopSession | None, sequence: int,
                         scope: str) -> tuple[int, int, str]:
    """(session_id, sequence, method) of a series message's delivery row.

    A series message is recorded on its one date, or on the series' first date for master messages; every
    transaction that changes a series raises its SEQUENCE, so these keys never collide between messages.
    """
    anchor = workshop_session if workshop_session is not None else calendar.series_dates(series)[0]
    return anchor.id, sequence, "CANCEL" if scope in calendar.CANCEL_SCOPES else "REQUEST"


@task(name="sessions.send_series_invite", **RETRIES)
def send_series_invite(series_id: int, parent_id: int, sequence: int, scope: str, session_id: int | None = None,
                       channel: str = EMAIL, changed_from: str | None = None) -> None:
    """Send one parent a series REQUEST or CANCEL (master + overrides, one override, ...) on one channel, once
    (network)."""
    series = db.session.get(WorkshopSeries, series_id)
    parent = db.session.get(Parent, parent_id)
    workshop_session = db.session.get(WorkshopSession, session_id) if session_id is not None else None
    if series is None or parent is None or not series.sessions:
        return
    if scope not in calendar.CANCEL_SCOPES and calendar.is_cancelled(series):
        return  # the CANCEL of the whole series carries the current state
    if scope == calendar.OVERRIDE and (workshop_session is None
                                       or workshop_session.status is SessionStatus.cancelled):
        return  # the CANCEL of that date carries it
    if scope == calendar.FULL:
        sequence = series.sequence  # a late full REQUEST carries (and is recorded at) the current state
    anchor_id, sequence, method = _series_delivery_key(series, workshop_session, sequence, scope)
    key = {"session_id": anchor_id, "parent_id": parent_id, "sequence": sequence, "method": method}
    channel = _channel_now(parent, channel, lambda c: enqueue_after_commit(
        db.session, send_series_invite, series_id, parent_id, sequence, scope, session_id, channel=c,
        changed_from=changed_from), key)
    if channel is not None:
        _send_once(anchor_id, parent, sequence, method, channel,
                   lambda previous: invite_messages.about_series(series, parent, scope, workshop_session, previous),
                   lambda: calendar.series_ics(series, parent, scope, workshop_session), changed_from)


# --- sending again -----------------------------------------------------------------------------------------------


def _plan(delivery: InviteDelivery, _resend: bool) -> tuple | None:
    """The send task and arguments that send this invite's message again at the current state, or None when it is
    out of date (a newer message carries the current state) or no longer makes sense (the reaper asks the same)."""
    workshop_session, parent, channel = delivery.session, delivery.parent, delivery.channel
    if not parent.channels if channel == NONE else channel not in parent.channels:
        return None  # still no channel (once there is one, NONE sends there), or no longer this one
    options = (channel, delivery.changed_from)
    series = workshop_session.series
    if series is None:
        if delivery.sequence != workshop_session.sequence:
            return None
        if delivery.method == "CANCEL":
            return (send_cancel, workshop_session.id, parent.id, delivery.sequence, *options)
        if not is_ahead(workshop_session):
            return None
        return (send_invite, workshop_session.id, parent.id, delivery.sequence, *options)
    if delivery.sequence != series.sequence:
        return None
    first = calendar.series_dates(series)[0].id == workshop_session.id
    if delivery.method == "CANCEL":
        scope = calendar.CANCEL_ALL if first and calendar.is_cancelled(series) else calendar.CANCEL_ONE
        return (send_series_invite, series.id, parent.id, delivery.sequence, scope, workshop_session.id, *options)
    if calendar.is_cancelled(series):
        return None
    # The first date's REQUEST row is the full message (master + overrides); another date's is its override.
    if first:
        return (send_series_invite, series.id, parent.id, delivery.sequence, calendar.FULL, None, *options)
    if not is_ahead(workshop_session):
        return None
    return (send_series_invite, series.id, parent.id, delivery.sequence, calendar.OVERRIDE, workshop_session.id,
            *options)


def _session_ids(workshop_session: WorkshopSession) -> list[int]:
    series = workshop_session.series
    return [s.id for s in series.sessions] if series is not None else [workshop_session.id]


def _shown(delivery: InviteDelivery, workshop_session: WorkshopSession) -> tuple[str, str] | None:
    series = workshop_session.series
    current = series.sequence if series is not None else workshop_session.sequence
    return (delivery.channel, delivery.method) if delivery.sequence == current else None


register(INVITE, DeliveryKind(InviteDelivery, _plan, _session_ids, _shown))
