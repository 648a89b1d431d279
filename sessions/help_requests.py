"""Parents' "I can't get in" during a live session: stored for the trainer's live page, which polls them, until a
trainer marks them handled (the mail to the trainers is sessions.services.request_help's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select, true, update

from accounts.models import User
from core.db import utcnow
from core.extensions import db
from courses.models import Parent, course_trainers
from sessions.models import HelpRequest, WorkshopSession


@dataclass(frozen=True)
class OpenRequest:
    """One unhandled help request as the live page shows it."""

    id: int
    created_at: datetime
    name: str
    phone: str | None
    email: str | None


def add_request(workshop_session: WorkshopSession, parent: Parent, *,
                now: datetime | None = None) -> HelpRequest | None:
    """Store the parent's call for help, unless one of theirs for this session is still open (then None); flushes."""
    already = select(HelpRequest.id).where(HelpRequest.session_id == workshop_session.id,
                                           HelpRequest.parent_id == parent.id, HelpRequest.handled_at.is_(None))
    if db.session.scalar(already.limit(1)) is not None:
        return None
    request = HelpRequest(session_id=workshop_session.id, parent_id=parent.id, created_at=now or utcnow())
    db.session.add(request)
    db.session.flush()
    return request


def _manages(user: User):
    """SQL condition on WorkshopSession: the user may manage its course (a coordinator: every course in scope)."""
    if user.is_coordinator:
        return true()
    return exists().where(course_trainers.c.course_id == WorkshopSession.course_id,
                          course_trainers.c.user_id == user.id)


def open_requests(session_id: int, user: User) -> list[OpenRequest] | None:
    """The session's unhandled help requests, oldest first; None when the session is unknown or not the user's to
    manage. One query: the live page polls it."""
    query = (select(WorkshopSession.id, HelpRequest.id.label("request_id"), HelpRequest.created_at, Parent.name,
                    Parent.phone, Parent.email)
             .select_from(WorkshopSession)
             .outerjoin(HelpRequest, (HelpRequest.session_id == WorkshopSession.id) & HelpRequest.handled_at.is_(None))
             .outerjoin(Parent, Parent.id == HelpRequest.parent_id)
             .where(WorkshopSession.id == session_id, _manages(user))
             .order_by(HelpRequest.created_at, HelpRequest.id))
    rows = db.session.execute(query).all()
    if not rows:
        return None
    return [OpenRequest(row.request_id, row.created_at, row.name, row.phone, row.email)
            for row in rows if row.request_id is not None and row.name is not None]


def mark_handled(workshop_session: WorkshopSession, request_id: int, *, now: datetime | None = None) -> bool:
    """Mark one of the session's open help requests handled; False when there is no such open request; flushes."""
    result = db.session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == request_id, HelpRequest.session_id == workshop_session.id,
               HelpRequest.handled_at.is_(None))
        .values(handled_at=now or utcnow())
        .execution_options(synchronize_session=False))
    return result.rowcount == 1
