"""Changing scheduled dates: details and time of one date, of this and the following dates, or of the whole series
(moving the series to another weekday or time), and the warnings a trainer confirms before anything is saved."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from core.db import utcnow
from core.errors import raise_all
from core.extensions import db
from courses.models import Course
from courses.services import translation_errors
from sessions import scheduling
from sessions.models import SessionStatus, WorkshopSeries, WorkshopSession

#: Which dates an edit changes.
ONE, FOLLOWING, ALL = "one", "following", "all"


@dataclass
class Warnings:
    """What to confirm before saving: sessions that double-book a trainer, and dates past the course's end."""

    conflicts: list[WorkshopSession] = field(default_factory=list)
    past_end: list[datetime] = field(default_factory=list)
    ends_on: date | None = None

    def __bool__(self) -> bool:
        return bool(self.conflicts or self.past_end)


def plan_warnings(course: Course, starts: list[datetime], duration_minutes: int, timezone: str, *,
                  exclude: tuple[int, ...] = ()) -> Warnings:
    """The warnings for dates about to be scheduled or moved (UTC starts), before anything is written."""
    found: dict[int, WorkshopSession] = {}
    for start in starts:
        ends_at = start + timedelta(minutes=duration_minutes)
        found |= {c.id: c for c in scheduling.trainer_conflicts(course, start, ends_at, exclude=exclude)}
    zone = ZoneInfo(timezone)
    locals_ = [start.astimezone(zone) for start in starts]
    past_end = [local for local in locals_ if course.ends_on and local.date() > course.ends_on]
    return Warnings(sorted(found.values(), key=lambda s: s.starts_at), past_end, course.ends_on)


def remaining_dates(series: WorkshopSeries, *, now: datetime | None = None) -> list[WorkshopSession]:
    """The dates of a series that have not ended and are not cancelled (what cancelling the series cancels)."""
    now = now or utcnow()
    return [s for s in series.sessions if s.status is not SessionStatus.cancelled and s.ends_at > now]


def dates_in_scope(workshop_session: WorkshopSession, scope: str, *, now: datetime | None = None
                   ) -> list[WorkshopSession]:
    """The dates an edit of this date changes: this one, this and the later ones, or every date of its series that
    has not ended and is not cancelled (dates that are over keep their details)."""
    series = workshop_session.series
    if scope == ONE or series is None:
        return [workshop_session]
    held = remaining_dates(series, now=now)
    if scope == FOLLOWING:
        held = [s for s in held if s.starts_at >= workshop_session.starts_at]
    return sorted({s.id: s for s in [*held, workshop_session]}.values(), key=lambda s: s.starts_at)


def planned_times(workshop_session: WorkshopSession, *, scope: str, starts_local: datetime, timezone: str,
                  fold: int | None = None) -> list[tuple[WorkshopSession, datetime]]:
    """Each date in scope with its new UTC start: this date at `starts_local`, every other one moved by as many days
    and to the same local time (a series moves to another weekday or time); nothing is written."""
    shift = starts_local.date() - workshop_session.local_start.date()
    planned = []
    for s in dates_in_scope(workshop_session, scope):
        local = datetime.combine(s.local_start.date() + shift, starts_local.time())
        if (local, timezone) == (s.local_start.replace(tzinfo=None), s.timezone):
            planned.append((s, s.starts_at))  # unchanged: keeps its instant, also the second of a doubled hour
        else:
            planned.append((s, scheduling.weekly_starts(local, timezone, 1, fold=fold)[0]))
    return planned


def set_translations(workshop_sessions: list[WorkshopSession], translations: dict) -> None:
    """Give these dates the trainer's titles and descriptions per parent language ({lang: {"title", "description"}},
    empty ones left out: the Dutch is shown); DomainError on a refused character, before anything changes."""
    raise_all(translation_errors(translations))
    for s in workshop_sessions:
        s.translations = {lang: dict(texts) for lang, texts in translations.items()}


def edit_session(workshop_session: WorkshopSession, *, scope: str = ONE, title: str, description: str,
                 recorded: bool, starts_local: datetime, timezone: str, duration_minutes: int,
                 fold: int | None = None, translations: dict | None = None) -> list[WorkshopSession]:
    """Change the details and time of the dates in scope (see planned_times); each changed date raises its calendar
    SEQUENCE and is announced like a move, so the invitees get the change; returns the changed dates; flushes.

    :param translations: the titles and descriptions per parent language for every date in scope (None: kept).
    """
    if workshop_session.status is SessionStatus.cancelled:
        raise scheduling.ScheduleError(_l("Deze bijeenkomst is geannuleerd."))
    scheduling._check_texts(title=title, description=description)
    raise_all(translation_errors(translations or {}))
    planned = planned_times(workshop_session, scope=scope, starts_local=starts_local, timezone=timezone, fold=fold)
    title, description = title.strip(), description or ""
    changed = []
    for s, starts_at in planned:
        moved = (starts_at, timezone, duration_minutes) != (s.starts_at, s.timezone, s.duration_minutes)
        scheduling._check(title=title, duration_minutes=duration_minutes, starts_at=starts_at, allow_past=not moved)
        translated = translations is not None and translations != (s.translations or {})
        if moved or translated or (title, description, recorded) != (s.title, s.description or "", s.recorded):
            s.title, s.description, s.recorded = title, description, recorded
            if translations is not None:
                set_translations([s], translations)
            s.starts_at, s.timezone, s.duration_minutes = starts_at, timezone, duration_minutes
            s.sequence += 1
            changed.append(s)
    if scope == ALL and workshop_session.series is not None:
        workshop_session.series.title = title
    db.session.flush()
    for s in changed:
        scheduling.session_rescheduled.send(s)
    return changed
