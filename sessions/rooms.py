"""Prosody's participant counts for the rooms that are open now (optional polling, JITSI_ROOM_API_URL)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from core.db import utcnow
from core.extensions import db
from core.jitsi import get_jitsi, room_size
from sessions.models import RoomSample, SessionStatus, WorkshopSession
from sessions.scheduling import MAX_DURATION, MAX_LOBBY_MINUTES


def poll_room(workshop_session: WorkshopSession) -> RoomSample | None:
    """Record Prosody's participant count for the room when JITSI_ROOM_API_URL is set (network); flushes."""
    settings = get_jitsi()
    if not settings.room_api_url:
        return None
    sample = RoomSample(session_id=workshop_session.id, participants=room_size(settings, workshop_session.room_name))
    db.session.add(sample)
    db.session.flush()
    return sample


def live_sessions(*, now: datetime | None = None) -> list[WorkshopSession]:
    """Sessions whose room is open now (lobby opened, not past the end), not cancelled."""
    now = now or utcnow()
    query = select(WorkshopSession).where(WorkshopSession.status != SessionStatus.cancelled,
                                          WorkshopSession.starts_at <= now + timedelta(minutes=MAX_LOBBY_MINUTES),
                                          WorkshopSession.starts_at >= now - timedelta(minutes=MAX_DURATION))
    return [s for s in db.session.scalars(query) if s.opens_at <= now < s.ends_at]
