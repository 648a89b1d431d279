"""Calendar feeds (per parent, per course), single-session downloads and the calendar join entry point.

The token in the path is the only credential (calendar servers fetch without cookies); a reset token gives 404.
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from core import ical
from core.extensions import db, limiter
from core.ratelimits import configured
from courses.links import find_feed, parent_feed_token
from courses.models import Enrolment
from parents.access import parent_or_404
from sessions.calendar import (
    current_date,
    download_ics,
    event_spec,
    in_language,
    is_cancelled,
    join_url,
    local_when,
    series_specs,
)
from sessions.calendar_models import CalendarFeed
from sessions.feed_etags import cached_body, feed_version
from sessions.models import SessionStatus, WorkshopSeries, WorkshopSession
from sessions.services import is_invited

bp = Blueprint("feeds", __name__)

FEED_RATE_LIMIT = configured("RATELIMIT_FEED")  # per calendar token, see core.ratelimits
REFRESH_MINUTES = 60


def _feed_or_404(token: str) -> CalendarFeed:
    feed = find_feed(token)
    if feed is None:
        abort(404)
    return feed


def _course_ids(feed: CalendarFeed) -> list[int]:
    if feed.course_id is not None:
        return [feed.course_id]
    return list(db.session.scalars(select(Enrolment.course_id).where(Enrolment.parent_id == feed.parent_id)))


def _feed_sessions(feed: CalendarFeed) -> list[WorkshopSession]:
    """The feed's sessions, cancelled ones included (a series lists them as EXDATEs), that the parent may see."""
    query = select(WorkshopSession).where(WorkshopSession.course_id.in_(_course_ids(feed)))
    found = db.session.scalars(query.order_by(WorkshopSession.starts_at, WorkshopSession.id))
    return [s for s in found if feed.parent is None or is_invited(s, feed.parent)]


def _feed_specs(feed: CalendarFeed, sessions: list[WorkshopSession], token: str | None) -> list[ical.EventSpec]:
    # A series is one event (master + overrides), listed once where its first date would be.
    specs, seen = [], set()
    for session in sessions:
        series = session.series
        if series is None:
            if session.status is not SessionStatus.cancelled:
                specs.append(event_spec(session, link=join_url(feed.parent, session, token=token)))
        elif series.id not in seen and not is_cancelled(series):
            seen.add(series.id)
            specs += series_specs(series, parent=feed.parent)
    return specs


def _feed_name(feed: CalendarFeed) -> str:
    if feed.course is not None:
        return f"Ouderkamer – {feed.course.title}"
    return "Ouderkamer"


def feed_body(feed: CalendarFeed, token: str | None = None) -> bytes:
    """The feed's bytes: PUBLISH, same UIDs as the invites, DTSTAMP from updated_at (stable while unchanged).

    :param token: the feed's token when the caller has it (else it is looked up once, not once per session).
    """
    sessions = _feed_sessions(feed)
    if token is None and feed.parent is not None:
        token = parent_feed_token(feed.parent)
    # Each parent's feed carries their own join links; the course feed for trainers carries none.
    specs = _feed_specs(feed, sessions, token)
    if feed.parent is not None:
        specs = in_language(specs, sessions, feed.parent.language)
    owner = f"parent-{feed.parent_id}" if feed.parent_id else f"course-{feed.course_id}"
    host = specs[0].uid.rpartition("@")[2] if specs else "ouderkamer"
    cal = ical.build_feed(specs, name=_feed_name(feed), uid=ical.make_uid("feed", owner, host),
                          refresh_minutes=REFRESH_MINUTES)
    return ical.to_bytes(cal)


def _calendar_response(body: bytes | None, filename: str | None = None, etag: str | None = None) -> Response:
    etag = etag or hashlib.sha256(body).hexdigest()
    # Only If-None-Match: a Last-Modified cannot see an unenrolment, so If-Modified-Since could hide a change.
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(body, content_type="text/calendar; charset=utf-8")
        if filename:
            response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/c/<token>.ics")
@limiter.limit(FEED_RATE_LIMIT)
def feed(token: str):
    # A revalidation (If-None-Match) is answered from one indexed read, without building the feed.
    version = feed_version(token)
    if version is None:
        abort(404)
    if request.if_none_match.contains(version.etag):
        return _calendar_response(None, etag=version.etag)
    body = cached_body(version, lambda: feed_body(db.session.get(CalendarFeed, version.feed_id), token))
    return _calendar_response(body, etag=version.etag)


def _parent_session_or_404(token: str, session_id: int):
    parent = parent_or_404(token, personal=False)  # the /c/ links carry the calendar token only
    session = db.session.get(WorkshopSession, session_id)
    if session is None or not is_invited(session, parent):
        abort(404)
    return parent, session


@bp.route("/c/<token>/session/<int:session_id>.ics")
@limiter.limit(FEED_RATE_LIMIT)
def download(token: str, session_id: int):
    parent, session = _parent_session_or_404(token, session_id)
    body = download_ics(session, parent)
    db.session.commit()
    return _calendar_response(body, filename=f"ouderkamer-{session.id}.ics")


@bp.route("/c/<token>/join/<int:session_id>")
@limiter.limit(FEED_RATE_LIMIT)
def join(token: str, session_id: int):
    parent, session = _parent_session_or_404(token, session_id)
    if session.status is not SessionStatus.cancelled:
        # The calendar token opens the lobby too (courses.links.resolve_parent), so the link stays personal.
        return redirect(url_for("lobby.show", token=token, session_id=session.id))
    with force_locale(parent.language):
        return render_template("feeds/join.html", parent=parent, session=session, lang=parent.language,
                               when=local_when(session, parent.language),
                               cancelled=session.status is SessionStatus.cancelled, title=_("Bijeenkomst"))


@bp.route("/c/<token>/series/<int:series_id>/join")
@limiter.limit(FEED_RATE_LIMIT)
def join_series(token: str, series_id: int):
    series = db.session.get(WorkshopSeries, series_id)
    if series is None or not series.sessions:
        abort(404)
    session = current_date(series)
    _parent_session_or_404(token, session.id)
    return redirect(url_for("feeds.join", token=token, session_id=session.id))
