"""Scheduling rules for live workshops: single sessions and weekly series in local time."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from blinker import Namespace
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.models import User
from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.jitsi import JitsiError, get_jitsi, iframe_setup, mint_token, new_room_name, room_size, room_url
from core.queue import enqueue_after_commit
from core.text import has_control_chars
from courses.models import Course, Parent, course_trainers
from courses.services import course_parents
from sessions.models import (
    AttendanceEvent,
    AttendanceKind,
    RecordingConsent,
    RoomSample,
    SessionKind,
    SessionStatus,
    WorkshopSeries,
    WorkshopSession,
)

MAX_SERIES_COUNT = 52
MIN_DURATION, MAX_DURATION = 5, 8 * 60
MAX_LOBBY_MINUTES = 120


_signals = Namespace()
#: Sent with the session (sender) after it was scheduled, moved or cancelled; calendar invites listen.
session_scheduled = _signals.signal("session-scheduled")
session_rescheduled = _signals.signal("session-rescheduled")
session_cancelled = _signals.signal("session-cancelled")


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
    try:
        return [(naive + timedelta(weeks=i)).replace(tzinfo=tz).astimezone(ZoneInfo("UTC")) for i in range(count)]
    except OverflowError:  # near the year 1 or 9999 the weeks or the zone's offset leave the calendar
        raise ScheduleError(_l("Deze datum klopt niet."), field="starts_at") from None


def _check(*, title: str, duration_minutes: int, starts_at: datetime, allow_past: bool) -> None:
    if not title.strip():
        raise ScheduleError(_l("Geef de bijeenkomst een titel."), field="title")
    if not MIN_DURATION <= duration_minutes <= MAX_DURATION:
        raise ScheduleError(_l("De duur moet tussen 5 en 480 minuten liggen."), field="duration_minutes")
    if not allow_past and starts_at <= utcnow():
        raise ScheduleError(_l("Deze datum ligt in het verleden."), field="starts_at")


def _check_texts(*, title: str, description: str | None) -> None:
    # Not in _check: moving a date must still work for a title stored before this rule.
    if has_control_chars(title.strip()):
        raise ScheduleError(_l("Schrijf de titel op één regel, zonder tabs of onzichtbare tekens."), field="title")
    if has_control_chars(description or "", multi_line=True):
        raise ScheduleError(_l("Deze tekst bevat een teken dat niet kan."), field="description")


def schedule_session(course: Course, *, title: str, starts_local: datetime, timezone: str,
                     duration_minutes: int = 60, kind: SessionKind = SessionKind.workshop, recorded: bool = False,
                     description: str = "", lobby_minutes: int = 15, series: WorkshopSeries | None = None,
                     invitees: list[Parent] | None = None, allow_past: bool = False) -> WorkshopSession:
    """Schedule one live session at a local time in a zone (invitees None: the whole course); flushes."""
    starts_at = weekly_starts(starts_local, timezone, 1)[0]
    _check(title=title, duration_minutes=duration_minutes, starts_at=starts_at, allow_past=allow_past)
    _check_texts(title=title, description=description)
    _check_lobby(lobby_minutes)
    session = WorkshopSession(
        course=course, series=series, title=title.strip(), description=description, kind=kind,
        starts_at=starts_at, timezone=timezone, duration_minutes=duration_minutes, recorded=recorded,
        lobby_minutes=lobby_minutes, room_name=new_room_name(),
    )
    db.session.add(session)
    set_invitees(session, invitees, kind=kind)
    db.session.flush()
    session_scheduled.send(session)
    return session


def _check_lobby(lobby_minutes: int) -> None:
    if not 0 <= lobby_minutes <= MAX_LOBBY_MINUTES:
        raise ScheduleError(_l("De lobby opent 0 tot 120 minuten voor de start."), field="lobby_minutes")


def set_invitees(session: WorkshopSession, invitees: list[Parent] | None, *, kind: SessionKind | None = None) -> None:
    """Invite the whole course (None) or exactly these enrolled parents; a one-to-one needs exactly one; flushes."""
    kind = kind or session.kind
    if kind is SessionKind.one_to_one and (invitees is None or len(invitees) != 1):
        raise ScheduleError(_l("Kies precies één ouder voor een gesprek één op één."), field="invitees")
    if invitees is not None:
        enrolled = {p.id for p in course_parents(session.course)}
        if not invitees or any(p.id not in enrolled for p in invitees):
            raise ScheduleError(_l("Kies een of meer ouders uit deze cursus."), field="invitees")
    session.invite_whole_course = invitees is None
    session.invitees = list(invitees or [])
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
                    invitees: list[Parent] | None = None, allow_past: bool = False) -> WorkshopSeries:
    """Schedule a weekly series of `count` sessions (or up to `until`) at the same local time; flushes."""
    if until is not None:
        count = weeks_until(first_local, until)
    if count is None or not 1 <= count <= MAX_SERIES_COUNT:
        raise ScheduleError(_l("Kies tussen 1 en %(n)d keer.", n=MAX_SERIES_COUNT), field="count")
    starts = weekly_starts(first_local, timezone, count)
    _check_texts(title=title, description=description)
    series = WorkshopSeries(course=course, title=title.strip(), timezone=timezone, count=count)
    db.session.add(series)
    for start in starts:
        local = start.astimezone(ZoneInfo(timezone))
        session = schedule_session(course, title=title, starts_local=local, timezone=timezone, series=series,
                                   duration_minutes=duration_minutes, recorded=recorded, description=description,
                                   kind=kind, lobby_minutes=lobby_minutes, invitees=invitees, allow_past=allow_past)
        session.original_starts_at = session.starts_at
    db.session.flush()
    return series


def reschedule_session(session: WorkshopSession, *, starts_local: datetime, timezone: str | None = None,
                       duration_minutes: int | None = None) -> WorkshopSession:
    """Move one date (the rest of its series stays); raises the calendar SEQUENCE; flushes."""
    timezone = timezone or session.timezone
    duration_minutes = duration_minutes or session.duration_minutes
    if session.status is SessionStatus.cancelled:
        raise ScheduleError(_l("Deze bijeenkomst is geannuleerd."))
    starts_at = weekly_starts(starts_local, timezone, 1)[0]
    _check(title=session.title, duration_minutes=duration_minutes, starts_at=starts_at, allow_past=False)
    session.starts_at, session.timezone, session.duration_minutes = starts_at, timezone, duration_minutes
    session.sequence += 1
    db.session.flush()
    session_rescheduled.send(session)
    return session


def cancel_session(session: WorkshopSession) -> None:
    """Cancel one date (the rest of its series stays); raises the calendar SEQUENCE; flushes."""
    if session.status is SessionStatus.cancelled:
        return
    session.status = SessionStatus.cancelled
    session.sequence += 1
    db.session.flush()
    session_cancelled.send(session)


def cancel_series(series: WorkshopSeries, *, now: datetime | None = None) -> list[WorkshopSession]:
    """Cancel every date of a series that has not ended yet; returns those cancelled; flushes."""
    now = now or utcnow()
    todo = [s for s in series.sessions if s.ends_at > now and s.status is not SessionStatus.cancelled]
    for session in todo:
        cancel_session(session)
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


def series_conflicts(sessions: list[WorkshopSession]) -> list[WorkshopSession]:
    """Every session that double-books a trainer of these new or moved sessions."""
    ids = tuple(s.id for s in sessions)
    found: dict[int, WorkshopSession] = {}
    for s in sessions:
        found |= {c.id: c for c in trainer_conflicts(s.course, s.starts_at, s.ends_at, exclude=ids)}
    return sorted(found.values(), key=lambda s: s.starts_at)


def invitees_of(session: WorkshopSession) -> list[Parent]:
    """The parents invited to a session: the whole course or the chosen ones."""
    return course_parents(session.course) if session.invite_whole_course else list(session.invitees)


def is_invited(session: WorkshopSession, parent: Parent) -> bool:
    """True when the parent may enter this session's lobby."""
    if session.invite_whole_course:
        # The parent's own enrolments (loaded once) answer this without loading every parent of the course.
        return any(e.course_id == session.course_id for e in parent.enrolments)
    return any(p.id == parent.id for p in session.invitees)


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


# --- Joining: lobby state and tokens minted at page-serve time ------------------------------------------------

WAITING, OPEN, ENDED, CANCELLED = "waiting", "open", "ended", "cancelled"


class JoinError(DomainError):
    """The room cannot be entered now (not open yet, ended, cancelled) or Jitsi is misconfigured."""


def lobby_state(session: WorkshopSession, *, now: datetime | None = None) -> str:
    """Where the lobby stands: waiting (countdown), open, ended or cancelled."""
    now = now or utcnow()
    if session.status is SessionStatus.cancelled:
        return CANCELLED
    if now >= session.ends_at + timedelta(minutes=get_jitsi().token_grace_minutes):
        return ENDED
    return OPEN if now >= session.opens_at else WAITING


def jitsi_user_id(person: Parent | User) -> str:
    """The `context.user.id` of a person in a token, and the id the page posts back with its events."""
    return f"parent-{person.id}" if isinstance(person, Parent) else f"trainer-{person.id}"


def join_setup(session: WorkshopSession, person: Parent | User, *, lang: str | None = None,
               camera_off: bool = False, now: datetime | None = None) -> dict:
    """The IFrame setup (domain, script_url, options with a fresh token) plus the app link; pure but for config."""
    if lobby_state(session, now=now) != OPEN:
        raise JoinError(_l("De bijeenkomst is nu niet open."))
    settings = get_jitsi()
    moderator = isinstance(person, User)
    # Trainers open the room; their token is valid from the same opening time as the parents'.
    try:
        token = mint_token(settings, room=session.room_name, user_id=jitsi_user_id(person), name=person.name,
                           email=person.email, moderator=moderator, opens_at=session.opens_at,
                           ends_at=session.ends_at, now=now)
    except JitsiError as exc:
        raise JoinError(str(exc)) from None
    overwrite = {"prejoinConfig": {"enabled": False}, "prejoinPageEnabled": False, "disableDeepLinking": True,
                 "startWithVideoMuted": camera_off, "subject": session.title}
    setup = iframe_setup(settings, session.room_name, token=token, display_name=person.name,
                         email=None if not moderator else person.email, lang=lang, config_overwrite=overwrite)
    app_url = room_url(settings, session.room_name, token=token).split("://", 1)[1]
    setup["app_url"] = f"org.jitsi.meet://{app_url}"
    setup["user_id"] = jitsi_user_id(person)
    return setup


# --- Recording consent -----------------------------------------------------------------------------------------


def record_consent(session: WorkshopSession, parent: Parent, *, objected: bool) -> RecordingConsent:
    """Log a parent's consent or objection to this session's recording, with its time; flushes."""
    if not session.recorded:
        raise ScheduleError(_l("Deze bijeenkomst wordt niet opgenomen."))
    entry = RecordingConsent(session_id=session.id, parent_id=parent.id, objected=objected)
    db.session.add(entry)
    db.session.flush()
    return entry


def consent_log(session: WorkshopSession) -> list[RecordingConsent]:
    """Every consent and objection for a session, oldest first."""
    query = select(RecordingConsent).where(RecordingConsent.session_id == session.id)
    return list(db.session.scalars(query.order_by(RecordingConsent.created_at, RecordingConsent.id)))


def has_objected(session: WorkshopSession, parent: Parent) -> bool:
    """True when the parent's latest word on this recording is an objection."""
    # Only this parent's latest row: the lobby asks on every load, and the log grows with the whole course.
    query = (select(RecordingConsent.objected)
             .where(RecordingConsent.session_id == session.id, RecordingConsent.parent_id == parent.id)
             .order_by(RecordingConsent.created_at.desc(), RecordingConsent.id.desc()).limit(1))
    return bool(db.session.scalar(query))


def objections(session: WorkshopSession) -> list[Parent]:
    """The parents whose latest word on this recording is an objection, by name."""
    latest = {c.parent_id: c for c in consent_log(session)}
    return sorted((c.parent for c in latest.values() if c.objected), key=lambda p: p.name)


# --- Attendance ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceRow:
    """One invited parent's attendance: attended yes/no and minutes in the room."""

    parent: Parent
    attended: bool
    minutes: int


def record_attendance(session: WorkshopSession, parent: Parent, kind: AttendanceKind, *,
                      user_id: str | None = None, now: datetime | None = None) -> AttendanceEvent:
    """Log a join click or a joined/left event for the parent of this link; refuses another parent's id; flushes."""
    if user_id is not None and user_id != jitsi_user_id(parent):
        raise AttendanceError(_l("Dit bericht hoort niet bij deze link."), field="user_id")
    if lobby_state(session, now=now) != OPEN:
        raise AttendanceError(_l("De bijeenkomst is nu niet open."))
    event = AttendanceEvent(session_id=session.id, parent_id=parent.id, kind=kind, at=now or utcnow())
    db.session.add(event)
    db.session.flush()
    return event


class AttendanceError(DomainError):
    """An attendance event that does not belong to this link or session."""


def _minutes(events: list[AttendanceEvent], until: datetime) -> int:
    total, since = timedelta(), None
    for event in events:
        if event.kind is AttendanceKind.joined and since is None:
            since = event.at
        elif event.kind is AttendanceKind.left and since is not None:
            total += event.at - since
            since = None
    if since is not None:
        total += max(until - since, timedelta())
    return int(total.total_seconds() // 60)


def attendance(session: WorkshopSession, *, now: datetime | None = None) -> list[AttendanceRow]:
    """Per invited parent: attended (any join) and minutes between joined and left events."""
    query = select(AttendanceEvent).where(AttendanceEvent.session_id == session.id)
    events = list(db.session.scalars(query.order_by(AttendanceEvent.at, AttendanceEvent.id)))
    until = min(now or utcnow(), session.ends_at)
    rows = []
    for parent in invitees_of(session):
        own = [e for e in events if e.parent_id == parent.id]
        rows.append(AttendanceRow(parent=parent, attended=bool(own), minutes=_minutes(own, until)))
    return rows


def poll_room(session: WorkshopSession) -> RoomSample | None:
    """Record Prosody's participant count for the room when JITSI_ROOM_API_URL is set (network); flushes."""
    settings = get_jitsi()
    if not settings.room_api_url:
        return None
    sample = RoomSample(session_id=session.id, participants=room_size(settings, session.room_name))
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


def request_help(session: WorkshopSession, parent: Parent) -> None:
    """Tell the course's trainers that this parent cannot get in; mail enqueued after commit."""
    # Imported here: tasks import this module (models <- services <- tasks).
    from sessions.tasks import send_help_notice

    enqueue_after_commit(db.session, send_help_notice, session.id, parent.id)


SessionAttendance = tuple[WorkshopSession, list[AttendanceRow]]


def opened_sessions_attendance(course: Course, *, now: datetime | None = None) -> list[SessionAttendance]:
    """Each session of the course whose lobby has opened, with its attendance rows, in time order."""
    now = now or utcnow()
    return [(session, attendance(session, now=now)) for session in course_sessions(course)
            if session.starts_at - timedelta(minutes=session.lobby_minutes) <= now]


def course_attendance(course: Course, *, now: datetime | None = None,
                      opened: list[SessionAttendance] | None = None) -> dict[int, tuple[int, int]]:
    """Per parent id: (sessions attended, total minutes) over the course's sessions that have started."""
    totals: dict[int, tuple[int, int]] = {}
    for _session, rows in opened_sessions_attendance(course, now=now) if opened is None else opened:
        for row in rows:
            count, minutes = totals.get(row.parent.id, (0, 0))
            totals[row.parent.id] = (count + row.attended, minutes + row.minutes)
    return totals
