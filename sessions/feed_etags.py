"""The ETag of a calendar feed from one indexed read, so a calendar app's revalidation costs no feed building.

Calendar apps poll every feed (hourly, or more often), and nearly every poll finds nothing changed. The tag is
derived from what the feed's bytes depend on, read in one statement that starts at the token's unique index:
the feed row, and for the sessions of its courses their count, ids, latest `updated_at` (every ORM change of a
session bumps it), SEQUENCE sum and their series' latest `updated_at`, plus the parent's chosen-invitee rows
(which live in their own table and bump nothing). Raise FEED_FORMAT when the feed's bytes change for the same
data (a new property, a fix), so no calendar keeps an old copy.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, or_, select

from core.extensions import db
from core.tokens import hash_token, same_hash
from courses.models import Course, Enrolment
from sessions.calendar_models import CalendarFeed
from sessions.models import WorkshopSeries, WorkshopSession, session_invitees

FEED_FORMAT = 2  # 2: control characters in titles and names replaced (core.ical)
_NO_MATCH = "0" * 64
#: Built feeds kept per process, by ETag: bytes at most, and seconds at most (a bound on any change the tag missed).
CACHE_MAX_BYTES = 16 * 1024 * 1024
CACHE_TTL_S = 600
_cache: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class FeedVersion:
    """A feed found by its token, and the ETag of its current content."""

    feed_id: int
    etag: str


def _in_feed():
    # The sessions of the feed's course, or of every course its parent is enrolled in (correlated to the feed row).
    enrolled = select(Enrolment.course_id).where(Enrolment.parent_id == CalendarFeed.parent_id)
    return or_(WorkshopSession.course_id == CalendarFeed.course_id, WorkshopSession.course_id.in_(enrolled))


def _chosen_invitees(aggregate):
    # Through the primary key (session_id, parent_id): the feed's session ids first, then this parent.
    in_feed = select(WorkshopSession.id).where(_in_feed()).correlate(CalendarFeed)
    rows = select(aggregate).where(session_invitees.c.session_id.in_(in_feed),
                                   session_invitees.c.parent_id == CalendarFeed.parent_id)
    return rows.correlate(CalendarFeed).scalar_subquery()


def _version_statement(digest: str):
    return (
        select(CalendarFeed.id, CalendarFeed.token_hash, CalendarFeed.nonce, func.max(Course.title),
               func.count(WorkshopSession.id), func.sum(WorkshopSession.id), func.max(WorkshopSession.updated_at),
               func.sum(WorkshopSession.sequence), func.max(WorkshopSeries.updated_at),
               _chosen_invitees(func.count()), _chosen_invitees(func.sum(session_invitees.c.session_id)))
        .select_from(CalendarFeed)
        .outerjoin(Course, Course.id == CalendarFeed.course_id)
        .outerjoin(WorkshopSession, _in_feed())
        .outerjoin(WorkshopSeries, WorkshopSeries.id == WorkshopSession.series_id)
        .where(CalendarFeed.token_hash == digest)
        .group_by(CalendarFeed.id)
    )


def feed_version(token: str) -> FeedVersion | None:
    """The feed behind `token` and its content's ETag (one statement), or None for an unknown or reset token."""
    row = db.session.execute(_version_statement(hash_token(token))).first()
    if not same_hash(token, row.token_hash if row is not None else _NO_MATCH) or row is None:
        return None
    config = current_app.config
    facts = (FEED_FORMAT, config["PUBLIC_BASE_URL"], config.get("MAIL_FROM"), config.get("MAIL_FROM_NAME"),
             *(row[2:]))
    return FeedVersion(row.id, hashlib.sha256(repr(facts).encode()).hexdigest())


def cached_body(version: FeedVersion, build: Callable[[], bytes]) -> bytes:
    """The feed's bytes for this version: built once per process (and per CACHE_TTL_S), then kept in memory."""
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(version.etag)
        if hit is not None and now - hit[0] < CACHE_TTL_S:
            _cache.move_to_end(version.etag)
            return hit[1]
    body = build()
    with _cache_lock:
        _cache[version.etag] = (now, body)
        while sum(len(b) for _t, b in _cache.values()) > CACHE_MAX_BYTES and len(_cache) > 1:
            _cache.popitem(last=False)
    return body
