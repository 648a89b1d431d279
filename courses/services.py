"""Course rules: courses, their trainers, parents and enrolments."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.models import User
from core.errors import DomainError
from core.extensions import db
from courses.models import Course, Enrolment, Parent


class CourseError(DomainError):
    """A course rule was broken."""


def create_course(*, title: str, trainers: list[User], description: str = "", language: str = "nl",
                  timezone: str = "Europe/Amsterdam", starts_on: date | None = None, ends_on: date | None = None,
                  retention_days: int = 60) -> Course:
    """Create a course run by the given trainers; flushes."""
    if not title.strip():
        raise CourseError(_l("Geef de cursus een titel."), field="title")
    if starts_on and ends_on and ends_on < starts_on:
        raise CourseError(_l("De einddatum ligt voor de begindatum."), field="ends_on")
    course = Course(title=title.strip(), description=description, language=language, timezone=timezone,
                    starts_on=starts_on, ends_on=ends_on, retention_days=retention_days, trainers=list(trainers))
    db.session.add(course)
    db.session.flush()
    return course


def courses_for(user: User) -> list[Course]:
    """The unarchived courses a user may see: their own, or all for a coordinator."""
    query = select(Course).where(Course.archived_at.is_(None)).order_by(Course.title)
    if not user.is_coordinator:
        query = query.where(Course.trainers.any(User.id == user.id))
    return list(db.session.scalars(query))


def can_manage(user: User, course: Course) -> bool:
    """True when the user is a coordinator or one of the course's trainers."""
    return user.is_coordinator or any(t.id == user.id for t in course.trainers)


def add_parent(*, name: str, language: str = "nl", email: str | None = None, phone: str | None = None) -> Parent:
    """Add a parent; flushes."""
    if not name.strip():
        raise CourseError(_l("Vul een naam in."), field="name")
    parent = Parent(name=name.strip(), language=language, email=(email or "").strip().lower() or None, phone=phone)
    db.session.add(parent)
    db.session.flush()
    return parent


def enrol(course: Course, parent: Parent) -> Enrolment:
    """Enrol a parent in a course (no-op when already enrolled); flushes."""
    for existing in parent.enrolments:
        if existing.course_id == course.id:
            return existing
    enrolment = Enrolment(course=course, parent=parent)
    db.session.add(enrolment)
    db.session.flush()
    return enrolment


def course_parents(course: Course) -> list[Parent]:
    """The parents enrolled in a course, by name."""
    query = select(Parent).join(Enrolment).where(Enrolment.course_id == course.id).order_by(Parent.name)
    return list(db.session.scalars(query))
