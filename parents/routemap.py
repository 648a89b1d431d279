"""The parent's route map behind the personal link (blueprint `parents`): the course at a glance, export, deletion."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, jsonify, request
from flask_babel import force_locale, format_date, format_time, get_locale
from sqlalchemy import select

from accounts import audit
from activities.figures import parent_cards
from activities.services import parent_activities
from core.db import utcnow
from core.extensions import db, limiter
from core.ical import google_calendar_url, outlook_calendar_url
from core.ratelimits import configured
from courses.links import feed_urls, parent_feed_token
from courses.models import Course, Enrolment, Parent
from parents.access import page_language, parent_or_404, private, render_private
from parents.privacy import delete_parent, export_parent
from recordings.models import Recording, RecordingState
from sessions.calendar import event_spec, join_url
from sessions.models import SessionStatus, WorkshopSession
from sessions.services import invited_clause

bp = Blueprint("parents", __name__, url_prefix="/p")

#: Per link (core.ratelimits: a school behind one address has many parents); wrong links count per address.
RATE_LIMIT = configured("RATELIMIT_PERSONAL_LINK")


@dataclass(frozen=True)
class SessionItem:
    """One live session as the route map shows it: plain, already formatted values."""

    id: int
    title: str
    course_title: str
    date: str
    time: str
    lobby_open: bool
    recorded: bool
    #: uuid of the published recording of a past session, if any.
    recording_uuid: str | None = None
    #: The session's kind: "workshop", "parents_meetup" or "one_to_one".
    kind: str = "workshop"


def parent_courses(parent: Parent) -> list[Course]:
    """The parent's unarchived courses, by title."""
    # One query for all of them (loading each enrolment's course on its own was one query per course).
    query = (select(Course).join(Enrolment, Enrolment.course_id == Course.id)
             .where(Enrolment.parent_id == parent.id, Course.archived_at.is_(None)))
    return sorted(db.session.scalars(query), key=lambda c: c.title)


def _live_sessions(courses: list[Course], parent: Parent) -> list:
    query = (select(WorkshopSession)
             .where(WorkshopSession.course_id.in_([c.id for c in courses]),
                    WorkshopSession.status != SessionStatus.cancelled, invited_clause(parent))
             .order_by(WorkshopSession.starts_at))
    return list(db.session.scalars(query))


def _calendar(parent: Parent) -> tuple[str, dict[str, str]]:
    token = parent_feed_token(parent)
    return token, feed_urls(token)


def _add_to_calendar_links(parent: Parent, session_ids: list[int], token: str) -> dict[int, dict[str, str]]:
    """Google and Outlook "add event" links per upcoming session, for parents without an invite by e-mail."""
    links = {}
    for item in db.session.scalars(select(WorkshopSession).where(WorkshopSession.id.in_(session_ids))):
        spec = event_spec(item, link=join_url(parent, item, token=token))
        links[item.id] = {"google": google_calendar_url(spec), "outlook": outlook_calendar_url(spec)}
    return links


def _published_recordings(session_ids: list[int]) -> dict[int, str]:
    query = select(Recording).where(Recording.session_id.in_(session_ids),
                                    Recording.state == RecordingState.published)
    return {r.session_id: r.uuid for r in db.session.scalars(query.order_by(Recording.published_at))}


def _item(workshop_session, course: Course, now: datetime) -> SessionItem:
    local = workshop_session.starts_at.astimezone(ZoneInfo(course.timezone))
    lobby_from = workshop_session.starts_at - timedelta(minutes=workshop_session.lobby_minutes)
    return SessionItem(
        id=workshop_session.id, title=workshop_session.title, course_title=course.title,
        date=format_date(local.date(), "full"), time=format_time(local, "short", rebase=False),
        lobby_open=lobby_from <= now < workshop_session.ends_at and workshop_session.status.value != "ended",
        recorded=workshop_session.recorded, kind=workshop_session.kind.value,
    )


def route_map_context(parent: Parent, *, now: datetime | None = None) -> dict:
    """What the route map shows, formatted in the current locale: courses, upcoming and past sessions."""
    now = now or utcnow()
    courses = parent_courses(parent)
    by_id = {c.id: c for c in courses}
    upcoming, past = [], []
    sessions = _live_sessions(courses, parent) if courses else []
    recordings = _published_recordings([s.id for s in sessions])
    for s in sessions:
        is_past = s.status.value == "ended" or s.ends_at <= now
        item = _item(s, by_id[s.course_id], now)
        (past if is_past else upcoming).append(replace(item, recording_uuid=recordings.get(s.id)))
    past.reverse()  # most recent first
    home = parent_cards(parent, parent_activities(parent, courses), str(get_locale()))
    return {"courses": courses, "upcoming": upcoming, "past": past, "activities": home,
            "meetups": [item for item in upcoming if item.kind == "parents_meetup"]}


@bp.route("/<token>")
@limiter.limit(RATE_LIMIT)
def route_map(token: str):
    parent = parent_or_404(token, calendar=False)
    language = page_language(parent)
    with force_locale(language):
        context = route_map_context(parent)
    calendar_token, calendar = _calendar(parent)
    add_links = _add_to_calendar_links(parent, [item.id for item in context["upcoming"]], calendar_token)
    response = render_private(language, "parents/route_map.html", parent=parent, token=token, calendar=calendar,
                       calendar_token=calendar_token, add_links=add_links, **context)
    # The calendar token is created on first use. Committing after rendering: a commit expires every row,
    # which the template would otherwise load again.
    db.session.commit()
    return response


@bp.route("/<token>/export.json")
@limiter.limit(RATE_LIMIT)
def export(token: str):
    parent = parent_or_404(token, calendar=False)
    response = jsonify(export_parent(parent))
    audit.record("parent.exported", parent=parent)
    db.session.commit()
    response.headers["Content-Disposition"] = 'attachment; filename="ouderkamer-mijn-gegevens.json"'
    return private(response)


@bp.route("/<token>/delete", methods=["GET", "POST"])
@limiter.limit(RATE_LIMIT)
def delete(token: str):
    parent = parent_or_404(token, calendar=False)
    language = page_language(parent)
    if request.method == "GET":
        return render_private(language, "parents/delete.html", parent=parent, token=token)
    delete_parent(parent)
    db.session.commit()
    return render_private(language, "parents/goodbye.html")
