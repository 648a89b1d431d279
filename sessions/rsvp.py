"""One-tap "I'm coming" / "I can't" answers from reminders (blueprint `rsvp`), and what the trainer sees of them.

A reminder carries two personal links, /r/<feed id>/<session id>/<code>/<yes|no>. The code is an HMAC of the
parent's calendar nonce (the secret behind their calendar token, courses.links) and the session: nothing extra is
stored, the links stay short enough for an SMS, and resetting the calendar token revokes them with the feed and join
links. Link previewers (WhatsApp, mail scanners) GET every URL, so a GET only shows a page; the answer is recorded by
the page's form POST (sent on load by static/js/rsvp.js, or by one large button without JavaScript).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select

from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.urls import external_url
from courses.links import parent_feed
from courses.models import Course, Parent
from sessions.calendar_models import CalendarFeed, Rsvp, RsvpAnswer, upsert_rsvp
from sessions.models import SessionStatus, WorkshopSession
from sessions.services import invitees_of, is_invited

#: base64url characters of the HMAC in a link: 96 bits, unguessable, and short in an SMS.
CODE_LENGTH = 16
ANSWERS = {"yes": RsvpAnswer.coming, "no": RsvpAnswer.not_coming}
SLUGS = {answer: slug for slug, answer in ANSWERS.items()}


class RsvpClosedError(DomainError):
    """The session was cancelled or is over: answers are no longer taken."""


@dataclass(frozen=True)
class RsvpRow:
    """One invited parent's answer as the trainer sees it (answer None: no answer yet)."""

    parent: Parent
    answer: RsvpAnswer | None
    answered_at: datetime | None


# --- links ------------------------------------------------------------------------------------------------------


def _code(nonce: str, session_id: int) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    mac = hmac.new(key, f"ouderkamer-rsvp:{nonce}:{session_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:CODE_LENGTH]


def _parent_feed(parent: Parent) -> CalendarFeed:
    feed = parent_feed(parent)  # created (with its nonce) on first use
    if feed is None:
        raise ValueError(f"parent {parent.id}'s access is revoked: no one-tap links")
    return feed


def rsvp_urls(parent: Parent, workshop_session: WorkshopSession) -> dict[str, str]:
    """The parent's personal one-tap links for a session, {"yes": …, "no": …} (absolute); flushes (calendar
    token on first use)."""
    feed = _parent_feed(parent)
    code = _code(feed.nonce, workshop_session.id)
    return {slug: external_url("rsvp.show", feed_id=feed.id, session_id=workshop_session.id, code=code, answer=slug)
            for slug in ANSWERS}


def find_rsvp_link(feed_id: int, session_id: int, code: str) -> tuple[Parent, WorkshopSession] | None:
    """The parent and session of a one-tap link, or None for a wrong code, a reset token or an uninvited parent."""
    feed = db.session.get(CalendarFeed, feed_id)
    workshop_session = db.session.get(WorkshopSession, session_id)
    # Compare even when nothing was found, so a miss costs the same work as a wrong code.
    expected = _code(feed.nonce if feed is not None else "", session_id)
    if not hmac.compare_digest(expected.encode(), code.encode()):
        return None
    if feed is None or feed.parent is None or workshop_session is None or not is_invited(workshop_session, feed.parent):
        return None
    return feed.parent, workshop_session


# --- answers ----------------------------------------------------------------------------------------------------


def is_open(workshop_session: WorkshopSession, *, now: datetime | None = None) -> bool:
    """True while a session takes answers: not cancelled and not over."""
    return workshop_session.status is not SessionStatus.cancelled and workshop_session.ends_at > (now or utcnow())


def record_rsvp(workshop_session: WorkshopSession, parent: Parent, answer: RsvpAnswer) -> None:
    """Store or change a parent's answer for a session (one row per parent); RsvpClosedError when closed."""
    if not is_open(workshop_session):
        raise RsvpClosedError("session closed for answers")
    upsert_rsvp(workshop_session.id, parent.id, answer)


def answer_of(workshop_session: WorkshopSession, parent: Parent) -> RsvpAnswer | None:
    """The parent's current answer for a session, or None."""
    return db.session.scalar(select(Rsvp.answer).filter_by(session_id=workshop_session.id, parent_id=parent.id))


def rsvp_overview(workshop_session: WorkshopSession, *, invitees: list[Parent] | None = None) -> list[RsvpRow]:
    """Every invited parent (`invitees` when already loaded) with their answer (or None), by name; one query for the
    answers."""
    query = select(Rsvp.parent_id, Rsvp.answer, Rsvp.answered_at).where(Rsvp.session_id == workshop_session.id)
    answers = {parent_id: (answer, at) for parent_id, answer, at in db.session.execute(query)}
    rows = [RsvpRow(p, *answers.get(p.id, (None, None)))
            for p in (invitees_of(workshop_session) if invitees is None else invitees)]
    return sorted(rows, key=lambda row: (row.parent.name.casefold(), row.parent.id))


def rsvp_counts(course: Course) -> dict[int, dict[str, int]]:
    """Per session of a course: how many parents answered {"coming": n, "not_coming": n} (one query)."""
    query = (select(Rsvp.session_id, Rsvp.answer, func.count()).join(WorkshopSession)
             .where(WorkshopSession.course_id == course.id).group_by(Rsvp.session_id, Rsvp.answer))
    counts: dict[int, dict[str, int]] = {}
    for session_id, answer, count in db.session.execute(query):
        counts.setdefault(session_id, {"coming": 0, "not_coming": 0})[answer.value] = count
    return counts
