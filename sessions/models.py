"""Live workshops (Jitsi rooms in a time window) and the weekly series they may belong to."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Column, Enum, ForeignKey, Index, String, Table, Text, select, text, true
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from core import tenancy
from core.db import UTCDateTime, utcnow
from core.extensions import db
from courses.models import Course, Parent, courses_of, parents_of


class SessionKind(enum.Enum):
    workshop = "workshop"
    parents_meetup = "parents_meetup"
    one_to_one = "one_to_one"


class SessionStatus(enum.Enum):
    scheduled = "scheduled"
    live = "live"
    ended = "ended"
    cancelled = "cancelled"


class AttendanceKind(enum.Enum):
    join_click = "join_click"
    joined = "joined"
    left = "left"
    #: The page is still in the conference: one row per joined interval, moved forward by each heartbeat.
    heartbeat = "heartbeat"


class AttendanceSource(enum.Enum):
    """Who said it: the parent's lobby page (IFrame API events and heartbeats) or a JaaS webhook."""

    page = "page"
    jaas = "jaas"


#: The chosen parents of a session that does not invite the whole course.
session_invitees = Table(
    "workshop_session_invitees",
    db.metadata,
    Column("session_id", ForeignKey("workshop_session.id", ondelete="CASCADE"), primary_key=True),
    Column("parent_id", ForeignKey("parents.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_workshop_session_invitees_parent_id", "parent_id"),  # a parent's sessions (feed ETag, deletion)
)


class WorkshopSeries(db.Model):
    """A weekly series: same local time on the same weekday, `count` dates."""

    __tablename__ = "workshop_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    count: Mapped[int]
    #: Raised on every change that matters to invitees (calendar SEQUENCE).
    sequence: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    course: Mapped[Course] = relationship()
    sessions: Mapped[list[WorkshopSession]] = relationship(
        back_populates="series", order_by="WorkshopSession.starts_at"
    )


class WorkshopSession(db.Model):
    __tablename__ = "workshop_session"
    #: A course's sessions in date order (feeds, pages, the API); also the foreign key's index.
    __table_args__ = (Index("ix_workshop_session_course_id_starts_at", "course_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    series_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_series.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    #: The trainer's own versions per parent language: {"ar": {"title": ..., "description": ...}}; Dutch otherwise.
    translations: Mapped[dict] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    kind: Mapped[SessionKind] = mapped_column(Enum(SessionKind, name="session_kind"), default=SessionKind.workshop)
    status: Mapped[SessionStatus] = mapped_column(
        Enum(SessionStatus, name="session_status"), default=SessionStatus.scheduled
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: A date of a series: its start when the series was scheduled (the calendar RECURRENCE-ID); moves keep it.
    original_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: IANA zone the trainer scheduled in; the local start time is kept in this zone across DST.
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Amsterdam")
    duration_minutes: Mapped[int] = mapped_column(default=60)
    recorded: Mapped[bool] = mapped_column(default=False)
    #: Minutes before the start when the lobby admits parents.
    lobby_minutes: Mapped[int] = mapped_column(default=15)
    #: Unguessable and fixed for the life of the session.
    room_name: Mapped[str] = mapped_column(String(100), unique=True)
    sequence: Mapped[int] = mapped_column(default=0)
    #: False: only `invitees` are invited.
    invite_whole_course: Mapped[bool] = mapped_column(default=True, server_default=true())
    #: What the trainer told the invitees when cancelling (optional; shown in the cancellation messages).
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    course: Mapped[Course] = relationship()
    series: Mapped[WorkshopSeries | None] = relationship(back_populates="sessions")
    invitees: Mapped[list[Parent]] = relationship(secondary=session_invitees, order_by=Parent.name)

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_minutes)

    @property
    def opens_at(self) -> datetime:
        return self.starts_at - timedelta(minutes=self.lobby_minutes)

    @property
    def local_start(self) -> datetime:
        return self.starts_at.astimezone(ZoneInfo(self.timezone))

    @property
    def local_end(self) -> datetime:
        return self.ends_at.astimezone(ZoneInfo(self.timezone))

    def text_in(self, language: str | None, name: str) -> str:
        """`title` or `description` in `language` when the trainer wrote it, else the Dutch (main) text."""
        return ((self.translations or {}).get(language) or {}).get(name) or getattr(self, name)

    def __repr__(self) -> str:
        return f"<WorkshopSession {self.id} {self.starts_at:%Y-%m-%d %H:%M}Z>"


class ParentInSession:
    """The keys of a row about one parent in one session (attendance, deliveries, answers), and its parent."""

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("workshop_session.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)

    @declared_attr
    def parent(cls) -> Mapped[Parent]:
        return relationship(Parent)


class AttendanceEvent(ParentInSession, db.Model):
    """A join click, a joined/left event or a heartbeat of the lobby page (bound to the parent's personal link), or a
    JaaS PARTICIPANT_JOINED/LEFT webhook."""

    __tablename__ = "attendance_events"
    #: A visit's heartbeat row (the max id of a parent's heartbeats in a session) in one index lookup; also a
    #: parent's events in a session, for the minutes.
    __table_args__ = (Index("ix_attendance_events_session_parent_kind", "session_id", "parent_id", "kind", "id"),)

    kind: Mapped[AttendanceKind] = mapped_column(Enum(AttendanceKind, name="attendance_kind"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Where the event came from; the figures say so (sessions.presence).
    source: Mapped[AttendanceSource] = mapped_column(Enum(AttendanceSource, name="attendance_source"),
                                                     default=AttendanceSource.page, server_default="page")


class HelpRequest(ParentInSession, db.Model):
    """A parent's "I can't get in" for a session: mailed to the trainers and shown on the live page until handled."""

    __tablename__ = "help_requests"

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RoomSample(db.Model):
    """The participant count Prosody reported for a session's room at one moment (optional polling)."""

    __tablename__ = "room_samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("workshop_session.id", ondelete="CASCADE"), index=True)
    participants: Mapped[int]
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def sessions_of(organisation_id: int):
    """SELECT of the ids of an organisation's workshop sessions."""
    return select(WorkshopSession.id).where(WorkshopSession.course_id.in_(courses_of(organisation_id)))


tenancy.register(WorkshopSeries, lambda org: WorkshopSeries.course_id.in_(courses_of(org)))
tenancy.register(WorkshopSession, lambda org: WorkshopSession.course_id.in_(courses_of(org)))
tenancy.register(RoomSample, lambda org: RoomSample.session_id.in_(sessions_of(org)))
tenancy.register(AttendanceEvent, lambda org: AttendanceEvent.parent_id.in_(parents_of(org)))
tenancy.register(HelpRequest, lambda org: HelpRequest.parent_id.in_(parents_of(org)))
