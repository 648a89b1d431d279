"""The course page and the session page: each shows figures from sessions, recordings and activities together, so
it lives above all of them (architecture.md)."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import login_required
from sqlalchemy import select

from accounts.forms import EmptyForm
from activities import figures as activity_figures
from core.extensions import db
from courses.access import course_or_403
from courses.forms import REMINDER_CHOICES
from courses.services import find_course_parents
from recordings import participation as figures
from recordings.models import Recording
from sessions import deliveries, scheduling, services
from sessions.access import session_or_403
from sessions.rsvp import rsvp_counts, rsvp_overview

bp = Blueprint("dashboard", __name__)


@bp.route("/courses/<int:course_id>")
@login_required
def course(course_id: int):
    course = course_or_403(course_id)
    sessions = scheduling.course_sessions(course)
    search = request.args.get("q", "").strip()[:100]
    parents = find_course_parents(course, search=search, page=request.args.get("page", 1, type=int))
    shown = [p.id for p in parents.items]  # the figures are computed for the page's parents only
    return render_template("dashboard/course.html", course=course, sessions=sessions, parents=parents,
                           search=search, attendance=services.course_attendance(sessions, shown),
                           watched=figures.watch_summary(course, shown),
                           participation=figures.participation(sessions), empty=EmptyForm(),
                           responded=activity_figures.parent_figures(course, shown),
                           session_responded=activity_figures.session_figures(course), rsvp=rsvp_counts(course))


@bp.route("/sessions/<int:session_id>")
@login_required
def session(session_id: int):
    workshop_session = session_or_403(session_id)
    # Loaded first: the consent log, RSVPs and failed deliveries then find their parents in the session's identity map.
    invitees = services.invitees_of(workshop_session)
    recordings = db.session.scalars(select(Recording).where(Recording.session_id == workshop_session.id)
                                    .order_by(Recording.created_at)).all()
    recorded = workshop_session.recorded
    return render_template("dashboard/session.html", session=workshop_session,
                           state=services.lobby_state(workshop_session),
                           objections=services.objections(workshop_session) if recorded else [],
                           consent_log=services.consent_log(workshop_session),
                           attendance=services.attendance(workshop_session, parents=invitees),
                           invitees=invitees, recordings=recordings, empty=EmptyForm(),
                           rsvps=rsvp_overview(workshop_session, invitees=invitees),
                           failures=deliveries.failed_deliveries(workshop_session),
                           offset_labels={str(c.value): c.label for c in REMINDER_CHOICES})
