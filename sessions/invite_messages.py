"""What an invite, a change and a cancellation say on each channel, in the parent's language: the e-mail around
the .ics, the SMS and the WhatsApp template's variables. Every message says start and end; a change says the
earlier and the new time, a series invite every date, a cancellation the trainer's reason (what to send, never
when: that is sessions.outbox)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from core import mail, sms
from core.db import utcnow
from core.text import in_page_language, isolate
from courses.models import Parent
from sessions import calendar
from sessions.models import SessionStatus, WorkshopSeries, WorkshopSession

EMAIL, NONE = "email", "none"
#: The message kinds, also the WhatsApp template kinds (WHATSAPP_TEMPLATES; variables in `whatsapp_variables`).
INVITE, CHANGE, CANCEL = "invite", "change", "cancel"
#: An SMS aims at this many parts: the title is shortened, then left out, to get there (every date stays).
SMS_SEGMENTS = 4
#: Earlier times of changed dates: {session id: (start, end)}, UTC.
Previous = dict[int, tuple[datetime, datetime]]


# --- dates and times, through Babel in the session's zone ----------------------------------------------------------


def span(starts_at: datetime, ends_at: datetime, tzid: str, language: str, *, short: bool = False) -> str:
    """Start and end as the parent reads them, in the one format of `language` (calendar.local_datetime):
    "maandag 7 december 2026 19:00–20:00" (short, for SMS: "ma 7 dec 19:00-20:00"), the end's date too when it
    falls on another day."""
    zone = ZoneInfo(tzid)
    start = calendar.local_datetime(starts_at, tzid, language, short=short)
    same_day = starts_at.astimezone(zone).date() == ends_at.astimezone(zone).date()
    end = calendar.local_time(ends_at, tzid, language) if same_day else \
        calendar.local_datetime(ends_at, tzid, language, short=True)
    return f"{start}-{end}" if short else f"{start}–{end}"


def session_span(workshop_session: WorkshopSession, language: str, *, short: bool = False) -> str:
    """A session's start and end in its own zone, in `language`."""
    return span(workshop_session.starts_at, workshop_session.ends_at, workshop_session.timezone, language,
                short=short)


def dumps_previous(previous: Previous) -> str | None:
    """Earlier times as the JSON a task argument and a delivery row carry (None when there are none)."""
    return json.dumps({str(k): [a.isoformat(), b.isoformat()] for k, (a, b) in sorted(previous.items())}) \
        if previous else None


def loads_previous(text: str | None) -> Previous:
    """The earlier times from dumps_previous()."""
    return {int(k): (datetime.fromisoformat(a), datetime.fromisoformat(b))
            for k, (a, b) in json.loads(text or "{}").items()}


# --- what a message is about ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class About:
    """One message, before it takes the shape of a channel."""

    kind: str  # INVITE, CHANGE or CANCEL
    #: The date the message is about (a series message about all its dates: the next one).
    session: WorkshopSession
    link: str | None
    #: Every date of a series message (empty for a single session or one date of a series).
    dates: list[WorkshopSession] = field(default_factory=list)
    previous: Previous = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        """The trainer's reason of a cancellation, on one line."""
        reasons = [s.cancellation_reason for s in (self.dates or [self.session]) if s.cancellation_reason]
        return " ".join(reasons[-1].split()) if self.kind == CANCEL and reasons else None


def about_session(workshop_session: WorkshopSession, parent: Parent, method: str,
                  previous: Previous | None = None) -> About:
    """An invite, change or cancellation of a single session; flushes (the parent's calendar token)."""
    kind = CANCEL if method == "CANCEL" else CHANGE if workshop_session.sequence > 0 else INVITE
    return About(kind, workshop_session, calendar.join_url(parent, workshop_session), previous=previous or {})


def about_series(series: WorkshopSeries, parent: Parent, scope: str, workshop_session: WorkshopSession | None,
                 previous: Previous | None = None) -> About:
    """A series message (calendar.series_specs' scopes) for one parent; flushes (the parent's calendar token)."""
    previous = previous or {}
    if workshop_session is not None:  # one date: OVERRIDE or CANCEL_ONE
        kind = CANCEL if scope == calendar.CANCEL_ONE else CHANGE
        return About(kind, workshop_session, calendar.join_url(parent, workshop_session), previous=previous)
    dates = sorted(series.sessions, key=lambda s: (s.starts_at, s.id))  # as they come, moves included
    if scope == calendar.CANCEL_ALL:
        now = utcnow()
        dates = [s for s in dates if s.ends_at > now] or dates
        return About(CANCEL, dates[0], None, dates=dates)
    kind = CHANGE if series.sequence > 0 else INVITE
    return About(kind, calendar.current_date(series), calendar.series_join_url(parent, series), dates=dates,
                 previous=previous)


# --- e-mail ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateLine:
    when: str
    previous: str | None
    cancelled: bool


def _earlier(about: About, workshop_session: WorkshopSession, language: str, *, short: bool = False) -> str | None:
    times = about.previous.get(workshop_session.id)
    if times is None or times == (workshop_session.starts_at, workshop_session.ends_at):
        return None
    return span(*times, workshop_session.timezone, language, short=short)


def _lines(about: About, language: str) -> list[DateLine]:
    return [DateLine(session_span(s, language), _earlier(about, s, language),
                     s.status is SessionStatus.cancelled and about.kind != CANCEL) for s in about.dates]


def _subject(about: About, when: str) -> str:
    title = isolate(in_page_language(about.session, "title"))  # in the parent's language (force_locale) where given
    if about.kind == CANCEL:
        return _("Afgelast: %(title)s op %(when)s", title=title, when=when)
    if about.kind == CHANGE:
        return _("Gewijzigd: %(title)s op %(when)s", title=title, when=when)
    return _("Uitnodiging: %(title)s op %(when)s", title=title, when=when)


def mail_message(about: About, parent: Parent, ics: bytes, method: str):
    """The RFC 6047 e-mail (text, HTML and the .ics) for one parent, in their language."""
    language = parent.language
    with force_locale(language):
        subject = _subject(about, calendar.local_when(about.session, language))
        context = {"parent": parent, "session": about.session, "kind": about.kind, "link": about.link,
                   "when": session_span(about.session, language), "previous": _earlier(about, about.session, language),
                   "dates": _lines(about, language), "reason": about.reason, "subject": subject,
                   "cancelled": about.kind == CANCEL}
        text = render_template("emails/invite.txt", **context)
        html = render_template("emails/invite.html", **context)
    return mail.build_message(sender=mail.default_sender(parent.organisation.sender_name), to=[parent.email],
                              subject=subject, text=text, html=html, calendar=ics, calendar_method=method,
                              language=language)


# --- SMS and WhatsApp --------------------------------------------------------------------------------------------


def _short_dates(about: About, language: str) -> str:
    """Every date of a series on one line ("ma 7 dec, ma 14 dec 19:00-20:00" when the times agree)."""
    held = [s for s in about.dates if s.status is not SessionStatus.cancelled or about.kind == CANCEL]
    times = {(s.local_start.time(), s.duration_minutes) for s in held}
    if len(times) == 1:
        days = ", ".join(calendar.local_date(s.starts_at, s.timezone, language, short=True) for s in held)
        first = held[0]
        hours = f"{calendar.local_time(first.starts_at, first.timezone, language)}-" \
                f"{calendar.local_time(first.ends_at, first.timezone, language)}"
        return f"{days} {hours}"
    return ", ".join(session_span(s, language, short=True) for s in held)


def _short_when(about: About, language: str) -> str:
    return _short_dates(about, language) if about.dates else session_span(about.session, language, short=True)


def _short_earlier(about: About, language: str) -> str | None:
    if about.dates:
        moved = [s for s in about.dates if _earlier(about, s, language)]
        return ", ".join(_earlier(about, s, language, short=True) for s in moved) or None
    return _earlier(about, about.session, language, short=True)


def sms_text(about: About, parent: Parent) -> str:
    """The SMS in the parent's language: title, every date with its end, the earlier time of a change, the reason
    of a cancellation and the personal link; the title is shortened or left out to stay within SMS_SEGMENTS parts
    where it can (no side effects)."""
    language = parent.language
    values = {"when": _short_when(about, language), "previous": _short_earlier(about, language),
              "reason": about.reason, "link": about.link}
    with force_locale(language):
        texts = [_one_line(render_template(f"sms/{about.kind}.txt", title=title, **values))
                 for title in sms_titles(about.session)]
    return next((text for text in texts if sms.sms_segments(text) <= SMS_SEGMENTS), texts[-1])


def sms_titles(workshop_session: WorkshopSession) -> tuple[str, str, str]:
    """The title in the current language, shortened, and left out: what an SMS tries in turn (isolated there)."""
    title = in_page_language(workshop_session, "title")
    return title, title[:20], ""


def _one_line(text: str) -> str:
    return re.sub(r"[ \t]*\n[ \t\n]*", "\n", text).strip()


def whatsapp_variables(about: About, parent: Parent) -> dict[str, str]:
    """The template's variables (docs/deployment.md): invite 1 name, 2 title, 3 date(s) and times, 4 link;
    change 1 name, 2 title, 3 earlier time ("-" when unknown), 4 new date(s) and times, 5 link; cancel 1 name,
    2 title, 3 date(s) and times, 4 reason ("-" when none). WhatsApp refuses empty variables."""
    language = parent.language
    when = _short_when(about, language)
    with force_locale(language):
        head = {"1": parent.name, "2": isolate(in_page_language(about.session, "title"))}
    if about.kind == CHANGE:
        return {**head, "3": _short_earlier(about, language) or "-", "4": when, "5": about.link or "-"}
    if about.kind == CANCEL:
        with force_locale(language):
            return {**head, "3": when, "4": isolate(about.reason) if about.reason else "-"}
    return {**head, "3": when, "4": about.link or "-"}


def sender(channel: str, about: About, parent: Parent, ics: Callable[[], bytes], method: str) -> Callable[[], None]:
    """The send of one message on one channel, built now (no network until it is called; MailError/SmsError then).
    WhatsApp without an approved template for the kind and language goes as an SMS unless the parent has SMS too."""
    if channel == EMAIL:
        message = mail_message(about, parent, ics(), method)
        return lambda: mail.send_message(message)
    text, variables = sms_text(about, parent), whatsapp_variables(about, parent)
    return lambda: sms.send_to_phone(channel, parent.phone, text=text, kind=about.kind, language=parent.language,
                                     variables=variables, sms_instead="sms" not in parent.channels)
