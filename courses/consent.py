"""Recording consent per parent per course: being recorded in the course's live sessions (rewatching is separate).

Every answer is a row (the history: who consented or withdrew, and when); the latest counts. A parent who never
answered counts as the trainer noted it on the parent's form or import (`Parent.consent_recording`, e.g. a consent
given on paper), and as not consenting when nothing was noted. The parent's own answer always wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, func, select
from sqlalchemy.orm import joinedload

from accounts import audit
from core.extensions import db
from courses.models import CourseConsent, Parent

#: Where a parent's standing answer comes from, for the trainer's pages.
FROM_PARENT, FROM_TRAINER, NOT_ASKED = "parent", "trainer", "none"


@dataclass(frozen=True)
class ConsentState:
    """A parent's standing answer in one course."""

    parent: Parent
    consented: bool
    #: FROM_PARENT (their own answer, or a per-session answer from before), FROM_TRAINER or NOT_ASKED.
    source: str
    answered_at: datetime | None = None


def record_consent(course_id: int, parent: Parent, *, consented: bool, source: str = "parent") -> CourseConsent:
    """Add a parent's answer for a course (the earlier ones stay as history) and its audit row; flushes."""
    entry = CourseConsent(course_id=course_id, parent_id=parent.id, consented=consented, source=source)
    db.session.add(entry)
    db.session.flush()
    audit.record("consent.given" if consented else "consent.withdrawn", parent=parent, course_id=course_id)
    return entry


def has_consent(course_id: int, parent: Parent) -> bool:
    """True when the parent's standing answer in the course is a consent; one query of one column."""
    query = (select(CourseConsent.consented)
             .where(CourseConsent.course_id == course_id, CourseConsent.parent_id == parent.id)
             .order_by(CourseConsent.id.desc()).limit(1))
    answer = db.session.scalar(query)
    return bool(parent.consent_recording) if answer is None else answer


def latest_answers(course_id: int, parent_ids: list[int] | None = None, *,
                   at: datetime | None = None) -> dict[int, CourseConsent]:
    """The latest answer per parent in a course (of the given parents; given up to `at`); one query."""
    if parent_ids is not None and not parent_ids:
        return {}
    latest = (select(func.max(CourseConsent.id)).where(CourseConsent.course_id == course_id)
              .group_by(CourseConsent.parent_id))
    if parent_ids is not None:
        latest = latest.where(CourseConsent.parent_id.in_(parent_ids))
    if at is not None:
        latest = latest.where(CourseConsent.created_at <= at)
    return {c.parent_id: c for c in db.session.scalars(select(CourseConsent).where(CourseConsent.id.in_(latest)))}


def standing(parent: Parent, answer: CourseConsent | Row | None) -> ConsentState:
    """The parent's standing answer from their latest answer in the course, if any, else the trainer's note."""
    if answer is not None:
        return ConsentState(parent, answer.consented, FROM_PARENT, answer.created_at)
    return ConsentState(parent, bool(parent.consent_recording),
                        FROM_TRAINER if parent.consent_recording else NOT_ASKED)


def consent_states(course_id: int, parents: list[Parent], *, at: datetime | None = None) -> dict[int, ConsentState]:
    """Per parent id (of the given parents) the standing answer in the course; one query."""
    answers = latest_answers(course_id, [p.id for p in parents], at=at)
    return {p.id: standing(p, answers.get(p.id)) for p in parents}


def consent_history(course_id: int, parent_ids: list[int] | None = None, *, limit: int = 200) -> list[CourseConsent]:
    """The course's answers (of the given parents), newest first, with their parents; one query."""
    query = (select(CourseConsent).where(CourseConsent.course_id == course_id)
             .options(joinedload(CourseConsent.parent)).order_by(CourseConsent.id.desc()).limit(limit))
    if parent_ids is not None:
        query = query.where(CourseConsent.parent_id.in_(parent_ids))
    return list(db.session.scalars(query))


def parent_answers(parent: Parent, course_ids: list[int]) -> dict[int, Row]:
    """The parent's latest answer per course (of the given courses) as rows of (course_id, consented, created_at);
    one query of three columns, however many courses (the lobby asks on every load)."""
    if not course_ids:
        return {}
    latest = (select(func.max(CourseConsent.id))
              .where(CourseConsent.parent_id == parent.id, CourseConsent.course_id.in_(course_ids))
              .group_by(CourseConsent.course_id))
    query = (select(CourseConsent.course_id, CourseConsent.consented, CourseConsent.created_at)
             .where(CourseConsent.id.in_(latest)))
    return {row.course_id: row for row in db.session.execute(query)}
