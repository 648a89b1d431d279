"""Scheduling rules for live workshops: single sessions and weekly series in local time, moves, cancellations and
trainer conflicts; each change is announced by a signal (the calendar outbox listens)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from blinker import Namespace
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.models import User
from core.db import utcnow
from core.errors import DomainError, raise_all
from core.extensions import db
from core.jitsi import new_room_name
from core.text import has_control_chars
from courses.models import Course, Parent, course_trainers
from courses.services import course_parents, known_zones
from sessions.models import SessionKind, SessionStatus, WorkshopSeries, WorkshopSession

MAX_SERIES_COUNT = 52
MIN_DURATION, MAX_DURATION = 5, 8 * 60
MAX_LOBBY_MINUTES = 120
MAX_REASON_LENGTH = 300


_signals = Namespace()
#: Sent with the session (sender) after it was scheduled, moved or cancelled; calendar invites listen.
session_scheduled = _signals.signal("session-scheduled")
session_rescheduled = _signals.signal("session-rescheduled")
session_cancelled = _signals.signal("session-cancelled")


class ScheduleError(DomainError):
    """A session cannot be scheduled as asked."""


def zone(tzid: str) -> ZoneInfo:
    """The zone for an IANA name, or ScheduleError on the timezone field."""
    if tzid not in known_zones():
        raise ScheduleError(_l("Onbekende tijdzone: %(tz)s", tz=tzid), field="timezone")
    try:
        return ZoneInfo(tzid)
    except ZoneInfoNotFoundError:
        raise ScheduleError(_l("Onbekende tijdzone: %(tz)s", tz=tzid), field="timezone") from None


class AmbiguousTimeError(ScheduleError):
    """A local time occurs twice on a date (the hour repeated when the clocks go back): the caller must say which."""

    def __init__(self, message, field: str | None = None, *, local: datetime, tzid: str,
                 offsets: tuple[timedelta, timedelta]):
        super().__init__(message, field)
        self.local, self.tzid, self.offsets = local, tzid, offsets


def weekly_starts(first_local: datetime, tzid: str, count: int, *, fold: int | None = None) -> list[datetime]:
    """UTC start times of `count` weekly dates that keep the same local wall-clock time across DST; ScheduleError
    when a date's wall-clock time does not exist there (the hour skipped when the clocks go forward), and
    AmbiguousTimeError when it occurs twice and `fold` (0: the first, summer time; 1: the second) is not given."""
    tz = zone(tzid)
    naive = first_local.replace(tzinfo=None)
    if fold is None and getattr(first_local.tzinfo, "key", None) == tzid:
        fold = first_local.fold  # an aware time in the zone itself says which occurrence it is
    try:
        starts = [(naive + timedelta(weeks=i)).replace(tzinfo=tz) for i in range(count)]
        for local in starts:
            _check_exists(local)
        if fold is None and (twice := next((local for local in starts if _offsets(local)), None)):
            raise _ambiguous(twice, tzid)
        return [local.replace(fold=fold or 0).astimezone(ZoneInfo("UTC")) for local in starts]
    except OverflowError:  # near the year 1 or 9999 the weeks or the zone's offset leave the calendar
        raise ScheduleError(_l("Deze datum klopt niet."), field="starts_at") from None


def _offsets(local: datetime) -> tuple[timedelta, timedelta] | None:
    """The two UTC offsets of an aware local time that occurs twice (first, second), or None."""
    first, second = local.replace(fold=0).utcoffset(), local.replace(fold=1).utcoffset()
    return (first, second) if first != second else None


def _ambiguous(local: datetime, tzid: str) -> AmbiguousTimeError:
    return AmbiguousTimeError(
        _l("Op %(date)s komt %(time)s twee keer voor: de klok gaat die nacht een uur terug. Kies hieronder welke "
           "tijd je bedoelt.", date=local.strftime("%d-%m-%Y"), time=local.strftime("%H:%M")),
        field="starts_at", local=local.replace(tzinfo=None, fold=0), tzid=tzid, offsets=_offsets(local))


def offsets_at(local: datetime, tzid: str) -> tuple[timedelta, timedelta]:
    """The zone's UTC offsets at a local time: of its first and its second occurrence (equal unless it occurs
    twice)."""
    tz, naive = zone(tzid), local.replace(tzinfo=None)
    return naive.replace(tzinfo=tz, fold=0).utcoffset(), naive.replace(tzinfo=tz, fold=1).utcoffset()


def _check_exists(local: datetime) -> None:
    # zoneinfo silently maps a time in the DST gap to another wall time: a round trip through UTC shows it.
    if local.astimezone(ZoneInfo("UTC")).astimezone(local.tzinfo).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise ScheduleError(_l("Op %(date)s bestaat %(time)s niet: de klok gaat die nacht een uur vooruit. Kies een "
                               "andere tijd.", date=local.strftime("%d-%m-%Y"), time=local.strftime("%H:%M")),
                            field="starts_at")


def _check(*, title: str, duration_minutes: int, starts_at: datetime, allow_past: bool) -> None:
    errors = []
    if not title.strip():
        errors.append(ScheduleError(_l("Geef de bijeenkomst een titel."), field="title"))
    if not MIN_DURATION <= duration_minutes <= MAX_DURATION:
        errors.append(ScheduleError(_l("De duur moet tussen 5 en 480 minuten liggen."), field="duration_minutes"))
    if not allow_past and starts_at <= utcnow():
        errors.append(ScheduleError(_l("Deze datum ligt in het verleden."), field="starts_at"))
    raise_all(errors)


def _check_texts(*, title: str, description: str | None) -> None:
    # Not in _check: moving a date must still work for a title stored before this rule.
    if has_control_chars(title.strip()):
        raise ScheduleError(_l("Schrijf de titel op één regel, zonder tabs of onzichtbare tekens."), field="title")
    if has_control_chars(description or "", multi_line=True):
        raise ScheduleError(_l("Deze tekst bevat een teken dat niet kan."), field="description")


def schedule_session(course: Course, *, title: str, starts_local: datetime, timezone: str,
                     duration_minutes: int = 60, kind: SessionKind = SessionKind.workshop, recorded: bool = False,
                     description: str = "", lobby_minutes: int = 15, series: WorkshopSeries | None = None,
                     invitees: list[Parent] | None = None, allow_past: bool = False,
                     fold: int | None = None) -> WorkshopSession:
    """Schedule one live session at a local time in a zone (invitees None: the whole course; `fold` picks the
    occurrence of a time that occurs twice, see weekly_starts); flushes."""
    starts_at = weekly_starts(starts_local, timezone, 1, fold=fold)[0]
    _check(title=title, duration_minutes=duration_minutes, starts_at=starts_at, allow_past=allow_past)
    _check_texts(title=title, description=description)
    _check_lobby(lobby_minutes)
    workshop_session = WorkshopSession(
        course=course, series=series, title=title.strip(), description=description, kind=kind,
        starts_at=starts_at, timezone=timezone, duration_minutes=duration_minutes, recorded=recorded,
        lobby_minutes=lobby_minutes, room_name=new_room_name(),
    )
    db.session.add(workshop_session)
    set_invitees(workshop_session, invitees, kind=kind)
    db.session.flush()
    session_scheduled.send(workshop_session)
    return workshop_session


def _check_lobby(lobby_minutes: int) -> None:
    if not 0 <= lobby_minutes <= MAX_LOBBY_MINUTES:
        raise ScheduleError(_l("De lobby opent 0 tot 120 minuten voor de start."), field="lobby_minutes")


def set_invitees(workshop_session: WorkshopSession, invitees: list[Parent] | None, *,
                 kind: SessionKind | None = None) -> None:
    """Invite the whole course (None) or exactly these enrolled parents; a one-to-one needs exactly one; flushes."""
    kind = kind or workshop_session.kind
    if kind is SessionKind.one_to_one and (invitees is None or len(invitees) != 1):
        raise ScheduleError(_l("Kies precies één ouder voor een gesprek één op één."), field="invitees")
    if invitees is not None:
        enrolled = {p.id for p in course_parents(workshop_session.course)}
        if not invitees or any(p.id not in enrolled for p in invitees):
            raise ScheduleError(_l("Kies een of meer ouders uit deze cursus."), field="invitees")
    workshop_session.invite_whole_course = invitees is None
    workshop_session.invitees = list(invitees or [])
    db.session.flush()


def minutes_between(starts_local: datetime, ends_local: datetime) -> int:
    """The duration in minutes from a local start to a local end; ScheduleError on `ends_at` if not after."""
    minutes = int((ends_local - starts_local).total_seconds() // 60)
    if minutes <= 0:
        raise ScheduleError(_l("De eindtijd moet na de begintijd liggen."), field="ends_at")
    return minutes


def weeks_until(first_local: datetime, until: date) -> int:
    """How many weekly dates from the first date up to and including `until`; ScheduleError on `until`."""
    if until < first_local.date():
        raise ScheduleError(_l("De einddatum moet na de eerste datum liggen."), field="until")
    count = (until - first_local.date()).days // 7 + 1
    if count > MAX_SERIES_COUNT:
        raise ScheduleError(_l("Kies tussen 1 en %(n)d keer.", n=MAX_SERIES_COUNT), field="until")
    return count


def schedule_series(course: Course, *, title: str, first_local: datetime, timezone: str, count: int | None = None,
                    until: date | None = None, duration_minutes: int = 60, recorded: bool = False,
                    description: str = "", kind: SessionKind = SessionKind.workshop, lobby_minutes: int = 15,
                    invitees: list[Parent] | None = None, allow_past: bool = False,
                    fold: int | None = None) -> WorkshopSeries:
    """Schedule a weekly series of `count` sessions (or up to `until`) at the same local time; flushes."""
    starts = planned_starts(first_local, timezone, count=count, until=until, fold=fold)
    count = len(starts)
    _check_texts(title=title, description=description)
    series = WorkshopSeries(course=course, title=title.strip(), timezone=timezone, count=count)
    db.session.add(series)
    for start in starts:
        local = start.astimezone(ZoneInfo(timezone))
        workshop_session = schedule_session(
            course, title=title, starts_local=local, timezone=timezone, series=series, recorded=recorded,
            duration_minutes=duration_minutes, description=description, kind=kind, lobby_minutes=lobby_minutes,
            invitees=invitees, allow_past=allow_past, fold=local.fold)
        workshop_session.original_starts_at = workshop_session.starts_at
    db.session.flush()
    return series


def planned_starts(first_local: datetime, timezone: str, *, count: int | None = None, until: date | None = None,
                   fold: int | None = None) -> list[datetime]:
    """The UTC starts of a weekly series of `count` dates (or up to `until`), before anything is written."""
    if until is not None:
        count = weeks_until(first_local, until)
    if count is None or not 1 <= count <= MAX_SERIES_COUNT:
        raise ScheduleError(_l("Kies tussen 1 en %(n)d keer.", n=MAX_SERIES_COUNT), field="count")
    return weekly_starts(first_local, timezone, count, fold=fold)


def reschedule_session(workshop_session: WorkshopSession, *, starts_local: datetime, timezone: str | None = None,
                       duration_minutes: int | None = None, fold: int | None = None) -> WorkshopSession:
    """Move one date (the rest of its series stays); raises the calendar SEQUENCE; flushes."""
    timezone = timezone or workshop_session.timezone
    duration_minutes = duration_minutes or workshop_session.duration_minutes
    if workshop_session.status is SessionStatus.cancelled:
        raise ScheduleError(_l("Deze bijeenkomst is geannuleerd."))
    starts_at = weekly_starts(starts_local, timezone, 1, fold=fold)[0]
    _check(title=workshop_session.title, duration_minutes=duration_minutes, starts_at=starts_at, allow_past=False)
    workshop_session.starts_at, workshop_session.timezone = starts_at, timezone
    workshop_session.duration_minutes = duration_minutes
    workshop_session.sequence += 1
    db.session.flush()
    session_rescheduled.send(workshop_session)
    return workshop_session


def clean_reason(reason: str | None) -> str | None:
    """A cancellation reason stripped (None when empty); ScheduleError on `reason` if too long or with control chars."""
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise ScheduleError(_l("Schrijf de reden in hoogstens %(n)d tekens.", n=MAX_REASON_LENGTH), field="reason")
    if has_control_chars(reason, multi_line=True):
        raise ScheduleError(_l("Deze tekst bevat een teken dat niet kan."), field="reason")
    return reason or None


def cancel_session(workshop_session: WorkshopSession, *, reason: str | None = None) -> None:
    """Cancel one date (the rest of its series stays) with an optional reason for the invitees; raises the calendar
    SEQUENCE; flushes."""
    reason = clean_reason(reason)
    if workshop_session.status is SessionStatus.cancelled:
        return
    workshop_session.status = SessionStatus.cancelled
    workshop_session.cancellation_reason = reason
    workshop_session.sequence += 1
    db.session.flush()
    session_cancelled.send(workshop_session)


def cancel_series(series: WorkshopSeries, *, now: datetime | None = None,
                  reason: str | None = None) -> list[WorkshopSession]:
    """Cancel every date of a series that has not ended yet, with an optional reason; returns those cancelled;
    flushes."""
    now = now or utcnow()
    reason = clean_reason(reason)
    todo = [s for s in series.sessions if s.ends_at > now and s.status is not SessionStatus.cancelled]
    for workshop_session in todo:
        cancel_session(workshop_session, reason=reason)
    series.sequence += 1
    db.session.flush()
    return todo


def trainer_conflicts(course: Course, starts_at: datetime, ends_at: datetime, *,
                      exclude: tuple[int, ...] = ()) -> list[WorkshopSession]:
    """Other sessions, of any course sharing a trainer with `course`, that overlap this window."""
    trainer_ids = [t.id for t in course.trainers]
    courses_of_trainers = select(course_trainers.c.course_id).where(course_trainers.c.user_id.in_(trainer_ids))
    query = (select(WorkshopSession)
             .where(WorkshopSession.course_id.in_(courses_of_trainers),
                    WorkshopSession.status != SessionStatus.cancelled,
                    WorkshopSession.starts_at < ends_at,
                    WorkshopSession.id.not_in(exclude or (-1,)))
             .order_by(WorkshopSession.starts_at))
    return [s for s in db.session.scalars(query) if s.ends_at > starts_at]


def series_conflicts(workshop_sessions: list[WorkshopSession]) -> list[WorkshopSession]:
    """Every session that double-books a trainer of these new or moved sessions."""
    ids = tuple(s.id for s in workshop_sessions)
    found: dict[int, WorkshopSession] = {}
    for s in workshop_sessions:
        found |= {c.id: c for c in trainer_conflicts(s.course, s.starts_at, s.ends_at, exclude=ids)}
    return sorted(found.values(), key=lambda s: s.starts_at)


def sessions_of_trainer(user: User) -> list[WorkshopSession]:
    """Every session of the courses a trainer teaches, in time order."""
    courses = select(course_trainers.c.course_id).where(course_trainers.c.user_id == user.id)
    query = select(WorkshopSession).where(WorkshopSession.course_id.in_(courses))
    return list(db.session.scalars(query.order_by(WorkshopSession.starts_at)))


def course_sessions(course: Course) -> list[WorkshopSession]:
    """Every session of a course, in time order."""
    query = select(WorkshopSession).where(WorkshopSession.course_id == course.id)
    return list(db.session.scalars(query.order_by(WorkshopSession.starts_at)))


def upcoming_sessions(course: Course, *, now: datetime | None = None) -> list[WorkshopSession]:
    """The sessions of a course that have not ended and are not cancelled."""
    now = now or utcnow()
    return [s for s in course_sessions(course) if s.ends_at > now and s.status is not SessionStatus.cancelled]

