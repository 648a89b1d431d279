"""The course page and the session page: each shows figures from sessions, recordings and activities together, so
it lives above all of them (architecture.md)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required
from sqlalchemy import select

from accounts.forms import EmptyForm
from activities import figures as activity_figures
from core.extensions import db
from courses.access import course_or_403
from courses.forms import REMINDER_CHOICES
from courses.services import course_parents
from recordings.models import Recording
from recordings.participation import course_participation
from recordings.playback import course_watch_summary
from sessions import deliveries, scheduling, services
from sessions.access import session_or_403
from sessions.rsvp import rsvp_counts, rsvp_overview

bp = Blueprint("dashboard", __name__)


@bp.route("/courses/<int:course_id>")
@login_required
def course(course_id: int):
    course = course_or_403(course_id)
    opened = services.opened_sessions_attendance(course)  # shared by the two tables, so attendance is read once
    return render_template("dashboard/course.html", course=course, sessions=scheduling.course_sessions(course),
                           parents=course_parents(course),
                           attendance=services.course_attendance(course, opened=opened),
                           watched=course_watch_summary(course),
                           participation=course_participation(course, opened=opened), empty=EmptyForm(),
                           responded=activity_figures.parent_figures(course),
                           session_responded=activity_figures.session_figures(course), rsvp=rsvp_counts(course))


@bp.route("/sessions/<int:session_id>")
@login_required
def session(session_id: int):
    workshop_session = session_or_403(session_id)
    recordings = db.session.scalars(select(Recording).where(Recording.session_id == workshop_session.id)
                                    .order_by(Recording.created_at)).all()
    recorded = workshop_session.recorded
    return render_template("dashboard/session.html", session=workshop_session,
                           state=services.lobby_state(workshop_session),
                           objections=services.objections(workshop_session) if recorded else [],
                           consent_log=services.consent_log(workshop_session),
                           attendance=services.attendance(workshop_session),
                           invitees=services.invitees_of(workshop_session), recordings=recordings, empty=EmptyForm(),
                           rsvps=rsvp_overview(workshop_session), failures=deliveries.failed_deliveries(workshop_session),
                           offset_labels={str(c.value): c.label for c in REMINDER_CHOICES})
