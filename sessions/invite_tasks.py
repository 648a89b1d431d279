"""Sending invites and cancellations: one task per parent and message, each recorded once and sent through the
shared delivery mechanism (sessions.deliveries); what a failed or lost one needs to go again."""

from __future__ import annotations

from sqlalchemy import select

from core import mail
from core.extensions import db
from core.queue import task
from courses.models import Parent
from sessions import calendar
from sessions.calendar_models import DeliveryStatus, InviteDelivery, insert_once
from sessions.deliveries import INVITE, RETRIES, DeliveryKind, attempt, is_ahead, register
from sessions.models import SessionStatus, WorkshopSeries, WorkshopSession


def _invite_delivery(session_id: int, parent_id: int, sequence: int, method: str) -> InviteDelivery:
    keys = {"session_id": session_id, "parent_id": parent_id, "sequence": sequence, "method": method}
    delivery = db.session.scalars(select(InviteDelivery).filter_by(**keys)).first()
    if delivery is not None:
        return delivery
    insert_once(InviteDelivery, **keys)  # None when another worker recorded it first
    return db.session.scalars(select(InviteDelivery).filter_by(**keys)).one()


def _send_once(session_id: int, parent_id: int, sequence: int, method: str, build) -> None:
    delivery = _invite_delivery(session_id, parent_id, sequence, method)
    if delivery.status is not DeliveryStatus.pending:
        return
    message = build()
    attempt(delivery, lambda: mail.send_message(message))


def _send_itip(session_id: int, parent_id: int, sequence: int, method: str) -> None:
    workshop_session = db.session.get(WorkshopSession, session_id)
    parent = db.session.get(Parent, parent_id)
    if workshop_session is None or parent is None or not parent.email:
        return
    if method == "REQUEST" and (workshop_session.sequence != sequence
                                or workshop_session.status is SessionStatus.cancelled):
        return  # superseded: a newer REQUEST or a CANCEL carries the current state
    _send_once(session_id, parent_id, sequence, method,
               lambda: calendar.invite_message(workshop_session, parent, method))


@task(name="sessions.send_invite", **RETRIES)
def send_invite(session_id: int, parent_id: int, sequence: int) -> None:
    """Mail one parent the REQUEST for a session at a SEQUENCE, once (network: SMTP or the log)."""
    _send_itip(session_id, parent_id, sequence, "REQUEST")


@task(name="sessions.send_cancel", **RETRIES)
def send_cancel(session_id: int, parent_id: int, sequence: int) -> None:
    """Mail one parent the CANCEL for a session, once (network: SMTP or the log)."""
    _send_itip(session_id, parent_id, sequence, "CANCEL")


def _series_delivery_key(series: WorkshopSeries, workshop_session: WorkshopSession | None, sequence: int,
                         scope: str) -> tuple[int, int, str]:
    """(session_id, sequence, method) of a series message's delivery row.

    A series message is recorded on its one date, or on the series' first date for master messages; every
    transaction that changes a series raises its SEQUENCE, so these keys never collide between messages.
    """
    anchor = workshop_session if workshop_session is not None else calendar.series_dates(series)[0]
    return anchor.id, sequence, "CANCEL" if scope in calendar.CANCEL_SCOPES else "REQUEST"


@task(name="sessions.send_series_invite", **RETRIES)
def send_series_invite(series_id: int, parent_id: int, sequence: int, scope: str,
                       session_id: int | None = None) -> None:
    """Mail one parent a series REQUEST or CANCEL (master + overrides, one override, ...) once (network)."""
    series = db.session.get(WorkshopSeries, series_id)
    parent = db.session.get(Parent, parent_id)
    workshop_session = db.session.get(WorkshopSession, session_id) if session_id is not None else None
    if series is None or parent is None or not parent.email or not series.sessions:
        return
    if scope not in calendar.CANCEL_SCOPES and calendar.is_cancelled(series):
        return  # the CANCEL of the whole series carries the current state
    if scope == calendar.OVERRIDE and (workshop_session is None
                                       or workshop_session.status is SessionStatus.cancelled):
        return  # the CANCEL of that date carries it
    if scope == calendar.FULL:
        sequence = series.sequence  # a late full REQUEST carries (and is recorded at) the current state
    anchor_id, sequence, method = _series_delivery_key(series, workshop_session, sequence, scope)
    _send_once(anchor_id, parent_id, sequence, method,
               lambda: calendar.series_message(series, parent, scope, workshop_session))


# --- sending again -----------------------------------------------------------------------------------------------


def _plan(delivery: InviteDelivery, _resend: bool) -> tuple | None:
    """The send task and arguments that send this invite's message again at the current state, or None when it is
    out of date (a newer message carries the current state) or no longer makes sense (the reaper asks the same)."""
    workshop_session, parent = delivery.session, delivery.parent
    if not parent.email:
        return None
    series = workshop_session.series
    if series is None:
        if delivery.sequence != workshop_session.sequence:
            return None
        if delivery.method == "CANCEL":
            return (send_cancel, workshop_session.id, parent.id, delivery.sequence)
        return (send_invite, workshop_session.id, parent.id, delivery.sequence) if is_ahead(workshop_session) else None
    if delivery.sequence != series.sequence:
        return None
    first = calendar.series_dates(series)[0].id == workshop_session.id
    if delivery.method == "CANCEL":
        scope = calendar.CANCEL_ALL if first and calendar.is_cancelled(series) else calendar.CANCEL_ONE
        return (send_series_invite, series.id, parent.id, delivery.sequence, scope, workshop_session.id)
    if calendar.is_cancelled(series):
        return None
    # The first date's REQUEST row is the full message (master + overrides); another date's is its override.
    if first:
        return (send_series_invite, series.id, parent.id, delivery.sequence, calendar.FULL, None)
    if not is_ahead(workshop_session):
        return None
    return (send_series_invite, series.id, parent.id, delivery.sequence, calendar.OVERRIDE, workshop_session.id)


def _session_ids(workshop_session: WorkshopSession) -> list[int]:
    series = workshop_session.series
    return [s.id for s in series.sessions] if series is not None else [workshop_session.id]


def _shown(delivery: InviteDelivery, workshop_session: WorkshopSession) -> tuple[str, str] | None:
    series = workshop_session.series
    current = series.sequence if series is not None else workshop_session.sequence
    return ("email", delivery.method) if delivery.sequence == current else None


register(INVITE, DeliveryKind(InviteDelivery, _plan, _session_ids, _shown))
