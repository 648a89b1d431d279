"""A parent's two credentials and the one place that turns a URL token into a parent.

The personal link opens the route map (only its SHA-256 is stored). The calendar token is HMAC(SECRET_KEY, nonce),
so invites and messages can rebuild the feed and join links without storing them; a course has one too, for its
trainers' feed. Revoking cuts off both of a parent's credentials at once, and issuing a new link makes both anew.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from flask import current_app
from sqlalchemy import bindparam, delete, literal, select, union_all

from core import tenancy
from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_after_commit
from core.tokens import hash_token, new_token, same_hash
from core.urls import external_url
from courses.models import CalendarFeed, Course, Parent
from courses.tasks import send_welcome

#: A stored hash that no token matches, compared when nothing was found so every miss costs the same work.
_NO_MATCH = "0" * 64


# --- the resolver -----------------------------------------------------------------------------------------------


def resolve_parent(token: str, *, calendar: bool = True, personal: bool = True) -> Parent | None:
    """The parent behind a personal link token (unless `personal` is False: the calendar routes) or a personal
    calendar token (unless `calendar` is False: the route map), or None (unknown, old, revoked).

    Every parent-facing route finds its parent here; the request is then scoped to the parent's organisation.
    One statement, whichever credential the token is: a lobby polled by a whole school costs one indexed read.
    """
    if not (personal or calendar):
        return None
    query = _resolver_query(personal=personal, calendar=calendar)
    row = db.session.execute(query, {"digest": hash_token(token)}).first()
    parent, stored = row if row is not None else (None, _NO_MATCH)
    if not same_hash(token, stored or _NO_MATCH) or parent is None or parent.access_revoked_at is not None:
        return None
    tenancy.enter(parent.organisation_id)
    return parent


@functools.cache
def _resolver_query(*, personal: bool, calendar: bool):
    # Built once per process: on the hottest path of the app, building this statement cost more than running it.
    digest, found = bindparam("digest"), []
    if personal:
        found.append(select(Parent.id.label("parent_id"), Parent.link_token_hash.label("stored"),
                            literal(0).label("rank")).where(Parent.link_token_hash == digest))
    if calendar:
        found.append(select(CalendarFeed.parent_id.label("parent_id"), CalendarFeed.token_hash.label("stored"),
                            literal(1).label("rank"))
                     .where(CalendarFeed.token_hash == digest, CalendarFeed.parent_id.is_not(None)))
    match = union_all(*found).subquery()
    return (select(Parent, match.c.stored).join(match, match.c.parent_id == Parent.id)
            .order_by(match.c.rank).limit(1).execution_options(**tenancy.ALL_ORGANISATIONS))


def find_parent_by_token(token: str) -> Parent | None:
    """The parent whose personal link carries `token`, or None for an unknown, old or revoked token."""
    digest = hash_token(token)
    query = select(Parent).where(Parent.link_token_hash == digest).execution_options(**tenancy.ALL_ORGANISATIONS)
    parent = db.session.scalars(query).first()
    stored = parent.link_token_hash if parent is not None else _NO_MATCH
    return parent if same_hash(token, stored) else None


def find_feed(token: str) -> CalendarFeed | None:
    """The calendar feed (a parent's or a course's) whose token this is, or None for an unknown or reset token."""
    query = (select(CalendarFeed).where(CalendarFeed.token_hash == hash_token(token))
             .execution_options(**tenancy.ALL_ORGANISATIONS))
    feed = db.session.scalars(query).first()
    if not same_hash(token, feed.token_hash if feed else _NO_MATCH) or feed is None:
        return None
    # Enter the owner's scope before touching feed.parent / feed.course, which a trainer's own scope would hide.
    owner = select(Parent.organisation_id).where(Parent.id == feed.parent_id) if feed.parent_id else \
        select(Course.organisation_id).where(Course.id == feed.course_id)
    tenancy.enter(db.session.scalar(owner.execution_options(**tenancy.ALL_ORGANISATIONS)))
    return feed


# --- personal links -------------------------------------------------------------------------------------------


def issue_personal_link(parent: Parent, *, token: str | None = None) -> str:
    """Give the parent a new personal link (replacing any old one) and return its absolute URL; flushes.

    After a revocation this also makes a new calendar token: the parent's access is back, under new keys.
    """
    if parent.access_revoked_at is not None:
        parent.access_revoked_at = None
        _delete_parent_feed(parent)
    ensure_calendar_token(parent)
    token = token or new_token()
    parent.link_token_hash = hash_token(token)
    parent.link_issued_at = utcnow()
    db.session.flush()
    return external_url("parents.route_map", token=token)


def reissue_access(parent: Parent) -> str:
    """Replace both credentials (old link and calendar token stop working) and send the welcome with the new link
    after commit; returns the link. Flushes."""
    _delete_parent_feed(parent)
    return send_welcome_message(parent)  # issuing the link makes the new calendar token


def revoke_access(parent: Parent) -> None:
    """Cut the parent off: the personal link and the calendar token (feed, lobby, join, watch, activities, RSVP)
    stop working at once, and no new calendar token is made until a new link is issued; flushes."""
    parent.link_token_hash = None
    parent.access_revoked_at = utcnow()
    _delete_parent_feed(parent)


def send_welcome_message(parent: Parent) -> str:
    """Issue a fresh personal link and enqueue one welcome message per channel after commit; returns the link."""
    link = issue_personal_link(parent)
    for channel in parent.channels:
        enqueue_after_commit(db.session, send_welcome, parent.id, link, channel)
    return link


# --- calendar tokens ------------------------------------------------------------------------------------------


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


def _delete_parent_feed(parent: Parent) -> None:
    db.session.execute(delete(CalendarFeed).where(CalendarFeed.parent_id == parent.id))
    db.session.flush()


def ensure_calendar_token(parent: Parent) -> None:
    """Give the parent a calendar token unless they have one (at enrolment and when a link is issued), so reading
    one later, on a GET or while sending, never writes; flushes."""
    if parent.access_revoked_at is None:
        _feed_of(parent_id=parent.id)


def parent_feed(parent: Parent) -> CalendarFeed | None:
    """The parent's calendar feed row, or None while their access is revoked (read only)."""
    if parent.access_revoked_at is not None or parent.id is None:
        return None
    return db.session.scalars(select(CalendarFeed).filter_by(parent_id=parent.id)).first()


def parent_feed_token(parent: Parent) -> str | None:
    """The parent's calendar token, or None while their access is revoked (read only: never inserts a row)."""
    feed = parent_feed(parent)
    return _derive(feed.nonce) if feed is not None else None


def parent_feed_tokens(parents: list[Parent]) -> dict[int, str]:
    """{parent id: calendar token} of the given parents whose access is not revoked (one query, read only)."""
    wanted = [p.id for p in parents if p.access_revoked_at is None]
    if not wanted:
        return {}
    feeds = db.session.execute(select(CalendarFeed.parent_id, CalendarFeed.nonce)
                               .where(CalendarFeed.parent_id.in_(wanted)))
    return {parent_id: _derive(nonce) for parent_id, nonce in feeds}


def course_feed_token(course: Course) -> str:
    """The course's calendar token for its trainers (created on first use); flushes."""
    return _feed_of(course_id=course.id)[1]


def reset_feed_token(*, parent: Parent | None = None, course: Course | None = None) -> str:
    """Replace the calendar token so old feed and join links answer 404; returns the new token; flushes."""
    feed, _token = _feed_of(parent_id=parent.id) if parent else _feed_of(course_id=course.id)
    token = _issue(feed)
    db.session.flush()
    return token


def feed_urls(token: str) -> dict[str, str]:
    """The subscription links for a calendar token: `https` (Google "From URL") and `webcal` (Apple, Outlook)."""
    https = external_url("feeds.feed", token=token)
    return {"https": https, "webcal": "webcal://" + https.split("://", 1)[1]}


def feed_token(feed: CalendarFeed) -> str:
    """The token of a feed row (rebuilt from its nonce)."""
    return _derive(feed.nonce)
