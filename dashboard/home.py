"""The trainer's home page: what is next across their courses (today's and the next sessions, recordings waiting
for review, home activities with answers nobody replied to yet, parents no message can reach), and the words for
a session's status on every trainer page. A fixed number of queries, whatever the number of courses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, func, not_, or_, select
from sqlalchemy.orm import joinedload

from accounts.models import User
from activities.models import ActivityReply, ActivityResponse, HomeActivity, MediaState
from core.db import utcnow
from core.extensions import db
from courses.models import Course, Enrolment, Parent
from courses.services import courses_for
from recordings.models import Recording, RecordingState
from sessions.models import SessionStatus, WorkshopSession

NEXT_SESSIONS = 5  # after today's
LIST_LIMIT = 20  # rows per list; the page says when there are more

#: The status of a session as trainers read it: `past` once it has ended, whatever the stored status says.
STATUS_LABELS = {
    "scheduled": _l("Gepland"),
    "open": _l("Nu open"),
    "past": _l("Afgelopen"),
    "cancelled": _l("Geannuleerd"),
}


def session_status(workshop_session: WorkshopSession, *, now: datetime | None = None) -> str:
    """One of STATUS_LABELS' keys: cancelled, past (ended), open (the lobby admits people) or scheduled."""
    now = now or utcnow()
    if workshop_session.status is SessionStatus.cancelled:
        return "cancelled"
    if workshop_session.status is SessionStatus.ended or now >= workshop_session.ends_at:
        return "past"
    return "open" if now >= workshop_session.opens_at else "scheduled"


@dataclass(frozen=True)
class AnsweredActivity:
    """A home activity with answers that no trainer has replied to yet."""

    activity: HomeActivity
    course_title: str
    parents: int


@dataclass
class Home:
    """Everything the home page lists."""

    courses: list[Course]
    today: list[WorkshopSession] = field(default_factory=list)
    upcoming: list[WorkshopSession] = field(default_factory=list)
    to_review: list[Recording] = field(default_factory=list)
    answered: list[AnsweredActivity] = field(default_factory=list)
    unreachable: list[tuple[Parent, Course]] = field(default_factory=list)


def _sessions(course_ids: list[int], now: datetime) -> tuple[list[WorkshopSession], list[WorkshopSession]]:
    """(today's sessions in their own time zone, ended ones too; the next uncancelled ones after today)."""
    query = (select(WorkshopSession).where(WorkshopSession.course_id.in_(course_ids),
                                           WorkshopSession.starts_at >= now - timedelta(days=1))
             .order_by(WorkshopSession.starts_at, WorkshopSession.id).limit(LIST_LIMIT + NEXT_SESSIONS))
    today, upcoming = [], []
    for s in db.session.scalars(query):
        if s.local_start.date() == now.astimezone(s.local_start.tzinfo).date():
            today.append(s)
        elif s.starts_at > now and s.status is not SessionStatus.cancelled and len(upcoming) < NEXT_SESSIONS:
            upcoming.append(s)
    return today[:LIST_LIMIT], upcoming


def _to_review(course_ids: list[int]) -> list[Recording]:
    query = (select(Recording).where(Recording.course_id.in_(course_ids),
                                     Recording.state == RecordingState.ready_for_review)
             .options(joinedload(Recording.session)).order_by(Recording.created_at, Recording.id).limit(LIST_LIMIT))
    return list(db.session.scalars(query))


def _answered(course_ids: list[int], courses: dict[int, Course]) -> list[AnsweredActivity]:
    """Activities with a counted answer that is newer than every trainer's reply in that parent's thread."""
    replied = exists().where(ActivityReply.activity_id == ActivityResponse.activity_id,
                             ActivityReply.parent_id == ActivityResponse.parent_id,
                             ActivityReply.created_at >= ActivityResponse.created_at)
    counts = (select(ActivityResponse.activity_id, func.count(ActivityResponse.parent_id.distinct()).label("parents"))
              .join(HomeActivity, HomeActivity.id == ActivityResponse.activity_id)
              .where(HomeActivity.course_id.in_(course_ids), ActivityResponse.state != MediaState.failed, ~replied)
              .group_by(ActivityResponse.activity_id).subquery())
    query = (select(HomeActivity, counts.c.parents).join(counts, counts.c.activity_id == HomeActivity.id)
             .order_by(HomeActivity.created_at.desc(), HomeActivity.id.desc()).limit(LIST_LIMIT))
    return [AnsweredActivity(activity, courses[activity.course_id].title, parents)
            for activity, parents in db.session.execute(query)]


def _reachable():
    """SQL condition on Parent: some channel can reach them (the same rule as Parent.channels)."""
    return or_(and_(Parent.email.is_not(None), Parent.contact_email.is_(True)),
               and_(Parent.phone.is_not(None), or_(Parent.contact_sms.is_(True), Parent.contact_whatsapp.is_(True))))


def _unreachable(course_ids: list[int], courses: dict[int, Course]) -> list[tuple[Parent, Course]]:
    query = (select(Parent, Enrolment.course_id).join(Enrolment, Enrolment.parent_id == Parent.id)
             .where(Enrolment.course_id.in_(course_ids), not_(_reachable()), Parent.access_revoked_at.is_(None))
             .order_by(Parent.name, Parent.id, Enrolment.course_id).limit(LIST_LIMIT))
    return [(parent, courses[course_id]) for parent, course_id in db.session.execute(query)]


def home_for(user: User, *, now: datetime | None = None) -> Home:
    """What the user's home page lists, over the unarchived courses they may see; five queries (the courses, then
    one per list)."""
    now = now or utcnow()
    courses = courses_for(user)
    if not courses:
        return Home(courses=[])
    ids = [c.id for c in courses]
    by_id = {c.id: c for c in courses}
    today, upcoming = _sessions(ids, now)
    return Home(courses=courses, today=today, upcoming=upcoming, to_review=_to_review(ids),
                answered=_answered(ids, by_id), unreachable=_unreachable(ids, by_id))

