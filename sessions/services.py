"""A live session's people and room: who is invited, the lobby's state and joining, recording consent and
attendance, and a parent's call for help (scheduling itself is sessions.scheduling)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, exists, func, or_, select, union_all

from accounts.models import User
from core.cache import get_cache
from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.jitsi import JitsiError, cached_token, get_jitsi, iframe_setup, room_url
from core.queue import enqueue_after_commit
from courses import consent
from courses.models import CourseConsent, Enrolment, Parent
from courses.services import course_parents
from sessions import help_requests, presence
from sessions.models import (
    AttendanceEvent,
    AttendanceKind,
    SessionStatus,
    WorkshopSession,
    session_invitees,
)
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
    return invited_parent(parent.id)


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
        # Minted once per person and session window, then read from the cache (a polled lobby asks again).
        token = cached_token(settings, get_cache(), room=workshop_session.room_name, user_id=jitsi_user_id(person),
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


# --- Recording consent (per parent per course: courses.consent) --------------------------------------------------


def record_consent(workshop_session: WorkshopSession, parent: Parent, *, objected: bool) -> CourseConsent:
    """Record a parent's answer given in a session's lobby: it holds for the whole course; flushes."""
    return consent.record_consent(workshop_session.course_id, parent, consented=not objected)


def lacks_consent(workshop_session: WorkshopSession, parent: Parent) -> bool:
    """True when the session is recorded and the parent has not consented for its course: they join with the
    camera off and a notice; one query of one column (none for a session that is not recorded)."""
    return workshop_session.recorded and not consent.has_consent(workshop_session.course_id, parent)


@dataclass(frozen=True)
class ConsentOverview:
    """Who of a session's invitees consented to being recorded, who did not, and the course's history."""

    states: list[consent.ConsentState]
    without: list[Parent]
    history: list[CourseConsent]


def consent_overview(workshop_session: WorkshopSession, invitees: list[Parent]) -> ConsentOverview:
    """The invitees' standing answers (by name), those without consent, and their history; two queries."""
    states = consent.consent_states(workshop_session.course_id, invitees)
    ordered = sorted(states.values(), key=lambda s: s.parent.name)
    return ConsentOverview(ordered, [s.parent for s in ordered if not s.consented],
                           consent.consent_history(workshop_session.course_id, [p.id for p in invitees]))


def present_parents(workshop_session: WorkshopSession) -> list[Parent]:
    """The parents the room said joined this session (a `joined` event, never a click), by name; one query."""
    joined = (select(AttendanceEvent.parent_id).where(AttendanceEvent.session_id == workshop_session.id,
                                                      AttendanceEvent.kind == AttendanceKind.joined))
    return list(db.session.scalars(select(Parent).where(Parent.id.in_(joined)).order_by(Parent.name, Parent.id)))


def consent_at_recording(workshop_session: WorkshopSession, *, now: datetime | None = None) -> dict:
    """Who was present and whether each had consented for the course when the session ended (or now, if it has
    not ended): plain values to store with a recording; three queries. `without_consent` also names those who
    withdrew since: their recording is not used without the trainer's confirmation either."""
    now = now or utcnow()
    at = min(now, workshop_session.ends_at)
    present = present_parents(workshop_session)
    then = consent.consent_states(workshop_session.course_id, present, at=at)
    current = consent.consent_states(workshop_session.course_id, present) if at < now else then
    return {"at": at.isoformat(), "session_id": workshop_session.id,
            "present": [{"parent_id": p.id, "consented": then[p.id].consented} for p in present],
            "without_consent": [p.id for p in present if not (then[p.id].consented and current[p.id].consented)]}


# --- Attendance ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceRow:
    """One invited parent's attendance: attended yes/no, minutes in the room, and who said so (`sources`)."""

    parent: Parent
    attended: bool
    minutes: int
    sources: frozenset = frozenset()

    @property
    def source_labels(self) -> list[str]:
        """Where these figures come from, in words ("uit de videokamer", "van JaaS"); empty without events."""
        return presence.source_labels(self.sources)


def record_attendance(workshop_session: WorkshopSession, parent: Parent, kind: AttendanceKind, *,
                      user_id: str | None = None, now: datetime | None = None) -> AttendanceEvent:
    """Log a join click or a joined/left event for the parent of this link; refuses another parent's id; flushes.
    A `joined` also starts the visit's heartbeat row, which the page's heartbeats move on (sessions.presence)."""
    if user_id is not None and user_id != jitsi_user_id(parent):
        raise AttendanceError(_l("Dit bericht hoort niet bij deze link."), field="user_id")
    if lobby_state(workshop_session, now=now) != OPEN:
        raise AttendanceError(_l("De bijeenkomst is nu niet open."))
    event = AttendanceEvent(session_id=workshop_session.id, parent_id=parent.id, kind=kind, at=now or utcnow())
    db.session.add(event)
    if kind is AttendanceKind.joined:
        db.session.add(AttendanceEvent(session_id=workshop_session.id, parent_id=parent.id,
                                       kind=AttendanceKind.heartbeat, at=event.at))
    db.session.flush()
    return event


class AttendanceError(DomainError):
    """An attendance event that does not belong to this link or session."""


#: The room's own events: a parent counts as present only when Jitsi said they joined (IFrame
#: videoConferenceJoined, or a JaaS PARTICIPANT_JOINED webhook), never from a click on the join link; the page's
#: heartbeats bound a visit that never said it left (sessions.presence).
PRESENCE = presence.PRESENCE_KINDS


def _minutes_by(rows, key, until, sources: dict | None = None) -> dict:
    """Minutes per key(row) of those with a `joined` event, from event rows (with .kind, .at and .source) sorted by
    that key, then time: one pass; page and JaaS intervals of the same visit count once. Fills `sources` (key ->
    the sources of its joined events) when given."""
    found = {}
    for k, own in groupby(rows, key=key):
        events = list(own)
        joined = frozenset(event.source for event in events if event.kind is AttendanceKind.joined)
        if joined:
            found[k] = presence.minutes_of(presence.intervals(events, until(k)))
            if sources is not None:
                sources[k] = joined
    return found


def attendance(workshop_session: WorkshopSession, *, parents: list[Parent] | None = None,
               now: datetime | None = None) -> list[AttendanceRow]:
    """Per invited parent (or per given parent, e.g. one page of them): attended (the room said they joined) and
    minutes between joined and left events; one query for the events."""
    query = (select(AttendanceEvent.parent_id, AttendanceEvent.kind, AttendanceEvent.at, AttendanceEvent.source)
             .where(AttendanceEvent.session_id == workshop_session.id, AttendanceEvent.kind.in_(PRESENCE))
             .order_by(AttendanceEvent.parent_id, AttendanceEvent.at, AttendanceEvent.id))
    if parents is None:
        parents = invitees_of(workshop_session)
    elif parents:
        query = query.where(AttendanceEvent.parent_id.in_([p.id for p in parents]))
    end = min(now or utcnow(), workshop_session.ends_at)
    rows = db.session.execute(query) if parents else []
    sources: dict = {}
    minutes = _minutes_by(rows, lambda row: row.parent_id, lambda _parent_id: end, sources)
    return [AttendanceRow(parent=p, attended=p.id in minutes, minutes=minutes.get(p.id, 0),
                          sources=sources.get(p.id, frozenset())) for p in parents]


def request_help(workshop_session: WorkshopSession, parent: Parent) -> None:
    """Store that this parent cannot get in (the trainer's live page shows it) and, unless theirs is still open,
    mail the course's trainers after commit; flushes."""
    if help_requests.add_request(workshop_session, parent) is not None:
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
    events = (select(AttendanceEvent.session_id, AttendanceEvent.parent_id, AttendanceEvent.kind, AttendanceEvent.at,
                     AttendanceEvent.source)
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
    """Per session id (of those given, with any invitee): (parents invited, parents the room saw join); two queries
    whose cost follows the number of sessions and joins, not sessions x invitees."""
    if not session_ids:
        return {}
    chosen = (select(session_invitees.c.session_id, func.count())
              .join(WorkshopSession, WorkshopSession.id == session_invitees.c.session_id)
              .where(WorkshopSession.id.in_(session_ids), WorkshopSession.invite_whole_course.is_(False))
              .group_by(session_invitees.c.session_id))
    # A whole-course session invites the course's enrolments: one count per course, not one row per pair (the
    # pairs of ten sessions of a 1,000-parent course cost a third of a second to join and count).
    enrolled = (select(Enrolment.course_id.label("course_id"), func.count().label("n"))
                .where(Enrolment.course_id.in_(select(WorkshopSession.course_id)
                                               .where(WorkshopSession.id.in_(session_ids))))
                .group_by(Enrolment.course_id).subquery())
    whole = (select(WorkshopSession.id, enrolled.c.n)
             .join(enrolled, enrolled.c.course_id == WorkshopSession.course_id)
             .where(WorkshopSession.id.in_(session_ids), WorkshopSession.invite_whole_course.is_(True)))
    invited = {session_id: n for session_id, n in db.session.execute(union_all(chosen, whole))}
    # The parents who joined, once each, and only those invited (a parent may have left the course since).
    present = (select(AttendanceEvent.session_id, func.count(AttendanceEvent.parent_id.distinct()))
               .join(WorkshopSession, WorkshopSession.id == AttendanceEvent.session_id)
               .where(AttendanceEvent.session_id.in_(session_ids), AttendanceEvent.kind == AttendanceKind.joined,
                      invited_parent(AttendanceEvent.parent_id))
               .group_by(AttendanceEvent.session_id))
    joined = dict(db.session.execute(present).all())
    return {session_id: (n, int(joined.get(session_id, 0))) for session_id, n in invited.items() if n}


def invited_parent(parent_id):
    """SQL condition on a row joined to its WorkshopSession: `parent_id` (a column or a value) names a parent
    invited to it."""
    enrolled = exists().where(Enrolment.course_id == WorkshopSession.course_id, Enrolment.parent_id == parent_id)
    chosen = exists().where(session_invitees.c.session_id == WorkshopSession.id,
                            session_invitees.c.parent_id == parent_id)
    whole = WorkshopSession.invite_whole_course.is_(True)
    return or_(and_(whole, enrolled), and_(~whole, chosen))
