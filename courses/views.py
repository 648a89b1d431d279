"""The trainer's course list and course page."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from accounts.forms import EmptyForm
from core.extensions import db
from courses import services
from courses.models import Course

bp = Blueprint("courses", __name__)


def get_course_or_403(course_id: int) -> Course:
    """The course, if the current user may manage it; 404 when unknown, 403 when not theirs."""
    course = db.get_or_404(Course, course_id)
    if not services.can_manage(current_user, course):
        abort(403)
    return course


@bp.route("/courses")
@login_required
def index():
    return render_template("courses/index.html", courses=services.courses_for(current_user), empty=EmptyForm())


@bp.route("/courses/<int:course_id>")
@login_required
def detail(course_id: int):
    # Imported here: sessions sits above courses in the import direction (architecture.md).
    from sessions.services import course_sessions

    course = get_course_or_403(course_id)
    return render_template("courses/detail.html", course=course, sessions=course_sessions(course),
                           parents=services.course_parents(course), empty=EmptyForm())
