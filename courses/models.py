"""Courses, parents, enrolments and the parents' calendar tokens (the personal link's hash lives on the parent)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import Organisation, User
from core import tenancy
from core.db import UTCDateTime, utcnow
from core.extensions import db

course_trainers = Table(
    "course_trainers",
    db.metadata,
    Column("course_id", ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_course_trainers_user_id", "user_id"),  # a trainer's courses; the key starts with course_id
)


class Course(db.Model):
    __tablename__ = "courses"
    #: The organisation's courses by title (the course list); also the foreign key's index.
    __table_args__ = (Index("ix_courses_organisation_id_title", "organisation_id", "title"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="nl")
    #: The trainer's own versions per parent language: {"ar": {"title": ..., "description": ...}}; Dutch otherwise.
    translations: Mapped[dict] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Amsterdam")
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    #: Days a recording stays watchable before it expires.
    retention_days: Mapped[int] = mapped_column(default=60)
    #: A new recording goes to parents as soon as it is processed; off: it waits for a trainer's review first.
    publish_automatically: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: Minutes before each session that reminders go out (at most 3; empty = no reminders).
    reminder_offsets: Mapped[list[int]] = mapped_column(JSON, default=lambda: [1440, 60],
                                                        server_default=text("'[1440, 60]'"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation] = relationship()
    trainers: Mapped[list[User]] = relationship(secondary=course_trainers, order_by=User.name)
    enrolments: Mapped[list[Enrolment]] = relationship(back_populates="course", cascade="all, delete-orphan")

    def text_in(self, language: str | None, name: str) -> str:
        """`title` or `description` in `language` when the trainer wrote it, else the Dutch (main) text."""
        return ((self.translations or {}).get(language) or {}).get(name) or getattr(self, name)

    def __repr__(self) -> str:
        return f"<Course {self.id} {self.title!r}>"


class Parent(db.Model):
    __tablename__ = "parents"
    #: The organisation's parents by name (the audit page's search); also the foreign key's index.
    __table_args__ = (Index("ix_parents_organisation_id_name", "organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: A parent belongs to one organisation; the same e-mail in another organisation is another parent.
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    #: E.164, e.g. +31612345678.
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    language: Mapped[str] = mapped_column(String(8), default="nl")
    #: SHA-256 of the personal link's token; the link itself is only shown when issued.
    link_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    link_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set by a revocation (or leaving the organisation's last course): no personal link or calendar token works,
    #: and none is made, until a new link is issued.
    access_revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The parent agreed to being recorded in live sessions.
    consent_recording: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: The parent may be contacted by e-mail / by SMS / by WhatsApp.
    contact_email: Mapped[bool] = mapped_column(default=True, server_default=true())
    contact_sms: Mapped[bool] = mapped_column(default=False, server_default=false())
    contact_whatsapp: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The parent asked for their data to be deleted; a periodic task does so after the grace period (issue 19).
    deletion_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    organisation: Mapped[Organisation] = relationship()
    enrolments: Mapped[list[Enrolment]] = relationship(back_populates="parent", cascade="all, delete-orphan")

    @property
    def channels(self) -> list[str]:
        """The contact channels the parent can be reached on: "email", "sms" and/or "whatsapp"."""
        return [name for name, ok in (("email", self.email and self.contact_email),
                                      ("sms", self.phone and self.contact_sms),
                                      ("whatsapp", self.phone and self.contact_whatsapp)) if ok]

    def __repr__(self) -> str:
        return f"<Parent {self.id}>"


class Enrolment(db.Model):
    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("course_id", "parent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    course: Mapped[Course] = relationship(back_populates="enrolments")
    parent: Mapped[Parent] = relationship(back_populates="enrolments")


class CourseConsent(db.Model):
    """One answer of a parent on being recorded in a course's live sessions, as given; the latest counts and the
    earlier ones are the history (rewatching is not part of it)."""

    __tablename__ = "course_consents"
    #: A parent's latest answer in a course (and its history), newest last; also the course foreign key's index.
    __table_args__ = (Index("ix_course_consents_course_id_parent_id", "course_id", "parent_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)
    consented: Mapped[bool]
    #: Who gave the answer: "parent" (route map or lobby) or "session" (a per-session answer from before 0017).
    source: Mapped[str] = mapped_column(String(16), default="parent")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Parent] = relationship()

    def __repr__(self) -> str:
        return f"<CourseConsent course={self.course_id} parent={self.parent_id} {self.consented}>"


class CalendarFeed(db.Model):
    """A revocable calendar token: a parent's personal feed and join links, or a course's feed for trainers."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (CheckConstraint("(parent_id IS NULL) <> (course_id IS NULL)", name="one_owner"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), unique=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), unique=True)
    #: Random per issue; the token is HMAC(SECRET_KEY, nonce), so invites can rebuild the link without storing it.
    nonce: Mapped[str] = mapped_column(String(43))
    #: SHA-256 of the token, for the lookup.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Parent | None] = relationship()
    course: Mapped[Course | None] = relationship()

    def __repr__(self) -> str:
        return f"<CalendarFeed {self.id} parent={self.parent_id} course={self.course_id}>"


def courses_of(organisation_id: int):
    """SELECT of the ids of an organisation's courses (for the scope of rows that hang off a course)."""
    return select(Course.id).where(Course.organisation_id == organisation_id)


def parents_of(organisation_id: int):
    """SELECT of the ids of an organisation's parents (for the scope of rows that hang off a parent)."""
    return select(Parent.id).where(Parent.organisation_id == organisation_id)


tenancy.register(Course, lambda org: Course.organisation_id == org)
tenancy.register(Parent, lambda org: Parent.organisation_id == org)
tenancy.register(Enrolment, lambda org: Enrolment.course_id.in_(courses_of(org)))
tenancy.register(CourseConsent, lambda org: CourseConsent.course_id.in_(courses_of(org)))
tenancy.register(CalendarFeed, lambda org: or_(CalendarFeed.parent_id.in_(parents_of(org)),
                                               CalendarFeed.course_id.in_(courses_of(org))))
