"""Sessions as calendar events: the EventSpec mapping, per-parent tokens and messages, and notify_* hooks.

A single session is one VEVENT with its own UID. A weekly series is ONE event (ical.md §5), so a parent gets
one invite: a master with RRULE COUNT from the original starts, EXDATE for cancelled dates and one
RECURRENCE-ID override per moved date, all carrying `WorkshopSeries.sequence`. What a change of a series sends
is decided once per transaction, at commit (`_flush_series_changes`): a one-date move is the override alone
(what Outlook applies, nextcloud/calendar#4727), a one-date cancel is a CANCEL with its RECURRENCE-ID, no date
left is a CANCEL of the UID, anything else is master + all overrides.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from core import ical, mail
from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_after_commit
from core.urls import external_url
from courses.links import course_feed_token, find_feed, parent_feed_token, reset_feed_token  # noqa: F401
from courses.models import Parent
from sessions.calendar_models import InviteDelivery
from sessions.models import SessionStatus, WorkshopSeries, WorkshopSession
from sessions.services import invitees_of

#: Minutes before the start that the calendar alarm goes off.
ALARM_MINUTES = 15


# --- who is invited -------------------------------------------------------------------------------------------


def invitees(session: WorkshopSession) -> list[Parent]:
    """The parents a session's messages go to (the whole course or the chosen ones), without those whose access
    is revoked (every link in a message would be dead): the one switch for invites and reminders."""
    return [p for p in invitees_of(session) if p.access_revoked_at is None]


def _mail_invitees(session: WorkshopSession) -> list[Parent]:
    return [p for p in invitees(session) if "email" in p.channels]


# --- calendar tokens (they live with the personal link in courses.links) -------------------------------------

def feed_urls(token: str) -> dict[str, str]:
    """The subscription links for a token: `https` (Google "From URL") and `webcal` (Apple, Outlook)."""
    https = external_url("feeds.feed", token=token)
    return {"https": https, "webcal": "webcal://" + https.split("://", 1)[1]}


def join_url(parent: Parent | None, session: WorkshopSession, *, token: str | None = None) -> str | None:
    """The parent's personal calendar join link for a session (absolute), or None without a parent; flushes.

    :param token: the parent's calendar token when the caller already has it (saves a look-up per session).
    """
    if parent is None or parent.id is None:
        return None
    token = token or parent_feed_token(parent)  # None while the parent's access is revoked
    return external_url("feeds.join", token=token, session_id=session.id) if token else None


# --- sessions as events --------------------------------------------------------------------------------------


def organizer() -> ical.Person:
    """The organiser mailbox, which is also the sender of every invite."""
    return ical.Person(current_app.config["MAIL_FROM"], current_app.config.get("MAIL_FROM_NAME") or "")


def session_uid(session: WorkshopSession) -> str:
    """The permanent UID of a session's VEVENT, shared by invites, feeds and downloads."""
    return ical.make_uid("session", session.id, urlsplit(current_app.config["PUBLIC_BASE_URL"]).hostname)


def event_spec(session: WorkshopSession, *, parent: Parent | None = None, stamp: datetime | None = None,
               link: str | None = None) -> ical.EventSpec:
    """Plain calendar values for one session; `parent` becomes the only ATTENDEE; DTSTAMP defaults to updated_at."""
    attendee = ical.Person(parent.email, parent.name) if parent is not None and parent.email else None
    return ical.EventSpec(
        uid=session_uid(session), sequence=session.sequence, summary=session.title,
        starts_at=session.starts_at, ends_at=session.ends_at, stamp=stamp or session.updated_at,
        organizer=organizer(), tzid=session.timezone, description=session.description or "",
        join_url=link, attendee=attendee, alarm_minutes=ALARM_MINUTES,
        status="CANCELLED" if session.status is SessionStatus.cancelled else "CONFIRMED",
    )


def invite_ics(session: WorkshopSession, parent: Parent, method: str = "REQUEST") -> bytes:
    """The iTIP REQUEST or CANCEL for one parent (only that parent as ATTENDEE, DTSTAMP = now); flushes."""
    spec = event_spec(session, parent=parent, stamp=utcnow(), link=join_url(parent, session))
    cal = ical.build_cancel([spec]) if method == "CANCEL" else ical.build_invite([spec], "REQUEST")
    return ical.to_bytes(cal)


def download_ics(session: WorkshopSession, parent: Parent | None = None) -> bytes:
    """A PUBLISH .ics for "add to calendar" (no ATTENDEE): the session, or its whole series; flushes."""
    if session.series is not None:
        specs = series_specs(session.series, parent=parent)
    else:
        specs = [event_spec(session, link=join_url(parent, session))]
    return ical.to_bytes(ical.build_invite(specs, "PUBLISH"))


# --- a weekly series as one event -------------------------------------------------------------------------

#: What a series message carries: master + all overrides, one override, or a CANCEL of one date / the UID.
FULL, OVERRIDE, CANCEL_ONE, CANCEL_ALL = "full", "override", "cancel_one", "cancel_all"
CANCEL_SCOPES = (CANCEL_ONE, CANCEL_ALL)


def series_uid(series: WorkshopSeries) -> str:
    """The permanent UID of a series event (master and overrides), shared by invites, feeds and downloads."""
    return ical.make_uid("series", series.id, urlsplit(current_app.config["PUBLIC_BASE_URL"]).hostname)


def original_start(session: WorkshopSession) -> datetime:
    """The start the date had when its series was scheduled: its RECURRENCE-ID."""
    return session.original_starts_at or session.starts_at


def series_dates(series: WorkshopSeries) -> list[WorkshopSession]:
    """The dates of a series in their original order (moves do not reorder them)."""
    return sorted(series.sessions, key=lambda s: (original_start(s), s.id))


def is_cancelled(series: WorkshopSeries) -> bool:
    """True when no date of the series is left (every one cancelled)."""
    return all(s.status is SessionStatus.cancelled for s in series.sessions)


def current_date(series: WorkshopSeries) -> WorkshopSession:
    """The date a series link leads to: the next one not cancelled and not ended, else the last one held."""
    held = [s for s in series_dates(series) if s.status is not SessionStatus.cancelled] or series_dates(series)
    now = utcnow()
    return next((s for s in sorted(held, key=lambda s: s.starts_at) if s.ends_at > now), held[-1])


def series_join_url(parent: Parent | None, series: WorkshopSeries) -> str | None:
    """The parent's join link of a whole series (leads to its current date), or None without a parent; flushes."""
    token = parent_feed_token(parent) if parent is not None and parent.id is not None else None
    return external_url("feeds.join_series", token=token, series_id=series.id) if token else None


def _is_moved(session: WorkshopSession, master: WorkshopSession) -> bool:
    return session.status is not SessionStatus.cancelled and (
        session.starts_at != original_start(session) or session.duration_minutes != master.duration_minutes
        or session.title != master.title)


def _series_stamp(series: WorkshopSeries) -> datetime:
    return max([series.updated_at, *(s.updated_at for s in series.sessions)])


def _series_spec(series: WorkshopSeries, attendee: ical.Person | None, stamp: datetime | None,
                 **values) -> ical.EventSpec:
    return ical.EventSpec(uid=series_uid(series), sequence=series.sequence, stamp=stamp or _series_stamp(series),
                          organizer=organizer(), tzid=series.timezone, attendee=attendee,
                          alarm_minutes=ALARM_MINUTES, **values)


def master_spec(series: WorkshopSeries, *, parent: Parent | None = None,
                stamp: datetime | None = None) -> ical.EventSpec:
    """The series master: weekly RRULE COUNT from the first original start, EXDATE per cancelled date; flushes."""
    dates = series_dates(series)
    first = dates[0]
    start = original_start(first)
    exdates = tuple(original_start(s) for s in dates if s.status is SessionStatus.cancelled)
    return _series_spec(series, _attendee_of(parent), stamp, summary=first.title, starts_at=start,
                        ends_at=start + timedelta(minutes=first.duration_minutes), description=first.description or "",
                        join_url=series_join_url(parent, series), weekly_count=len(dates), exdates=exdates,
                        status="CANCELLED" if is_cancelled(series) else "CONFIRMED")


def override_spec(session: WorkshopSession, *, parent: Parent | None = None,
                  stamp: datetime | None = None) -> ical.EventSpec:
    """One date of a series as an override: RECURRENCE-ID = its original start, its own times; flushes."""
    return _series_spec(session.series, _attendee_of(parent), stamp, summary=session.title,
                        starts_at=session.starts_at, ends_at=session.ends_at, description=session.description or "",
                        join_url=join_url(parent, session), recurrence_id=original_start(session),
                        status="CANCELLED" if session.status is SessionStatus.cancelled else "CONFIRMED")


def series_specs(series: WorkshopSeries, *, parent: Parent | None = None, stamp: datetime | None = None,
                 scope: str = FULL, session: WorkshopSession | None = None) -> list[ical.EventSpec]:
    """The VEVENTs of a series message: master + every moved date, one override, or the master alone; flushes."""
    if scope in (OVERRIDE, CANCEL_ONE):
        return [override_spec(session, parent=parent, stamp=stamp)]
    master = master_spec(series, parent=parent, stamp=stamp)
    if scope == CANCEL_ALL:
        return [master]
    first = series_dates(series)[0]
    moved = [s for s in series_dates(series) if _is_moved(s, first)]
    return [master, *(override_spec(s, parent=parent, stamp=stamp) for s in moved)]


def series_ics(series: WorkshopSeries, parent: Parent, scope: str = FULL,
               session: WorkshopSession | None = None) -> bytes:
    """The iTIP REQUEST or CANCEL of a series for one parent (only that parent as ATTENDEE, DTSTAMP = now)."""
    specs = series_specs(series, parent=parent, stamp=utcnow(), scope=scope, session=session)
    cal = ical.build_cancel(specs) if scope in CANCEL_SCOPES else ical.build_invite(specs, "REQUEST")
    return ical.to_bytes(cal)


def _attendee_of(parent: Parent | None) -> ical.Person | None:
    return ical.Person(parent.email, parent.name) if parent is not None and parent.email else None


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def google_calendar_url(spec: ical.EventSpec) -> str:
    """A Google Calendar "create event" link for the event."""
    details = "\n\n".join(p for p in (spec.join_url, spec.description) if p)
    query = {"action": "TEMPLATE", "text": spec.summary, "dates": f"{_utc_text(spec.starts_at)}/{_utc_text(spec.ends_at)}",
             "details": details, "location": spec.join_url or "", "ctz": spec.tzid}
    return "https://calendar.google.com/calendar/render?" + urlencode(query)


def outlook_calendar_url(spec: ical.EventSpec) -> str:
    """An Outlook on the web "compose event" link for the event."""
    body = "\n\n".join(p for p in (spec.join_url, spec.description) if p)
    query = {"path": "/calendar/action/compose", "rru": "addevent", "subject": spec.summary,
             "startdt": spec.starts_at.astimezone(UTC).isoformat(), "enddt": spec.ends_at.astimezone(UTC).isoformat(),
             "body": body, "location": spec.join_url or ""}
    return "https://outlook.live.com/calendar/0/deeplink/compose?" + urlencode(query)


# --- messages in the parent's language ------------------------------------------------------------------------


def local_when(session: WorkshopSession, language: str) -> str:
    """The session's local start as a readable date and time in `language`."""
    zone = ZoneInfo(session.timezone)
    return format_datetime(session.starts_at, "EEEE d MMMM y, HH:mm", tzinfo=zone, locale=language)


def invite_message(session: WorkshopSession, parent: Parent, method: str = "REQUEST"):
    """The RFC 6047 invite (or cancellation) e-mail for one parent, in the parent's language; flushes."""
    calendar = invite_ics(session, parent, method)
    return _itip_message(session, parent, method, calendar, join_url(parent, session), session.sequence > 0)


def series_message(series: WorkshopSeries, parent: Parent, scope: str = FULL,
                   session: WorkshopSession | None = None):
    """The RFC 6047 e-mail of a series message (see series_specs) for one parent, in their language; flushes."""
    calendar = series_ics(series, parent, scope, session)
    method = "CANCEL" if scope in CANCEL_SCOPES else "REQUEST"
    link = join_url(parent, session) if session is not None else series_join_url(parent, series)
    shown = session if session is not None else current_date(series)
    return _itip_message(shown, parent, method, calendar, link, series.sequence > 0)


def _itip_message(session: WorkshopSession, parent: Parent, method: str, calendar: bytes, link: str | None,
                  changed: bool):
    when = local_when(session, parent.language)
    cancelled = method == "CANCEL"
    with force_locale(parent.language):
        if cancelled:
            subject = _("Afgelast: %(title)s op %(when)s", title=session.title, when=when)
        elif changed:
            subject = _("Gewijzigd: %(title)s op %(when)s", title=session.title, when=when)
        else:
            subject = _("Uitnodiging: %(title)s op %(when)s", title=session.title, when=when)
        context = {"parent": parent, "session": session, "when": when, "link": link, "cancelled": cancelled,
                   "subject": subject}
        text = render_template("emails/invite.txt", **context)
        html = render_template("emails/invite.html", **context)
    return mail.build_message(sender=mail.default_sender(parent.organisation.sender_name), to=[parent.email], subject=subject, text=text,
                              html=html, calendar=calendar, calendar_method=method, language=parent.language)


# --- hooks for scheduling code ----------------------------------------------------------------------------


def notify_scheduled(session_or_series: WorkshopSession | WorkshopSeries) -> int:
    """Enqueue (after commit) one REQUEST per invited parent: per single session, or once per series at commit."""
    # Function-level import: the tasks module imports this one for the message builders.
    from sessions.invite_tasks import send_invite

    if isinstance(session_or_series, WorkshopSeries):
        for session in session_or_series.sessions:
            note_series_change(session, "scheduled")
        return 0
    session = session_or_series
    if session.series is not None:
        note_series_change(session, "scheduled")
        return 0
    parents = _mail_invitees(session)
    for parent in parents:
        enqueue_after_commit(db.session, send_invite, session.id, parent.id, session.sequence)
    return len(parents)


def notify_changed(session: WorkshopSession) -> int:
    """Enqueue (after commit) the updated REQUEST per invited parent; the caller has raised SEQUENCE already."""
    if session.series is not None:
        note_series_change(session, "rescheduled")
        return 0
    return notify_scheduled(session)


def _previously_invited(session: WorkshopSession) -> list[Parent]:
    query = select(Parent).join(InviteDelivery, InviteDelivery.parent_id == Parent.id).where(
        InviteDelivery.session_id == session.id, InviteDelivery.method == "REQUEST").distinct()
    return list(db.session.scalars(query))


def notify_cancelled(session: WorkshopSession) -> int:
    """Enqueue (after commit) a CANCEL per invited parent (and anyone invited before); caller raised SEQUENCE."""
    from sessions.invite_tasks import send_cancel  # see notify_scheduled

    if session.series is not None:
        note_series_change(session, "cancelled")
        return 0
    parents = {p.id: p for p in _mail_invitees(session)}
    parents.update({p.id: p for p in _previously_invited(session) if p.email})
    for parent_id in sorted(parents):
        enqueue_after_commit(db.session, send_cancel, session.id, parent_id, session.sequence)
    return len(parents)


# --- series changes, decided once per transaction ---------------------------------------------------------

_SERIES_CHANGES = "ouderkamer.series_changes"


def note_series_change(session: WorkshopSession, kind: str) -> None:
    """Remember that a date of a series was scheduled, rescheduled or cancelled; the messages follow at commit."""
    db.session.info.setdefault(_SERIES_CHANGES, {}).setdefault(session.series.id, {})[session.id] = kind


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
        query = (select(Parent).join(InviteDelivery, InviteDelivery.parent_id == Parent.id)
                 .join(WorkshopSession, WorkshopSession.id == InviteDelivery.session_id)
                 .where(WorkshopSession.series_id == series.id, InviteDelivery.method == "REQUEST").distinct())
        parents.update({p.id: p for p in db.session.scalars(query) if p.email})
    return [parents[key] for key in sorted(parents)]


def notify_series(series: WorkshopSeries, changes: dict[int, str]) -> int:
    """Raise the series SEQUENCE if needed and enqueue (after commit) one message per parent; returns how many."""
    from sessions.invite_tasks import send_series_invite  # see notify_scheduled

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
