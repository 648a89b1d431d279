"""Live workshops (Jitsi rooms in a time window) and the weekly series they may belong to."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import UTCDateTime, utcnow
from core.extensions import db
from courses.models import Course


class SessionKind(enum.Enum):
    workshop = "workshop"
    parents_meetup = "parents_meetup"
    one_to_one = "one_to_one"


class SessionStatus(enum.Enum):
    scheduled = "scheduled"
    live = "live"
    ended = "ended"
    cancelled = "cancelled"


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

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_series.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[SessionKind] = mapped_column(Enum(SessionKind, name="session_kind"), default=SessionKind.workshop)
    status: Mapped[SessionStatus] = mapped_column(
        Enum(SessionStatus, name="session_status"), default=SessionStatus.scheduled
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: IANA zone the trainer scheduled in; the local start time is kept in this zone across DST.
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Amsterdam")
    duration_minutes: Mapped[int] = mapped_column(default=60)
    recorded: Mapped[bool] = mapped_column(default=False)
    #: Minutes before the start when the lobby admits parents.
    lobby_minutes: Mapped[int] = mapped_column(default=15)
    #: Unguessable and fixed for the life of the session.
    room_name: Mapped[str] = mapped_column(String(100), unique=True)
    sequence: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    course: Mapped[Course] = relationship()
    series: Mapped[WorkshopSeries | None] = relationship(back_populates="sessions")

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_minutes)

    @property
    def local_start(self) -> datetime:
        return self.starts_at.astimezone(ZoneInfo(self.timezone))

    def __repr__(self) -> str:
        return f"<WorkshopSession {self.id} {self.starts_at:%Y-%m-%d %H:%M}Z>"
