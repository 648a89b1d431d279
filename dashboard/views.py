"""The trainer's home page, the course page and the session page: each shows figures from sessions, recordings and
activities together, so it lives above all of them (architecture.md); and the live page's help-request poll."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from accounts.forms import EmptyForm
from activities import figures as activity_figures
from core.extensions import db
from courses.access import course_or_403
from courses.consent import consent_states
from courses.forms import REMINDER_CHOICES
from courses.services import find_course_parents
from dashboard import home as home_page
from recordings import participation as figures
from recordings.models import Recording
from sessions import deliveries, help_requests, scheduling, services
from sessions.access import session_or_403
from sessions.rsvp import rsvp_counts, rsvp_overview

bp = Blueprint("dashboard", __name__)


@bp.app_template_filter("session_state")
def session_state(workshop_session) -> str:
    """A session's status for the trainer's pages: scheduled, open, past or cancelled."""
    return home_page.session_status(workshop_session)


@bp.app_template_filter("session_status")
def session_status_label(workshop_session) -> str:
    """A session's status in the trainer's words (a past one says so), for every trainer page."""
    return str(home_page.STATUS_LABELS[home_page.session_status(workshop_session)])


@bp.route("/home")
@login_required
def home():
    return render_template("dashboard/home.html", home=home_page.home_for(current_user))


@bp.route("/courses/<int:course_id>")
@login_required
def course(course_id: int):
    course = course_or_403(course_id)
    sessions = scheduling.course_sessions(course)
    search = request.args.get("q", "").strip()[:100]
    parents = find_course_parents(course, search=search, page=request.args.get("page", 1, type=int))
    shown = [p.id for p in parents.items]  # the figures are computed for the page's parents only
    consents = consent_states(course.id, parents.items)  # recording consent per parent in this course
    return render_template("dashboard/course.html", course=course, sessions=sessions, parents=parents,
                           search=search, attendance=services.course_attendance(sessions, shown),
                           watched=figures.watch_summary(course, shown),
                           participation=figures.participation(sessions), empty=EmptyForm(),
                           responded=activity_figures.parent_figures(course, shown),
                           session_responded=activity_figures.session_figures(course), rsvp=rsvp_counts(course),
                           consents=consents)


@bp.route("/sessions/<int:session_id>")
@login_required
def session(session_id: int):
    workshop_session = session_or_403(session_id)
    # Loaded first: the consent log, RSVPs and failed deliveries then find their parents in the session's identity map.
    invitees = services.invitees_of(workshop_session)
    recordings = db.session.scalars(select(Recording).where(Recording.session_id == workshop_session.id)
                                    .order_by(Recording.created_at)).all()
    return render_template("dashboard/session.html", session=workshop_session,
                           state=services.lobby_state(workshop_session),
                           consent=services.consent_overview(workshop_session, invitees),
                           attendance=services.attendance(workshop_session, parents=invitees),
                           invitees=invitees, recordings=recordings, empty=EmptyForm(),
                           rsvps=rsvp_overview(workshop_session, invitees=invitees),
                           failures=deliveries.failed_deliveries(workshop_session),
                           offset_labels={str(c.value): c.label for c in REMINDER_CHOICES})


@bp.route("/sessions/<int:session_id>/help.json")
@login_required
def help_list(session_id: int):
    # Polled by the live page: one read, which also checks the session is the user's (404 otherwise).
    found = help_requests.open_requests(session_id, current_user)
    if found is None:
        abort(404)
    return jsonify(requests=[{
        "id": r.id, "name": r.name, "phone": r.phone, "email": r.email, "created_at": r.created_at.isoformat()}
        for r in found])


@bp.route("/sessions/<int:session_id>/help/handled", methods=["POST"])
@login_required
def help_handled(session_id: int):
    workshop_session = session_or_403(session_id)
    request_id = request.form.get("request_id", type=int)
    if request_id is None or not help_requests.mark_handled(workshop_session, request_id):
        abort(404)
    db.session.commit()
    if request.accept_mimetypes.best == "application/json":
        return "", 204
    return redirect(url_for("sessions.join", session_id=session_id))
