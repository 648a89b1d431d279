"""Sessions as calendar events: the EventSpec mapping, per-parent tokens and messages, and notify_* hooks.

One VEVENT per WorkshopSession, each with its own UID (ical.md §5): a weekly series becomes one invite per
date, so moving or cancelling one date is an ordinary update of that event and no client has to apply
RECURRENCE-ID overrides (which Outlook applies only in some shapes, nextcloud/calendar#4727).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from core import ical, mail, sms
from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_after_commit
from core.tokens import hash_token, same_hash
from core.urls import external_url
from courses.models import Course, Parent
from sessions.calendar_models import CalendarFeed, InviteDelivery
from sessions.models import SessionStatus, WorkshopSeries, WorkshopSession
from sessions.services import invitees_of

#: Minutes before the start that the calendar alarm goes off.
ALARM_MINUTES = 15
#: An SMS may cost at most this many parts.
MAX_SMS_SEGMENTS = 2
_NO_MATCH = "0" * 64


# --- who is invited -------------------------------------------------------------------------------------------


def invitees(session: WorkshopSession) -> list[Parent]:
    """The parents invited to a session (the whole course or the chosen ones): the one switch for invites."""
    return invitees_of(session)


def _mail_invitees(session: WorkshopSession) -> list[Parent]:
    return [p for p in invitees(session) if "email" in p.channels]


# --- calendar tokens --------------------------------------------------------------------------------------------


def _derive(nonce: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    mac = hmac.new(key, f"ouderkamer-calendar:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _issue(feed: CalendarFeed) -> str:
    feed.nonce = secrets.token_urlsafe(32)
    token = _derive(feed.nonce)
    feed.token_hash = hash_token(token)
    feed.issued_at = utcnow()
    return token


def _feed_of(**owner) -> tuple[CalendarFeed, str]:
    feed = db.session.scalars(select(CalendarFeed).filter_by(**owner)).first()
    if feed is None:
        feed = CalendarFeed(**owner)
        token = _issue(feed)
        db.session.add(feed)
        db.session.flush()
        return feed, token
    return feed, _derive(feed.nonce)


def parent_feed_token(parent: Parent) -> str:
    """The parent's calendar token (created on first use); flushes."""
    return _feed_of(parent_id=parent.id)[1]


def course_feed_token(course: Course) -> str:
    """The course's calendar token for its trainers (created on first use); flushes."""
    return _feed_of(course_id=course.id)[1]


def reset_feed_token(*, parent: Parent | None = None, course: Course | None = None) -> str:
    """Replace the calendar token so old feed and join links answer 404; returns the new token; flushes."""
    feed, _token = _feed_of(parent_id=parent.id) if parent else _feed_of(course_id=course.id)
    token = _issue(feed)
    db.session.flush()
    return token


def find_feed(token: str) -> CalendarFeed | None:
    """The feed whose token this is, or None for an unknown or reset token."""
    feed = db.session.scalars(select(CalendarFeed).where(CalendarFeed.token_hash == hash_token(token))).first()
    return feed if same_hash(token, feed.token_hash if feed else _NO_MATCH) and feed else None


def feed_urls(token: str) -> dict[str, str]:
    """The subscription links for a token: `https` (Google "From URL") and `webcal` (Apple, Outlook)."""
    https = external_url("feeds.feed", token=token)
    return {"https": https, "webcal": "webcal://" + https.split("://", 1)[1]}


def join_url(parent: Parent | None, session: WorkshopSession) -> str | None:
    """The parent's personal calendar join link for a session (absolute), or None without a parent; flushes."""
    if parent is None or parent.id is None:
        return None
    return external_url("feeds.join", token=parent_feed_token(parent), session_id=session.id)


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
    """A PUBLISH .ics of one session for "add to calendar" (no ATTENDEE); flushes."""
    spec = event_spec(session, link=join_url(parent, session))
    return ical.to_bytes(ical.build_invite([spec], "PUBLISH"))


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
    link = join_url(parent, session)
    when = local_when(session, parent.language)
    cancelled = method == "CANCEL"
    with force_locale(parent.language):
        if cancelled:
            subject = _("Afgelast: %(title)s op %(when)s", title=session.title, when=when)
        elif session.sequence > 0:
            subject = _("Gewijzigd: %(title)s op %(when)s", title=session.title, when=when)
        else:
            subject = _("Uitnodiging: %(title)s op %(when)s", title=session.title, when=when)
        context = {"parent": parent, "session": session, "when": when, "link": link, "cancelled": cancelled,
                   "subject": subject}
        text = render_template("emails/invite.txt", **context)
        html = render_template("emails/invite.html", **context)
    return mail.build_message(sender=mail.default_sender(), to=[parent.email], subject=subject, text=text,
                              html=html, calendar=calendar, calendar_method=method, language=parent.language)


def reminder_message(session: WorkshopSession, parent: Parent, kind: str):
    """The reminder e-mail for one parent, in the parent's language; flushes."""
    link = join_url(parent, session)
    when = local_when(session, parent.language)
    with force_locale(parent.language):
        subject = _("Herinnering: %(title)s op %(when)s", title=session.title, when=when)
        context = {"parent": parent, "session": session, "when": when, "link": link, "kind": kind,
                   "subject": subject}
        text = render_template("emails/reminder.txt", **context)
        html = render_template("emails/reminder.html", **context)
    return mail.build_message(sender=mail.default_sender(), to=[parent.email], subject=subject, text=text,
                              html=html, language=parent.language)


def reminder_sms_text(session: WorkshopSession, parent: Parent) -> str:
    """The reminder SMS in the parent's language, shortened until it fits MAX_SMS_SEGMENTS parts; flushes."""
    link = join_url(parent, session)
    when = format_datetime(session.starts_at, "EEE d MMM HH:mm", tzinfo=ZoneInfo(session.timezone),
                           locale=parent.language)
    with force_locale(parent.language):
        for title in (session.title, session.title[:20], ""):
            text = render_template("sms/reminder.txt", title=title, when=when, link=link).strip()
            if sms.sms_segments(text) <= MAX_SMS_SEGMENTS:
                return text
    return f"{when} {link}"


# --- hooks for scheduling code ----------------------------------------------------------------------------


def _sessions_of(session_or_series: WorkshopSession | WorkshopSeries) -> list[WorkshopSession]:
    if isinstance(session_or_series, WorkshopSeries):
        return list(session_or_series.sessions)
    return [session_or_series]


def notify_scheduled(session_or_series: WorkshopSession | WorkshopSeries) -> int:
    """Enqueue (after commit) one REQUEST per invited parent per session; returns how many."""
    # Function-level import: the tasks module imports this one for the message builders.
    from sessions.invite_tasks import send_invite

    count = 0
    for session in _sessions_of(session_or_series):
        for parent in _mail_invitees(session):
            enqueue_after_commit(db.session, send_invite, session.id, parent.id, session.sequence)
            count += 1
    return count


def notify_changed(session: WorkshopSession) -> int:
    """Enqueue (after commit) the updated REQUEST per invited parent; the caller has raised SEQUENCE already."""
    return notify_scheduled(session)


def _previously_invited(session: WorkshopSession) -> list[Parent]:
    query = select(Parent).join(InviteDelivery, InviteDelivery.parent_id == Parent.id).where(
        InviteDelivery.session_id == session.id, InviteDelivery.method == "REQUEST").distinct()
    return list(db.session.scalars(query))


def notify_cancelled(session: WorkshopSession) -> int:
    """Enqueue (after commit) a CANCEL per invited parent (and anyone invited before); caller raised SEQUENCE."""
    from sessions.invite_tasks import send_cancel  # see notify_scheduled

    parents = {p.id: p for p in _mail_invitees(session)}
    parents.update({p.id: p for p in _previously_invited(session) if p.email})
    for parent_id in sorted(parents):
        enqueue_after_commit(db.session, send_cancel, session.id, parent_id, session.sequence)
    return len(parents)
