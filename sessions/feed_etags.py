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
from sqlalchemy import func, select, true, union_all

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


def _version_statement(digest: str):
    # Each step is an index lookup: the feed by its token's hash, its courses (the feed's own, or the parent's
    # enrolments by parent_id), their sessions by (course_id, starts_at), their series by key, and the parent's
    # chosen-invitee rows by parent_id. An OR across the two kinds of owner would read every session instead.
    # NOT MATERIALIZED: PostgreSQL then sees the one-row lookups inside, instead of guessing a CTE's size and
    # hashing the whole session table (docs/performance.md, "Plans at size L").
    feed = (select(CalendarFeed.id, CalendarFeed.parent_id, CalendarFeed.course_id, CalendarFeed.token_hash,
                   CalendarFeed.nonce).where(CalendarFeed.token_hash == digest)
            .cte("feed").prefix_with("NOT MATERIALIZED", dialect="postgresql"))
    course_ids = union_all(
        select(feed.c.course_id.label("course_id")).where(feed.c.course_id.is_not(None)),
        select(Enrolment.course_id).join(feed, Enrolment.parent_id == feed.c.parent_id),
    ).cte("feed_courses").prefix_with("NOT MATERIALIZED", dialect="postgresql")
    in_feed = WorkshopSession.course_id == course_ids.c.course_id
    sessions = (
        select(func.count(WorkshopSession.id).label("count"), func.sum(WorkshopSession.id).label("ids"),
               func.max(WorkshopSession.updated_at).label("updated_at"),
               func.sum(WorkshopSession.sequence).label("sequences"),
               func.max(WorkshopSeries.updated_at).label("series_updated_at"))
        .select_from(WorkshopSession).join(course_ids, in_feed)
        .outerjoin(WorkshopSeries, WorkshopSeries.id == WorkshopSession.series_id)
    ).subquery("feed_sessions")
    chosen = (
        select(func.count().label("count"), func.sum(session_invitees.c.session_id).label("ids"))
        .select_from(session_invitees).join(feed, session_invitees.c.parent_id == feed.c.parent_id)
        .join(WorkshopSession, WorkshopSession.id == session_invitees.c.session_id).join(course_ids, in_feed)
    ).subquery("feed_invitees")
    return (
        select(feed.c.id, feed.c.token_hash, feed.c.nonce, Course.title, sessions.c.count, sessions.c.ids,
               sessions.c.updated_at, sessions.c.sequences, sessions.c.series_updated_at, chosen.c.count,
               chosen.c.ids)
        .select_from(feed).outerjoin(Course, Course.id == feed.c.course_id)
        .join(sessions, true()).join(chosen, true())
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
