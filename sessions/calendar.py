"""Workshop sessions as calendar events: UIDs, EventSpecs, .ics bytes and a parent's calendar links (the iTIP
e-mails around them are sessions.invite_messages; when they go is sessions.outbox).

A single session is one VEVENT with its own UID. A weekly series is ONE event (ical.md §5), so a parent gets
one invite: a master with RRULE COUNT from the original starts, EXDATE for cancelled dates and one
RECURRENCE-ID override per moved date, all carrying `WorkshopSeries.sequence`. A series message carries one of
four scopes: master + all overrides (FULL), one override (OVERRIDE), a CANCEL of one date (CANCEL_ONE) or of the
whole UID (CANCEL_ALL).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_skeleton, format_time, get_datetime_format
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from core import ical
from core.db import utcnow
from core.urls import external_url
from courses.links import parent_feed_token
from courses.models import Parent
from sessions.models import SessionStatus, WorkshopSeries, WorkshopSession

#: Minutes before the start that the calendar alarm goes off.
ALARM_MINUTES = 15
#: What a series message carries: master + all overrides, one override, or a CANCEL of one date / the UID.
FULL, OVERRIDE, CANCEL_ONE, CANCEL_ALL = "full", "override", "cancel_one", "cancel_all"
CANCEL_SCOPES = (CANCEL_ONE, CANCEL_ALL)


# --- a parent's calendar links ---------------------------------------------------------------------------------


def join_url(parent: Parent | None, workshop_session: WorkshopSession, *, token: str | None = None) -> str | None:
    """The parent's personal calendar join link for a session (absolute), or None without a parent; flushes.

    :param token: the parent's calendar token when the caller already has it (saves a look-up per session).
    """
    if parent is None or parent.id is None:
        return None
    token = token or parent_feed_token(parent)  # None while the parent's access is revoked
    return external_url("feeds.join", token=token, session_id=workshop_session.id) if token else None


def series_join_url(parent: Parent | None, series: WorkshopSeries) -> str | None:
    """The parent's join link of a whole series (leads to its current date), or None without a parent; flushes."""
    token = parent_feed_token(parent) if parent is not None and parent.id is not None else None
    return external_url("feeds.join_series", token=token, series_id=series.id) if token else None


# --- single sessions ---------------------------------------------------------------------------------------------


def organizer() -> ical.Person:
    """The organiser mailbox, which is also the sender of every invite."""
    return ical.Person(current_app.config["MAIL_FROM"], current_app.config.get("MAIL_FROM_NAME") or "")


def _uid(kind: str, id: int) -> str:
    return ical.make_uid(kind, id, urlsplit(current_app.config["PUBLIC_BASE_URL"]).hostname)


def session_uid(workshop_session: WorkshopSession) -> str:
    """The permanent UID of a session's VEVENT, shared by invites, feeds and downloads."""
    return _uid("session", workshop_session.id)


def _attendee_of(parent: Parent | None) -> ical.Person | None:
    return ical.Person(parent.email, parent.name) if parent is not None and parent.email else None


def _status(cancelled: bool) -> str:
    return "CANCELLED" if cancelled else "CONFIRMED"


def event_spec(workshop_session: WorkshopSession, *, parent: Parent | None = None, stamp: datetime | None = None,
               link: str | None = None) -> ical.EventSpec:
    """Plain calendar values for one session; `parent` becomes the only ATTENDEE; DTSTAMP defaults to updated_at."""
    return ical.EventSpec(
        uid=session_uid(workshop_session), sequence=workshop_session.sequence, summary=workshop_session.title,
        starts_at=workshop_session.starts_at, ends_at=workshop_session.ends_at,
        stamp=stamp or workshop_session.updated_at, organizer=organizer(), tzid=workshop_session.timezone,
        description=workshop_session.description or "", join_url=link, attendee=_attendee_of(parent),
        alarm_minutes=ALARM_MINUTES, status=_status(workshop_session.status is SessionStatus.cancelled),
    )


def _itip_bytes(specs: list[ical.EventSpec], cancel: bool) -> bytes:
    return ical.to_bytes(ical.build_cancel(specs) if cancel else ical.build_invite(specs, "REQUEST"))


def in_language(specs: list[ical.EventSpec], sessions: list[WorkshopSession], language: str) -> list[ical.EventSpec]:
    """The events with the titles and descriptions the trainer wrote in `language` (else the Dutch ones) and the
    join link labelled in it (feeds, downloads and invites alike)."""
    singles = {session_uid(s): s for s in sessions if s.series_id is None}
    # A series' master and overrides are found by their Dutch texts (they share the series' UID).
    titles = {s.title: s.text_in(language, "title") for s in sessions}
    descriptions = {s.description: s.text_in(language, "description") for s in sessions if s.description}
    with force_locale(language):
        label = _("Meedoen met de bijeenkomst")

    def localised(spec: ical.EventSpec) -> ical.EventSpec:
        single = singles.get(spec.uid)
        summary = single.text_in(language, "title") if single else titles.get(spec.summary, spec.summary)
        description = (single.text_in(language, "description") if single
                       else descriptions.get(spec.description, spec.description))
        return dataclasses.replace(spec, summary=summary, description=description or "",
                                   join_label=label if spec.join_url else None)

    return [localised(spec) for spec in specs]


def _for_parent(specs: list[ical.EventSpec], sessions: list[WorkshopSession], parent: Parent | None):
    return in_language(specs, sessions, parent.language) if parent is not None and parent.language else specs


def invite_ics(workshop_session: WorkshopSession, parent: Parent, method: str = "REQUEST") -> bytes:
    """The iTIP REQUEST or CANCEL for one parent (only that parent as ATTENDEE, DTSTAMP = now), in their language;
    flushes."""
    link = join_url(parent, workshop_session)
    specs = [event_spec(workshop_session, parent=parent, stamp=utcnow(), link=link)]
    return _itip_bytes(_for_parent(specs, [workshop_session], parent), method == "CANCEL")


def download_ics(workshop_session: WorkshopSession, parent: Parent | None = None) -> bytes:
    """A PUBLISH .ics for "add to calendar" (no ATTENDEE): the session, or its whole series, in the parent's
    language; flushes."""
    if workshop_session.series is not None:
        specs = series_specs(workshop_session.series, parent=parent)
        sessions = list(workshop_session.series.sessions)
    else:
        specs, sessions = [event_spec(workshop_session, link=join_url(parent, workshop_session))], [workshop_session]
    return ical.to_bytes(ical.build_invite(_for_parent(specs, sessions, parent), "PUBLISH"))


# --- a weekly series as one event --------------------------------------------------------------------------------


def series_uid(series: WorkshopSeries) -> str:
    """The permanent UID of a series event (master and overrides), shared by invites, feeds and downloads."""
    return _uid("series", series.id)


def original_start(workshop_session: WorkshopSession) -> datetime:
    """The start the date had when its series was scheduled: its RECURRENCE-ID."""
    return workshop_session.original_starts_at or workshop_session.starts_at


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


def _is_moved(workshop_session: WorkshopSession, master: WorkshopSession) -> bool:
    return workshop_session.status is not SessionStatus.cancelled and (
        workshop_session.starts_at != original_start(workshop_session)
        or workshop_session.duration_minutes != master.duration_minutes or workshop_session.title != master.title)


def _series_stamp(series: WorkshopSeries) -> datetime:
    return max([series.updated_at, *(s.updated_at for s in series.sessions)])


def _series_spec(series: WorkshopSeries, parent: Parent | None, stamp: datetime | None, **values) -> ical.EventSpec:
    return ical.EventSpec(uid=series_uid(series), sequence=series.sequence, stamp=stamp or _series_stamp(series),
                          organizer=organizer(), tzid=series.timezone, attendee=_attendee_of(parent),
                          alarm_minutes=ALARM_MINUTES, **values)


def master_spec(series: WorkshopSeries, *, parent: Parent | None = None,
                stamp: datetime | None = None) -> ical.EventSpec:
    """The series master: weekly RRULE COUNT from the first original start, EXDATE per cancelled date; flushes."""
    dates = series_dates(series)
    first = dates[0]
    start = original_start(first)
    exdates = tuple(original_start(s) for s in dates if s.status is SessionStatus.cancelled)
    return _series_spec(series, parent, stamp, summary=first.title, starts_at=start,
                        ends_at=start + timedelta(minutes=first.duration_minutes), description=first.description or "",
                        join_url=series_join_url(parent, series), weekly_count=len(dates), exdates=exdates,
                        status=_status(is_cancelled(series)))


def override_spec(workshop_session: WorkshopSession, *, parent: Parent | None = None,
                  stamp: datetime | None = None) -> ical.EventSpec:
    """One date of a series as an override: RECURRENCE-ID = its original start, its own times; flushes."""
    return _series_spec(workshop_session.series, parent, stamp, summary=workshop_session.title,
                        starts_at=workshop_session.starts_at, ends_at=workshop_session.ends_at,
                        description=workshop_session.description or "", join_url=join_url(parent, workshop_session),
                        recurrence_id=original_start(workshop_session),
                        status=_status(workshop_session.status is SessionStatus.cancelled))


def series_specs(series: WorkshopSeries, *, parent: Parent | None = None, stamp: datetime | None = None,
                 scope: str = FULL, workshop_session: WorkshopSession | None = None) -> list[ical.EventSpec]:
    """The VEVENTs of a series message: master + every moved date, one override, or the master alone; flushes."""
    if scope in (OVERRIDE, CANCEL_ONE):
        return [override_spec(workshop_session, parent=parent, stamp=stamp)]
    master = master_spec(series, parent=parent, stamp=stamp)
    if scope == CANCEL_ALL:
        return [master]
    first = series_dates(series)[0]
    moved = [s for s in series_dates(series) if _is_moved(s, first)]
    return [master, *(override_spec(s, parent=parent, stamp=stamp) for s in moved)]


def series_ics(series: WorkshopSeries, parent: Parent, scope: str = FULL,
               workshop_session: WorkshopSession | None = None) -> bytes:
    """The iTIP REQUEST or CANCEL of a series for one parent (only that parent as ATTENDEE, DTSTAMP = now)."""
    specs = series_specs(series, parent=parent, stamp=utcnow(), scope=scope, workshop_session=workshop_session)
    return _itip_bytes(_for_parent(specs, list(series.sessions), parent), scope in CANCEL_SCOPES)


# --- dates in the parent's language ------------------------------------------------------------------------------


# One format per locale for everything a parent reads (pages, mails, SMS, .ics descriptions): the locale's full date
# ("maandag 7 december 2026", "الاثنين، ٧ ديسمبر ٢٠٢٦" as Babel gives it), its short time, glued the locale's way;
# SMS use the locale's short weekday-day-month skeleton instead of the full date.
DATE_FORMAT, SHORT_DATE_SKELETON, TIME_FORMAT = "full", "MMMEd", "short"


def local_date(moment: datetime, tzid: str, language: str, *, short: bool = False) -> str:
    """The local date of a UTC instant in `language`: full, or (short, for SMS) weekday, day and month."""
    zone = ZoneInfo(tzid)
    if short:
        return format_skeleton(SHORT_DATE_SKELETON, moment, tzinfo=zone, locale=language)
    return format_date(moment.astimezone(zone).date(), DATE_FORMAT, locale=language)


def local_time(moment: datetime, tzid: str, language: str) -> str:
    """The local time of a UTC instant in `language` (the locale's short time: "19:00", "7:00 م")."""
    # CLDR puts a narrow no-break space before "PM": a plain one keeps an English SMS in the GSM alphabet.
    return format_time(moment, TIME_FORMAT, tzinfo=ZoneInfo(tzid), locale=language).replace("\u202f", " ")


def local_datetime(moment: datetime, tzid: str, language: str, *, short: bool = False) -> str:
    """Date and time of a UTC instant in `language`, joined as the locale joins them."""
    glue = get_datetime_format("medium", locale=language)
    return glue.replace("{1}", local_date(moment, tzid, language, short=short)).replace(
        "{0}", local_time(moment, tzid, language))


def local_when(workshop_session: WorkshopSession, language: str) -> str:
    """The session's local start as a readable date and time in `language` (local_datetime)."""
    return local_datetime(workshop_session.starts_at, workshop_session.timezone, language)
