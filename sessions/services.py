"""Scheduling rules for live workshops: single sessions and weekly series in local time."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.jitsi import new_room_name
from courses.models import Course
from sessions.models import SessionKind, SessionStatus, WorkshopSeries, WorkshopSession

MAX_SERIES_COUNT = 52
MIN_DURATION, MAX_DURATION = 5, 8 * 60


class ScheduleError(DomainError):
    """A session cannot be scheduled as asked."""


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(tzid: str) -> ZoneInfo:
    """The zone for an IANA name, or ScheduleError on the timezone field."""
    if tzid not in _known_zones():
        raise ScheduleError(_l("Onbekende tijdzone: %(tz)s", tz=tzid), field="timezone")
    try:
        return ZoneInfo(tzid)
    except ZoneInfoNotFoundError:
        raise ScheduleError(_l("Onbekende tijdzone: %(tz)s", tz=tzid), field="timezone") from None


def weekly_starts(first_local: datetime, tzid: str, count: int) -> list[datetime]:
    """UTC start times of `count` weekly dates that keep the same local wall-clock time across DST."""
    tz = zone(tzid)
    naive = first_local.replace(tzinfo=None)
    return [(naive + timedelta(weeks=i)).replace(tzinfo=tz).astimezone(ZoneInfo("UTC")) for i in range(count)]


def _check(*, title: str, duration_minutes: int, starts_at: datetime, allow_past: bool) -> None:
    if not title.strip():
        raise ScheduleError(_l("Geef de bijeenkomst een titel."), field="title")
    if not MIN_DURATION <= duration_minutes <= MAX_DURATION:
        raise ScheduleError(_l("De duur moet tussen 5 en 480 minuten liggen."), field="duration_minutes")
    if not allow_past and starts_at <= utcnow():
        raise ScheduleError(_l("Deze datum ligt in het verleden."), field="starts_at")


def schedule_session(course: Course, *, title: str, starts_local: datetime, timezone: str,
                     duration_minutes: int = 60, kind: SessionKind = SessionKind.workshop, recorded: bool = False,
                     description: str = "", lobby_minutes: int = 15, series: WorkshopSeries | None = None,
                     allow_past: bool = False) -> WorkshopSession:
    """Schedule one live session at a local time in a zone; flushes."""
    starts_at = weekly_starts(starts_local, timezone, 1)[0]
    _check(title=title, duration_minutes=duration_minutes, starts_at=starts_at, allow_past=allow_past)
    session = WorkshopSession(
        course=course, series=series, title=title.strip(), description=description, kind=kind,
        starts_at=starts_at, timezone=timezone, duration_minutes=duration_minutes, recorded=recorded,
        lobby_minutes=lobby_minutes, room_name=new_room_name(),
    )
    db.session.add(session)
    db.session.flush()
    return session


def schedule_series(course: Course, *, title: str, first_local: datetime, timezone: str, count: int,
                    duration_minutes: int = 60, recorded: bool = False, description: str = "",
                    allow_past: bool = False) -> WorkshopSeries:
    """Schedule a weekly series of `count` sessions at the same local time; flushes."""
    if not 1 <= count <= MAX_SERIES_COUNT:
        raise ScheduleError(_l("Kies tussen 1 en %(n)d keer.", n=MAX_SERIES_COUNT), field="count")
    series = WorkshopSeries(course=course, title=title.strip(), timezone=timezone, count=count)
    db.session.add(series)
    for start in weekly_starts(first_local, timezone, count):
        local = start.astimezone(ZoneInfo(timezone))
        schedule_session(course, title=title, starts_local=local, timezone=timezone, series=series,
                         duration_minutes=duration_minutes, recorded=recorded, description=description,
                         allow_past=allow_past)
    return series


def course_sessions(course: Course) -> list[WorkshopSession]:
    """Every session of a course, in time order."""
    query = select(WorkshopSession).where(WorkshopSession.course_id == course.id)
    return list(db.session.scalars(query.order_by(WorkshopSession.starts_at)))


def upcoming_sessions(course: Course, *, now: datetime | None = None) -> list[WorkshopSession]:
    """The sessions of a course that have not ended and are not cancelled."""
    now = now or utcnow()
    return [s for s in course_sessions(course) if s.ends_at > now and s.status is not SessionStatus.cancelled]
