"""A live session's people and room: who is invited, the lobby's state and joining, recording consent and
attendance, and a parent's call for help (scheduling itself is sessions.scheduling)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, exists, func, or_, select, union_all
from sqlalchemy.orm import joinedload

from accounts.models import User
from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.jitsi import JitsiError, get_jitsi, iframe_setup, mint_token, room_url
from core.queue import enqueue_after_commit
from courses.models import Enrolment, Parent
from courses.services import course_parents
from sessions.models import (
    AttendanceEvent,
    AttendanceKind,
    RecordingConsent,
    SessionStatus,
    WorkshopSession,
    session_invitees,
)
from sessions.scheduling import ScheduleError
from sessions.tasks import send_help_notice

# --- Who is invited -------------------------------------------------------------------------------------------


def invitees_of(workshop_session: WorkshopSession) -> list[Parent]:
    """The parents invited to a session: the whole course or the chosen ones."""
    if workshop_session.invite_whole_course:
        return course_parents(workshop_session.course)
    return list(workshop_session.invitees)


def is_invited(workshop_session: WorkshopSession, parent: Parent) -> bool:
    """True when the parent may enter this session's lobby."""
    if workshop_session.invite_whole_course:
        # The parent's own enrolments (loaded once) answer this without loading every parent of the course.
        return any(e.course_id == workshop_session.course_id for e in parent.enrolments)
    return any(p.id == parent.id for p in workshop_session.invitees)


def invited_pairs(*where) -> Select:
    """SELECT (session_id, parent_id) of every invitation: each parent enrolled in the course of a session that
    invites the whole course, and each chosen parent of one that does not; `where` filters on WorkshopSession."""
    whole = (select(WorkshopSession.id.label("session_id"), Enrolment.parent_id.label("parent_id"))
             .join(Enrolment, Enrolment.course_id == WorkshopSession.course_id)
             .where(WorkshopSession.invite_whole_course.is_(True), *where))
    chosen = (select(session_invitees.c.session_id, session_invitees.c.parent_id)
              .join(WorkshopSession, WorkshopSession.id == session_invitees.c.session_id)
              .where(WorkshopSession.invite_whole_course.is_(False), *where))
    return union_all(whole, chosen)


def invited_clause(parent: Parent):
    """SQL condition on WorkshopSession: the parent is invited (for a list of sessions in one query)."""
    enrolled = exists().where(Enrolment.course_id == WorkshopSession.course_id, Enrolment.parent_id == parent.id)
    chosen = exists().where(session_invitees.c.session_id == WorkshopSession.id,
                            session_invitees.c.parent_id == parent.id)
    whole = WorkshopSession.invite_whole_course.is_(True)
    return or_(and_(whole, enrolled), and_(~whole, chosen))


def invitees(workshop_session: WorkshopSession) -> list[Parent]:
    """The parents a session's messages go to (the whole course or the chosen ones), without those whose access
    is revoked (every link in a message would be dead): the one switch for invites and reminders."""
    return [p for p in invitees_of(workshop_session) if p.access_revoked_at is None]


# --- Joining: lobby state and tokens minted at page-serve time ------------------------------------------------

WAITING, OPEN, ENDED, CANCELLED = "waiting", "open", "ended", "cancelled"


class JoinError(DomainError):
    """The room cannot be entered now (not open yet, ended, cancelled) or Jitsi is misconfigured."""


def lobby_state(workshop_session: WorkshopSession, *, now: datetime | None = None) -> str:
    """Where the lobby stands: waiting (countdown), open, ended or cancelled."""
    now = now or utcnow()
    if workshop_session.status is SessionStatus.cancelled:
        return CANCELLED
    if now >= workshop_session.ends_at + timedelta(minutes=get_jitsi().token_grace_minutes):
        return ENDED
    return OPEN if now >= workshop_session.opens_at else WAITING


def jitsi_user_id(person: Parent | User) -> str:
    """The `context.user.id` of a person in a token, and the id the page posts back with its events."""
    return f"parent-{person.id}" if isinstance(person, Parent) else f"trainer-{person.id}"


def join_setup(workshop_session: WorkshopSession, person: Parent | User, *, lang: str | None = None,
               camera_off: bool = False, now: datetime | None = None) -> dict:
    """The IFrame setup (domain, script_url, options with a fresh token) plus the app link; pure but for config."""
    if lobby_state(workshop_session, now=now) != OPEN:
        raise JoinError(_l("De bijeenkomst is nu niet open."))
    settings = get_jitsi()
    moderator = isinstance(person, User)
    # Trainers open the room; their token is valid from the same opening time as the parents'.
    try:
        token = mint_token(settings, room=workshop_session.room_name, user_id=jitsi_user_id(person),
                           name=person.name, email=person.email, moderator=moderator,
                           opens_at=workshop_session.opens_at, ends_at=workshop_session.ends_at, now=now)
    except JitsiError as exc:
        raise JoinError(str(exc)) from None
    overwrite = {"prejoinConfig": {"enabled": False}, "prejoinPageEnabled": False, "disableDeepLinking": True,
                 "startWithVideoMuted": camera_off, "subject": workshop_session.title}
    setup = iframe_setup(settings, workshop_session.room_name, token=token, display_name=person.name,
                         email=None if not moderator else person.email, lang=lang, config_overwrite=overwrite)
    app_url = room_url(settings, workshop_session.room_name, token=token).split("://", 1)[1]
    setup["app_url"] = f"org.jitsi.meet://{app_url}"
    setup["user_id"] = jitsi_user_id(person)
    return setup


# --- Recording consent -----------------------------------------------------------------------------------------


def record_consent(workshop_session: WorkshopSession, parent: Parent, *, objected: bool) -> RecordingConsent:
    """Log a parent's consent or objection to this session's recording, with its time; flushes."""
    if not workshop_session.recorded:
        raise ScheduleError(_l("Deze bijeenkomst wordt niet opgenomen."))
    entry = RecordingConsent(session_id=workshop_session.id, parent_id=parent.id, objected=objected)
    db.session.add(entry)
    db.session.flush()
    return entry


def consent_log(workshop_session: WorkshopSession) -> list[RecordingConsent]:
    """Every consent and objection for a session, oldest first."""
    query = (select(RecordingConsent).where(RecordingConsent.session_id == workshop_session.id)
             .options(joinedload(RecordingConsent.parent)))  # the page names every parent in the log
    return list(db.session.scalars(query.order_by(RecordingConsent.created_at, RecordingConsent.id)))


def has_objected(workshop_session: WorkshopSession, parent: Parent) -> bool:
    """True when the parent's latest word on this recording is an objection."""
    # Only this parent's latest row: the lobby asks on every load, and the log grows with the whole course.
    query = (select(RecordingConsent.objected)
             .where(RecordingConsent.session_id == workshop_session.id, RecordingConsent.parent_id == parent.id)
             .order_by(RecordingConsent.created_at.desc(), RecordingConsent.id.desc()).limit(1))
    return bool(db.session.scalar(query))


def objections(workshop_session: WorkshopSession) -> list[Parent]:
    """The parents whose latest word on this recording is an objection, by name."""
    latest = {c.parent_id: c for c in consent_log(workshop_session)}
    return sorted((c.parent for c in latest.values() if c.objected), key=lambda p: p.name)


# --- Attendance ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceRow:
    """One invited parent's attendance: attended yes/no and minutes in the room."""

    parent: Parent
    attended: bool
    minutes: int


def record_attendance(workshop_session: WorkshopSession, parent: Parent, kind: AttendanceKind, *,
                      user_id: str | None = None, now: datetime | None = None) -> AttendanceEvent:
    """Log a join click or a joined/left event for the parent of this link; refuses another parent's id; flushes."""
    if user_id is not None and user_id != jitsi_user_id(parent):
        raise AttendanceError(_l("Dit bericht hoort niet bij deze link."), field="user_id")
    if lobby_state(workshop_session, now=now) != OPEN:
        raise AttendanceError(_l("De bijeenkomst is nu niet open."))
    event = AttendanceEvent(session_id=workshop_session.id, parent_id=parent.id, kind=kind, at=now or utcnow())
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


#: The room's own events: a parent counts as present only when Jitsi said they joined (IFrame
#: videoConferenceJoined, or a JaaS PARTICIPANT_JOINED webhook), never from a click on the join link.
PRESENCE = (AttendanceKind.joined, AttendanceKind.left)


def _minutes_by(rows, key, until) -> dict:
    """Minutes per key(row) of those with a `joined` event, from event rows (with .kind and .at) sorted by that key,
    then time: one pass."""
    found = {}
    for k, own in groupby(rows, key=key):
        events = list(own)
        if any(event.kind is AttendanceKind.joined for event in events):
            found[k] = _minutes(events, until(k))
    return found


def attendance(workshop_session: WorkshopSession, *, parents: list[Parent] | None = None,
               now: datetime | None = None) -> list[AttendanceRow]:
    """Per invited parent (or per given parent, e.g. one page of them): attended (the room said they joined) and
    minutes between joined and left events; one query for the events."""
    query = (select(AttendanceEvent.parent_id, AttendanceEvent.kind, AttendanceEvent.at)
             .where(AttendanceEvent.session_id == workshop_session.id, AttendanceEvent.kind.in_(PRESENCE))
             .order_by(AttendanceEvent.parent_id, AttendanceEvent.at, AttendanceEvent.id))
    if parents is None:
        parents = invitees_of(workshop_session)
    elif parents:
        query = query.where(AttendanceEvent.parent_id.in_([p.id for p in parents]))
    end = min(now or utcnow(), workshop_session.ends_at)
    rows = db.session.execute(query) if parents else []
    minutes = _minutes_by(rows, lambda row: row.parent_id, lambda _parent_id: end)
    return [AttendanceRow(parent=p, attended=p.id in minutes, minutes=minutes.get(p.id, 0)) for p in parents]


def request_help(workshop_session: WorkshopSession, parent: Parent) -> None:
    """Tell the course's trainers that this parent cannot get in; mail enqueued after commit."""
    enqueue_after_commit(db.session, send_help_notice, workshop_session.id, parent.id)


def course_attendance(sessions: list[WorkshopSession], parent_ids: list[int], *,
                      now: datetime | None = None) -> dict[int, tuple[int, int]]:
    """Per parent id (of those given) invited to any of these sessions whose lobby has opened: (sessions attended,
    total minutes); two queries, whatever the number of sessions and events."""
    now = now or utcnow()
    opened = {s.id: s for s in sessions if s.opens_at <= now}
    if not opened or not parent_ids:
        return {}
    pairs = invited_pairs(WorkshopSession.id.in_(list(opened))).subquery()
    mine = pairs.c.parent_id.in_(parent_ids)
    totals = {parent_id: (0, 0) for parent_id in db.session.scalars(select(pairs.c.parent_id).where(mine).distinct())}
    events = (select(AttendanceEvent.session_id, AttendanceEvent.parent_id, AttendanceEvent.kind, AttendanceEvent.at)
              .join(pairs, (pairs.c.session_id == AttendanceEvent.session_id)
                    & (pairs.c.parent_id == AttendanceEvent.parent_id))
              .where(mine, AttendanceEvent.kind.in_(PRESENCE))
              .order_by(AttendanceEvent.parent_id, AttendanceEvent.session_id, AttendanceEvent.at, AttendanceEvent.id))
    ends = {session_id: min(now, s.ends_at) for session_id, s in opened.items()}
    by_pair = _minutes_by(db.session.execute(events), lambda row: (row.parent_id, row.session_id),
                          lambda pair: ends[pair[1]])
    for (parent_id, _session_id), minutes in by_pair.items():
        count, total = totals[parent_id]
        totals[parent_id] = (count + 1, total + minutes)
    return totals


def session_attendance_counts(session_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per session id (of those given, with any invitee): (parents invited, parents the room saw join); one query."""
    if not session_ids:
        return {}
    pairs = invited_pairs(WorkshopSession.id.in_(session_ids)).subquery()
    # The parents who joined, per session, once each: one pass over the sessions' events instead of a probe per
    # (session, invitee) pair, which cost a second at a course of 1,000 parents.
    joined = (select(AttendanceEvent.session_id, AttendanceEvent.parent_id)
              .where(AttendanceEvent.session_id.in_(session_ids), AttendanceEvent.kind == AttendanceKind.joined)
              .distinct().subquery())
    query = (select(pairs.c.session_id, func.count(), func.count(joined.c.parent_id))
             .outerjoin(joined, (joined.c.session_id == pairs.c.session_id)
                        & (joined.c.parent_id == pairs.c.parent_id))
             .group_by(pairs.c.session_id))
    return {session_id: (invited, int(present or 0)) for session_id, invited, present in db.session.execute(query)}
