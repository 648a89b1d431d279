"""The calendar outbox: schedule changes become queued invite deliveries (enqueued after commit), one per parent
and channel (e-mail, SMS, WhatsApp; a parent with none gets one recorded as "can't be reached").

sessions.scheduling announces each scheduled, moved or cancelled date with a signal; the receivers here queue the
REQUEST or CANCEL of a single session at once. What a change of a series sends is decided once per transaction, at
commit (`_flush_series_changes`): a one-date move is the override alone (what Outlook applies,
nextcloud/calendar#4727), a one-date cancel is a CANCEL with its RECURRENCE-ID, no date left is a CANCEL of the UID,
anything else is master + all overrides. A move's earlier times are noted at flush (`_note_earlier_times`), so the
change message can say them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from core.extensions import db
from core.queue import enqueue_after_commit
from courses.models import Parent
from sessions.calendar import CANCEL_ALL, CANCEL_ONE, CANCEL_SCOPES, FULL, OVERRIDE, is_cancelled
from sessions.calendar_models import InviteDelivery
from sessions.invite_messages import NONE, Previous, dumps_previous
from sessions.invite_tasks import channels_of, send_cancel, send_invite, send_series_invite
from sessions.models import SessionStatus, WorkshopSeries, WorkshopSession
from sessions.scheduling import session_cancelled, session_rescheduled, session_scheduled
from sessions.services import invitees

_SERIES_CHANGES = "ouderkamer.series_changes"
_EARLIER = "ouderkamer.earlier_times"


def _invited_before(*where) -> list[Parent]:
    """Everyone a REQUEST was recorded for on a channel under these conditions, who has a channel now."""
    query = select(Parent).join(InviteDelivery, InviteDelivery.parent_id == Parent.id).where(
        InviteDelivery.method == "REQUEST", InviteDelivery.channel != NONE, *where).distinct()
    return [p for p in db.session.scalars(query) if p.channels]


def _enqueue(parents: list[Parent], task_fn, *args, changed_from: str | None = None) -> int:
    """Enqueue (after commit) the task once per parent and channel, as task_fn(args[0], the parent's id, *args[1:],
    channel=…, changed_from=…); returns how many parents."""
    head, *rest = args
    for parent in parents:
        for channel in channels_of(parent):
            enqueue_after_commit(db.session, task_fn, head, parent.id, *rest, channel=channel,
                                 changed_from=changed_from)
    return len(parents)


# --- the earlier times of a move --------------------------------------------------------------------------------


@event.listens_for(Session, "before_flush")
def _note_earlier_times(db_session: Session, _context, _instances) -> None:
    # Here, because a move writes the row before its signal: the first earlier time in a transaction counts.
    for obj in db_session.dirty:
        if isinstance(obj, WorkshopSession):
            earlier = _earlier_times(obj)
            if earlier is not None:
                db_session.info.setdefault(_EARLIER, {}).setdefault(obj.id, earlier)


def _earlier_times(workshop_session: WorkshopSession) -> tuple[datetime, datetime] | None:
    attrs = inspect(workshop_session).attrs
    start, minutes = attrs.starts_at.history, attrs.duration_minutes.history
    if not (start.deleted or minutes.deleted):
        return None
    old_start = (start.deleted or start.unchanged or [None])[0]
    old_minutes = (minutes.deleted or minutes.unchanged or [None])[0]
    if old_start is None or old_minutes is None:
        return None  # not loaded before the change: unknown
    return old_start, old_start + timedelta(minutes=old_minutes)


def earlier_times(sessions: list[WorkshopSession]) -> Previous:
    """The times these sessions had before this transaction moved them (those still at another time now)."""
    noted = db.session.info.get(_EARLIER, {})
    return {s.id: noted[s.id] for s in sessions if s.id in noted and noted[s.id] != (s.starts_at, s.ends_at)}


@event.listens_for(Session, "after_commit")
def _drop_earlier_times(db_session: Session) -> None:
    if not db_session.in_nested_transaction():
        db_session.info.pop(_EARLIER, None)


# --- single sessions -----------------------------------------------------------------------------------------


def notify_scheduled(scheduled: WorkshopSession | WorkshopSeries) -> int:
    """Enqueue (after commit) one REQUEST per invited parent: per single session, or once per series at commit."""
    if isinstance(scheduled, WorkshopSeries):
        for date in scheduled.sessions:
            note_series_change(date, "scheduled")
        return 0
    workshop_session = scheduled
    if workshop_session.series is not None:
        note_series_change(workshop_session, "scheduled")
        return 0
    changed_from = dumps_previous(earlier_times([workshop_session]))
    return _enqueue(invitees(workshop_session), send_invite, workshop_session.id, workshop_session.sequence,
                    changed_from=changed_from)


def notify_changed(workshop_session: WorkshopSession) -> int:
    """Enqueue (after commit) the updated REQUEST per invited parent; the caller has raised SEQUENCE already."""
    if workshop_session.series is not None:
        note_series_change(workshop_session, "rescheduled")
        return 0
    return notify_scheduled(workshop_session)


def notify_cancelled(workshop_session: WorkshopSession) -> int:
    """Enqueue (after commit) a CANCEL per invited parent (and anyone invited before); caller raised SEQUENCE."""
    if workshop_session.series is not None:
        note_series_change(workshop_session, "cancelled")
        return 0
    parents = {p.id: p for p in invitees(workshop_session)}
    parents.update({p.id: p for p in _invited_before(InviteDelivery.session_id == workshop_session.id)})
    return _enqueue([parents[key] for key in sorted(parents)], send_cancel, workshop_session.id,
                    workshop_session.sequence)


# --- series changes, decided once per transaction -------------------------------------------------------------


def note_series_change(workshop_session: WorkshopSession, kind: str) -> None:
    """Remember that a date of a series was scheduled, rescheduled or cancelled; the messages follow at commit."""
    changes = db.session.info.setdefault(_SERIES_CHANGES, {})
    changes.setdefault(workshop_session.series.id, {})[workshop_session.id] = kind


def series_scope(series: WorkshopSeries, changes: dict[int, str]) -> tuple[str, int | None, bool]:
    """What one transaction's changes to a series send: (scope, the one date's id or None, raise SEQUENCE?)."""
    if is_cancelled(series):
        return CANCEL_ALL, None, True
    dates = {s.id for s in series.sessions}
    if set(changes.values()) == {"scheduled"} and set(changes) == dates:
        return FULL, None, False  # the first invite of a new series
    if len(changes) == 1:
        (session_id, kind), = changes.items()
        if kind in ("rescheduled", "cancelled"):
            return (OVERRIDE if kind == "rescheduled" else CANCEL_ONE), session_id, True
    return FULL, None, True


def _series_recipients(series: WorkshopSeries, scope: str) -> list[Parent]:
    held = [s for s in series.sessions if s.status is not SessionStatus.cancelled] or list(series.sessions)
    parents = {p.id: p for s in held for p in invitees(s)}
    if scope in CANCEL_SCOPES:
        in_series = select(WorkshopSession.id).where(WorkshopSession.series_id == series.id)
        parents.update({p.id: p for p in _invited_before(InviteDelivery.session_id.in_(in_series))})
    return [parents[key] for key in sorted(parents)]


def notify_series(series: WorkshopSeries, changes: dict[int, str]) -> int:
    """Raise the series SEQUENCE if needed and enqueue (after commit) one message per parent; returns how many."""
    scope, session_id, bump = series_scope(series, changes)
    if bump:
        series.sequence += 1
    parents = _series_recipients(series, scope)
    moved = [s for s in series.sessions if changes.get(s.id) == "rescheduled"]
    changed_from = dumps_previous(earlier_times(moved)) if scope not in CANCEL_SCOPES else None
    return _enqueue(parents, send_series_invite, series.id, series.sequence, scope, session_id,
                    changed_from=changed_from)


@event.listens_for(Session, "before_commit")
def _flush_series_changes(db_session: Session) -> None:
    # Here, after every signal of the transaction: cancel_series fires one per date, and that is one message.
    changes = db_session.info.pop(_SERIES_CHANGES, None) or {}
    for series_id, dates in sorted(changes.items()):
        series = db_session.get(WorkshopSeries, series_id)
        if series is not None and series.sessions:
            notify_series(series, dates)


@event.listens_for(Session, "after_soft_rollback")
def _drop_series_changes(db_session: Session, previous_transaction) -> None:
    db_session.info.pop(_SERIES_CHANGES, None)
    db_session.info.pop(_EARLIER, None)


# --- the scheduling signals ----------------------------------------------------------------------------------

_RECEIVERS = ((session_scheduled, notify_scheduled), (session_rescheduled, notify_changed),
              (session_cancelled, notify_cancelled))


def connect_scheduling_signals() -> None:
    """Send invites, updates and cancellations whenever sessions.scheduling schedules, moves or cancels a date."""
    for signal, receiver in _RECEIVERS:
        signal.connect(receiver, weak=False)


def disconnect_scheduling_signals() -> None:
    """Stop reacting to the scheduling signals (tests that count other mail)."""
    for signal, receiver in _RECEIVERS:
        signal.disconnect(receiver)


def scheduling_signals_connected() -> bool:
    """True when connect_scheduling_signals() is in effect."""
    return all(receiver in signal.receivers.values() for signal, receiver in _RECEIVERS)
