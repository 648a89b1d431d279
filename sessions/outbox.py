"""The calendar outbox: schedule changes become queued invite deliveries (enqueued after commit).

sessions.scheduling announces each scheduled, moved or cancelled date with a signal; the receivers here queue the
REQUEST or CANCEL of a single session at once. What a change of a series sends is decided once per transaction, at
commit (`_flush_series_changes`): a one-date move is the override alone (what Outlook applies,
nextcloud/calendar#4727), a one-date cancel is a CANCEL with its RECURRENCE-ID, no date left is a CANCEL of the UID,
anything else is master + all overrides.
"""

from __future__ import annotations

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from core.extensions import db
from core.queue import enqueue_after_commit
from courses.models import Parent
from sessions.calendar import CANCEL_ALL, CANCEL_ONE, CANCEL_SCOPES, FULL, OVERRIDE, is_cancelled
from sessions.calendar_models import InviteDelivery
from sessions.invite_tasks import send_cancel, send_invite, send_series_invite
from sessions.models import SessionStatus, WorkshopSeries, WorkshopSession
from sessions.scheduling import session_cancelled, session_rescheduled, session_scheduled
from sessions.services import invitees

_SERIES_CHANGES = "ouderkamer.series_changes"


def _mail_invitees(workshop_session: WorkshopSession) -> list[Parent]:
    return [p for p in invitees(workshop_session) if "email" in p.channels]


def _invited_before(*where) -> list[Parent]:
    """Everyone a REQUEST was recorded for under these conditions, with an e-mail address."""
    query = select(Parent).join(InviteDelivery, InviteDelivery.parent_id == Parent.id).where(
        InviteDelivery.method == "REQUEST", *where).distinct()
    return [p for p in db.session.scalars(query) if p.email]


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
    parents = _mail_invitees(workshop_session)
    for parent in parents:
        enqueue_after_commit(db.session, send_invite, workshop_session.id, parent.id, workshop_session.sequence)
    return len(parents)


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
    parents = {p.id: p for p in _mail_invitees(workshop_session)}
    parents.update({p.id: p for p in _invited_before(InviteDelivery.session_id == workshop_session.id)})
    for parent_id in sorted(parents):
        enqueue_after_commit(db.session, send_cancel, workshop_session.id, parent_id, workshop_session.sequence)
    return len(parents)


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
    parents = {p.id: p for s in held for p in _mail_invitees(s)}
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
    for parent in parents:
        enqueue_after_commit(db.session, send_series_invite, series.id, parent.id, series.sequence, scope, session_id)
    return len(parents)


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
