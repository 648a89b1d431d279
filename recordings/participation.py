"""The course's participation overview for trainers: per session, how many attended and watched the recording."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from core.extensions import db
from courses.models import Course
from recordings.models import Recording, RecordingState, WatchProgress
from recordings.playback import WATCHED_FRACTION
from sessions.models import SessionStatus, WorkshopSession
from sessions.services import SessionAttendance, opened_sessions_attendance


@dataclass(frozen=True)
class SessionParticipation:
    """One started session: invited parents, how many attended, and how many watched its recording."""

    session: WorkshopSession
    invited: int
    attended: int
    watched: int | None  # None: no published recording


def _watchers(recording: Recording, parent_ids: set[int]) -> set[int]:
    rows = db.session.scalars(select(WatchProgress).where(WatchProgress.recording_id == recording.id))
    duration = recording.duration_s or 0.0
    return {r.parent_id for r in rows
            if r.parent_id in parent_ids and r.furthest_s >= WATCHED_FRACTION * (duration or r.duration_s)}


def _watched(session: WorkshopSession, parent_ids: set[int]) -> int | None:
    query = select(Recording).where(Recording.session_id == session.id, Recording.state == RecordingState.published)
    recordings = list(db.session.scalars(query))
    if not recordings:
        return None
    return len(set().union(*(_watchers(r, parent_ids) for r in recordings)))


def course_participation(course: Course, *, now: datetime | None = None,
                         opened: list[SessionAttendance] | None = None) -> list[SessionParticipation]:
    """Per session that has opened (not cancelled): invited, attended and watched counts, oldest first."""
    result = []
    for session, rows in opened_sessions_attendance(course, now=now) if opened is None else opened:
        if session.status is SessionStatus.cancelled:
            continue
        parent_ids = {row.parent.id for row in rows}
        result.append(SessionParticipation(session=session, invited=len(rows), attended=sum(r.attended for r in rows),
                                           watched=_watched(session, parent_ids)))
    return result
