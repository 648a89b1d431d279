"""The trainer's watched and participation figures, each one aggregate query over the rows it needs; the course
page computes them only for the parents it shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select

from core.db import utcnow
from core.extensions import db
from courses.models import Course
from recordings.models import Recording, RecordingState, WatchProgress
from recordings.playback import WATCHED_FRACTION
from sessions.models import SessionStatus, WorkshopSession
from sessions.services import invited_parent, session_attendance_counts


@dataclass(frozen=True)
class WatchSummary:
    """One parent's viewing of a course's recordings, for the trainer's participants table."""

    watched: int
    total: int
    minutes: int


@dataclass(frozen=True)
class SessionParticipation:
    """One started session: invited parents, how many attended, and how many watched its recording."""

    session: WorkshopSession
    invited: int
    attended: int
    watched: int | None  # None: no published recording


def _watched_enough():
    """SQL condition on WatchProgress joined with its Recording: watched to WATCHED_FRACTION of the recording's
    duration (the player's when the recording has none)."""
    duration = func.coalesce(func.nullif(Recording.duration_s, 0), WatchProgress.duration_s)
    return WatchProgress.furthest_s >= WATCHED_FRACTION * duration


def watch_summary(course: Course, parent_ids: list[int]) -> dict[int, WatchSummary]:
    """Per parent id (enrolled ones of the page): recordings watched to 90 %, recordings published so far, and
    minutes watched; {} while nothing is published. Two queries."""
    published = (Recording.course_id == course.id, Recording.state == RecordingState.published)
    total = db.session.scalar(select(func.count()).select_from(Recording).where(*published))
    if not total or not parent_ids:
        return {}
    query = (select(WatchProgress.parent_id, func.sum(case((_watched_enough(), 1), else_=0)),
                    func.sum(WatchProgress.furthest_s))
             .join(Recording, Recording.id == WatchProgress.recording_id)
             .where(*published, WatchProgress.parent_id.in_(parent_ids)).group_by(WatchProgress.parent_id))
    seen = {parent_id: (int(watched or 0), seconds or 0.0) for parent_id, watched, seconds in db.session.execute(query)}
    return {parent_id: WatchSummary(seen.get(parent_id, (0, 0.0))[0], total,
                                    round(seen.get(parent_id, (0, 0.0))[1] / 60)) for parent_id in parent_ids}


def _watchers(session_ids: list[int]) -> dict[int, int | None]:
    """Per session id: how many invited parents watched one of its published recordings (None: none published);
    two queries."""
    query = (select(Recording.session_id).distinct()
             .where(Recording.session_id.in_(session_ids), Recording.state == RecordingState.published))
    found: dict[int, int | None] = {session_id: 0 for session_id in db.session.scalars(query)}
    if found:
        # From the watch rows of these recordings (few), not from every (session, invitee) pair (many).
        counts = (select(Recording.session_id, func.count(WatchProgress.parent_id.distinct()))
                  .join(Recording, Recording.id == WatchProgress.recording_id)
                  .join(WorkshopSession, WorkshopSession.id == Recording.session_id)
                  .where(Recording.session_id.in_(list(found)), Recording.state == RecordingState.published,
                         _watched_enough(), invited_parent(WatchProgress.parent_id))
                  .group_by(Recording.session_id))
        found.update(db.session.execute(counts).tuples().all())
    return found


def participation(sessions: list[WorkshopSession], *, now: datetime | None = None) -> list[SessionParticipation]:
    """Per session that has opened (not cancelled): invited, attended and watched counts, oldest first; three
    queries whatever the number of sessions and parents."""
    now = now or utcnow()
    opened = [s for s in sessions if s.opens_at <= now and s.status is not SessionStatus.cancelled]
    ids = [s.id for s in opened]
    if not ids:
        return []
    attendance, watchers = session_attendance_counts(ids), _watchers(ids)
    return [SessionParticipation(s, *attendance.get(s.id, (0, 0)), watched=watchers.get(s.id)) for s in opened]
