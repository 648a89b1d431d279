"""The parent's route map behind the personal link (blueprint `parents`): what matters now first, then the next
session and the other dates; "my data" (page, JSON, ZIP) and the deletion request with its grace period."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, jsonify, redirect, request, send_file, url_for
from flask_babel import force_locale, format_date, format_time, format_timedelta, get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from accounts import audit
from activities.figures import parent_cards
from activities.services import parent_activities
from core.db import utcnow
from core.extensions import db, limiter
from core.ratelimits import configured
from courses.forms import RecordingConsentForm
from courses.links import feed_urls, parent_feed_token
from courses.models import Course, Enrolment, Parent
from parents.access import page_language, parent_or_404, private, render_private
from parents.consent import consent_items, consent_saved, forget_lobby_passes, save_answer
from parents.privacy import cancel_deletion, deletion_due_at, export_parent, export_zip, request_deletion
from recordings.models import Recording, RecordingState
from sessions.models import SessionStatus, WorkshopSession
from sessions.services import invited_clause

bp = Blueprint("parents", __name__, url_prefix="/p")

#: Per link (core.ratelimits: a school behind one address has many parents); wrong links count per address.
RATE_LIMIT = configured("RATELIMIT_PERSONAL_LINK")
#: A recording published this recently is "new" on the route map.
NEW_RECORDING = timedelta(days=7)


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
    #: "in 3 days" / "in 25 minutes" from now, for upcoming sessions.
    starts_in: str = ""
    #: The session is on today's date (in the course's time zone).
    today: bool = False
    #: When its published recording reached parents.
    published_at: datetime | None = None


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


def _published_recordings(session_ids: list[int]) -> dict[int, tuple[str, datetime | None]]:
    query = select(Recording).where(Recording.session_id.in_(session_ids),
                                    Recording.state == RecordingState.published)
    return {r.session_id: (r.uuid, r.published_at) for r in db.session.scalars(query.order_by(Recording.published_at))}


def _item(workshop_session, course: Course, now: datetime) -> SessionItem:
    zone = ZoneInfo(course.timezone)
    local = workshop_session.starts_at.astimezone(zone)
    lobby_from = workshop_session.starts_at - timedelta(minutes=workshop_session.lobby_minutes)
    return SessionItem(
        # The titles the trainer wrote in the page's language, else the Dutch (issue 19).
        id=workshop_session.id, title=workshop_session.text_in(str(get_locale()), "title"),
        course_title=course.text_in(str(get_locale()), "title"),
        date=format_date(local.date(), "full"), time=format_time(local, "short", rebase=False),
        lobby_open=lobby_from <= now < workshop_session.ends_at and workshop_session.status.value != "ended",
        recorded=workshop_session.recorded, kind=workshop_session.kind.value,
        today=local.date() == now.astimezone(zone).date(),
    )


def urgent_card(upcoming: list[SessionItem], past: list[SessionItem], activities: list, *,
                now: datetime) -> dict | None:
    """The one thing that matters now: live -> join, today -> when, a task -> answer, new recording, next session."""
    live = next((item for item in upcoming if item.lobby_open), None)
    if live:
        return {"kind": "live", "session": live}
    today = next((item for item in upcoming if item.today), None)
    if today:
        return {"kind": "today", "session": today}
    tasks = [card for card in activities if card.activity.requested and not card.answered]
    if tasks:
        task = min(tasks, key=lambda card: (card.activity.due_on is None, card.activity.due_on or 0))
        return {"kind": "task", "card": task}
    fresh = [item for item in past if item.recording_uuid and item.published_at
             and now - item.published_at <= NEW_RECORDING]
    if fresh:
        return {"kind": "recording", "session": fresh[0]}
    return {"kind": "next", "session": upcoming[0]} if upcoming else None


def _timed(items: list[SessionItem], starts: dict[int, datetime], now: datetime) -> dict[int, SessionItem]:
    # "In 3 days" only for the sessions the page shows it with (the urgent card, the next one): Babel is not free.
    return {item.id: replace(item, starts_in=format_timedelta(starts[item.id] - now, add_direction=True))
            for item in items if starts[item.id] > now}


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
        uuid, published_at = recordings.get(s.id, (None, None))
        (past if is_past else upcoming).append(replace(item, recording_uuid=uuid, published_at=published_at))
    past.reverse()  # most recent first
    home = parent_cards(parent, parent_activities(parent, courses), str(get_locale()))
    urgent = urgent_card(upcoming, past, home, now=now)
    focus = urgent.get("session") if urgent else None
    later = [item for item in upcoming if focus is None or item.id != focus.id]
    timed = _timed([*later[:1], *([focus] if focus else [])], {s.id: s.starts_at for s in sessions}, now)
    upcoming, later = ([timed.get(item.id, item) for item in items] for items in (upcoming, later))
    if focus:
        urgent["session"] = timed.get(focus.id, focus)
    return {"courses": courses, "upcoming": upcoming, "past": past, "activities": home, "urgent": urgent,
            "next": later[0] if later else None, "later": later[1:],
            "meetups": [item for item in upcoming if item.kind == "parents_meetup"]}


@bp.route("/<token>")
@limiter.limit(RATE_LIMIT)
def route_map(token: str):
    parent = parent_or_404(token, calendar=False)
    language = page_language(parent)
    with force_locale(language):
        context = route_map_context(parent)
        context["deletion_date"] = _due(parent)
        context["consent_items"] = consent_items(parent, context["courses"])
    calendar_token, calendar = _calendar(parent)
    response = render_private(language, "parents/route_map.html", parent=parent, token=token, calendar=calendar,
                              calendar_token=calendar_token, **context)
    # The calendar token is created on first use. Committing after rendering: a commit expires every row,
    # which the template would otherwise load again.
    db.session.commit()
    return response


@bp.route("/<token>/data")
@limiter.limit(RATE_LIMIT)
def my_data(token: str):
    parent = parent_or_404(token, calendar=False)
    language = page_language(parent)
    with force_locale(language):
        due = _due(parent)
    return render_private(language, "parents/my_data.html", parent=parent, token=token, due=due,
                          data=export_parent(parent))


@bp.route("/<token>/export.json")
@limiter.limit(RATE_LIMIT)
def export(token: str):
    parent = parent_or_404(token, calendar=False)
    response = jsonify(export_parent(parent))
    audit.record("parent.exported", parent=parent)
    db.session.commit()
    response.headers["Content-Disposition"] = 'attachment; filename="ouderkamer-mijn-gegevens.json"'
    return private(response)


@bp.route("/<token>/export.zip")
@limiter.limit(RATE_LIMIT)
def export_archive(token: str):
    parent = parent_or_404(token, calendar=False)
    archive = export_zip(parent)
    audit.record("parent.exported", parent=parent)
    db.session.commit()
    response = send_file(archive, mimetype="application/zip", as_attachment=True,
                         download_name="ouderkamer-mijn-gegevens.zip")
    return private(response)


def _due(parent: Parent) -> str:
    due = deletion_due_at(parent)
    return format_date(due, "long") if due else ""


@bp.route("/<token>/delete", methods=["GET", "POST"])
@limiter.limit(RATE_LIMIT)
def delete(token: str):
    parent = parent_or_404(token, calendar=False)
    language = page_language(parent)
    if request.method == "POST":
        request_deletion(parent)
        db.session.commit()
    with force_locale(language):
        due = _due(parent)
    return render_private(language, "parents/delete.html", parent=parent, token=token, due=due)


@bp.route("/<token>/delete/cancel", methods=["POST"])
@limiter.limit(RATE_LIMIT)
def cancel_delete(token: str):
    parent = parent_or_404(token, calendar=False)
    cancel_deletion(parent)
    db.session.commit()
    with force_locale(page_language(parent)):
        flash(_("Je gegevens worden niet verwijderd."), "info")
    return redirect(url_for("parents.route_map", token=token))


@bp.route("/<token>/consent/<int:course_id>", methods=["POST"])
@limiter.limit(RATE_LIMIT)
def consent(token: str, course_id: int):
    parent = parent_or_404(token, calendar=False)
    form = RecordingConsentForm()
    back = (url_for("lobby.show", token=token, session_id=form.session_id.data) if form.session_id.data
            else url_for("parents.route_map", token=token, _anchor="consent-heading"))
    if form.validate_on_submit() and save_answer(parent, course_id, consented=form.choice.data == "yes"):
        db.session.commit()
        forget_lobby_passes(parent, course_id)
        with force_locale(page_language(parent)):
            flash(consent_saved(form.choice.data == "yes"), "info")
    return redirect(back)
