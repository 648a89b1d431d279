"""A course with known attendance, viewing and answers, for the figures on the course and session pages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from activities.models import ActivityResponse, MediaState, ResponseKind
from core.db import utcnow
from recordings.models import Recording, RecordingSource, RecordingState, WatchProgress
from sessions.models import AttendanceEvent, AttendanceKind
from tests.activities.helpers import make_activity


@pytest.fixture
def figures_course(db, course, create_parent, create_workshop_session):
    """Anna, Bram and Cees; two past sessions (the second for Anna and Bram only) with recordings, one upcoming."""
    anna = create_parent("Anna", course=course, email="anna@example.org")
    bram = create_parent("Bram", course=course, email="bram@example.org")
    cees = create_parent("Cees", course=course, email="cees@example.org")
    start = (utcnow() - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    first = create_workshop_session(title="Eerste", starts_at=start, allow_past=True)
    second = create_workshop_session(title="Tweede", starts_at=start + timedelta(days=1), allow_past=True,
                                     invitees=[anna, bram])
    create_workshop_session(title="Later")

    def event(session, parent, kind, minute):
        db.session.add(AttendanceEvent(session_id=session.id, parent_id=parent.id, kind=kind,
                                       at=session.starts_at + timedelta(minutes=minute)))

    joined, left = AttendanceKind.joined, AttendanceKind.left
    for kind, minute in ((joined, 0), (left, 20), (joined, 30), (joined, 31), (left, 45), (left, 50)):
        event(first, anna, kind, minute)  # 20 + 15 minutes: the second join and the last left change nothing
    event(second, anna, AttendanceKind.join_click, 0)  # a click on the link only: not present
    event(first, bram, joined, 10)  # never left, but the page's heartbeats ran on: counted until the end
    event(first, bram, AttendanceKind.heartbeat, 59)
    event(second, cees, joined, 0)  # not invited to it: not counted
    event(second, cees, left, 10)
    recordings = [Recording(course=course, session=s, source=RecordingSource.upload, state=RecordingState.published,
                            duration_s=duration, published_at=utcnow()) for s, duration in ((first, 100.0),
                                                                                            (second, None))]
    db.session.add_all(recordings)
    db.session.flush()
    for recording, parent, furthest, duration in ((recordings[0], anna, 95, 100), (recordings[1], anna, 30, 60),
                                                  (recordings[1], cees, 60, 60)):
        db.session.add(WatchProgress(recording_id=recording.id, parent_id=parent.id, position_s=furthest,
                                     furthest_s=furthest, duration_s=duration))
    for_course, for_second = make_activity(course, kinds=("text",)), make_activity(course, kinds=("text",),
                                                                                   session_id=second.id)
    make_activity(course, kinds=(), request_text="", title="Alleen lezen")
    for n, (activity, parent, state) in enumerate(((for_course, anna, MediaState.ready),
                                                   (for_second, anna, MediaState.ready),
                                                   (for_second, bram, MediaState.failed))):
        db.session.add(ActivityResponse(activity_id=activity.id, parent_id=parent.id, kind=ResponseKind.text,
                                        text="Gedaan", client_key=f"answer-{n}-" + "k" * 16, state=state))
    db.session.commit()
    return course
