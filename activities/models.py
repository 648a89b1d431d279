"""Home activities, their pictures and clips, the parents' responses, the trainers' replies and nudges."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, Enum, ForeignKey, Index, String, Text, UniqueConstraint, select, text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from accounts.models import User
from core import tenancy
from core.db import UTCDateTime, utcnow
from core.extensions import db
from courses.models import Course, Parent, courses_of, parents_of


class ResponseKind(enum.Enum):
    photo = "photo"
    clip = "clip"
    voice = "voice"
    text = "text"


class MediaKind(enum.Enum):
    image = "image"
    clip = "clip"


class MediaState(enum.Enum):
    #: A clip's original is stored and waits for (or is in) its transcode.
    processing = "processing"
    ready = "ready"
    failed = "failed"


def new_uuid() -> str:
    return uuid.uuid4().hex


def processing_index(table: str) -> Index:
    """A partial index of the few clips still processing, by age (the stuck-clip sweep)."""
    processing = text("state = 'processing'")
    return Index(f"ix_{table}_processing", "updated_at", postgresql_where=processing, sqlite_where=processing)


class StoredMediaMixin:
    """The stored file of an activity picture/clip or a response: where it is and whether it is ready."""

    #: Public, unguessable; also the last folder of the storage key.
    uuid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uuid)
    #: The playable object (JPEG, MP4, M4A); while a clip is processing, its original.
    media_key: Mapped[str | None] = mapped_column(String(512))
    poster_key: Mapped[str | None] = mapped_column(String(512))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(BigInteger)
    duration_s: Mapped[float | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @declared_attr
    def state(cls) -> Mapped[MediaState]:  # noqa: N805 - SQLAlchemy's declared_attr takes the class
        return mapped_column(Enum(MediaState, name=f"{cls.__tablename__}_state"), default=MediaState.ready)

    @property
    def keys(self) -> list[str]:
        """Every storage key this row points at."""
        return [k for k in (self.media_key, self.poster_key) if k]


class HomeActivity(db.Model):
    """Something to do at home, attached to the course or to one of its sessions, with an optional request."""

    __tablename__ = "home_activities"
    #: A course's activities, newest first; also the foreign key's index.
    __table_args__ = (Index("ix_home_activities_course_id_created_at", "course_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uuid)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    #: The live session it belongs to; None: the course.
    session_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_session.id", ondelete="SET NULL"),
                                                   index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    #: What we'd like back: comma-separated ResponseKind values; empty means no request.
    request_kinds: Mapped[str] = mapped_column(String(40), default="")
    request_text: Mapped[str] = mapped_column(Text, default="")
    due_on: Mapped[date | None] = mapped_column(Date)
    #: The trainer's own versions per parent language: {"ar": {"title": ..., "body": ..., "request_text": ...}}.
    translations: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    course: Mapped[Course] = relationship()
    media: Mapped[list[ActivityMedia]] = relationship(
        back_populates="activity", cascade="all, delete-orphan", order_by="ActivityMedia.id")

    @property
    def requested(self) -> list[ResponseKind]:
        """The kinds of answer asked for, in a fixed order."""
        asked = set(filter(None, self.request_kinds.split(",")))
        return [kind for kind in ResponseKind if kind.value in asked]

    def text_in(self, language: str, name: str) -> str:
        """`title`, `body` or `request_text` in `language` when the trainer wrote it, else the main text."""
        return ((self.translations or {}).get(language) or {}).get(name) or getattr(self, name)

    def __repr__(self) -> str:
        return f"<HomeActivity {self.id} course={self.course_id}>"


class ActivityMedia(StoredMediaMixin, db.Model):
    """A picture or short clip that belongs to a home activity."""

    __tablename__ = "activity_media"
    __table_args__ = (processing_index(__tablename__),)

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("home_activities.id", ondelete="CASCADE"), index=True)
    kind: Mapped[MediaKind] = mapped_column(Enum(MediaKind, name="activity_media_kind"))

    activity: Mapped[HomeActivity] = relationship(back_populates="media")


class ActivityResponse(StoredMediaMixin, db.Model):
    """One answer of a parent to a home activity: a photo, clip, voice message or text (media may carry text)."""

    __tablename__ = "activity_responses"
    #: An activity's responses in order (the inbox, the API); also the foreign key's index.
    __table_args__ = (UniqueConstraint("parent_id", "client_key"), processing_index(__tablename__),
                      Index("ix_activity_responses_activity_id_created_at", "activity_id", "created_at", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("home_activities.id", ondelete="CASCADE"))
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ResponseKind] = mapped_column(Enum(ResponseKind, name="response_kind"))
    text: Mapped[str] = mapped_column(Text, default="")
    #: The idempotency key the page generated for this answer: a retried POST finds it and stores nothing new.
    client_key: Mapped[str] = mapped_column(String(64))

    activity: Mapped[HomeActivity] = relationship()
    parent: Mapped[Parent] = relationship()

    def __repr__(self) -> str:
        return f"<ActivityResponse {self.id} {self.kind.value} activity={self.activity_id}>"


class ActivityReply(db.Model):
    """A trainer's message in the thread between the course and one parent about one activity."""

    __tablename__ = "activity_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("home_activities.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User | None] = relationship()


class ActivityNudge(db.Model):
    """One reminder to one parent about one activity; `sent_at` makes its delivery happen once."""

    __tablename__ = "activity_nudges"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("home_activities.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)
    #: "email" or "sms", chosen when the nudge was made.
    channel: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _activities_of(organisation_id: int):
    return select(HomeActivity.id).where(HomeActivity.course_id.in_(courses_of(organisation_id)))


tenancy.register(HomeActivity, lambda org: HomeActivity.course_id.in_(courses_of(org)))
tenancy.register(ActivityMedia, lambda org: ActivityMedia.activity_id.in_(_activities_of(org)))
for _model in (ActivityResponse, ActivityReply, ActivityNudge):
    tenancy.register(_model, lambda org, m=_model: m.parent_id.in_(parents_of(org)))
