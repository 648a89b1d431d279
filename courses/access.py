"""Who may act on a course or on a parent of it: the one place each check lives (pages answer 403, the API 404)."""

from __future__ import annotations

from flask import abort, g
from flask_login import current_user

from core.extensions import db
from courses.models import Course, Parent
from courses.services import can_manage, find_enrolment


def course_or_403(course_id: int) -> Course:
    """The course, if the logged-in user may manage it; 404 when unknown (or another organisation's), 403 when
    not theirs."""
    course = db.get_or_404(Course, course_id)
    if not can_manage(current_user, course):
        abort(403)
    return course


def api_course_or_404(course_id: int) -> Course:
    """The course, if the API token's owner may manage it; 404 otherwise, so ids reveal nothing."""
    course = db.session.get(Course, course_id)
    if course is None or not can_manage(g.api_user, course):
        abort(404)
    return course


def parent_or_404(course: Course, parent_id: int) -> Parent:
    """A parent enrolled in the course; 404 otherwise."""
    enrolment = find_enrolment(course, parent_id)
    if enrolment is None:
        abort(404)
    return enrolment.parent
