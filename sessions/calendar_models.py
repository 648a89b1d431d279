"""Delivery records (what was sent to whom, so nothing goes out twice) and RSVP answers."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from core import tenancy
from core.db import UTCDateTime, utcnow
from core.extensions import db
from courses.models import CalendarFeed, Parent, parents_of  # noqa: F401 (CalendarFeed: its old home)
from sessions.models import ParentInSession, WorkshopSession


class DeliveryStatus(enum.Enum):
    pending = "pending"
    sent = "sent"
    failed = "failed"


class FailureReason(enum.Enum):
    """Why a delivery failed, in terms the trainer can act on (the raw error is kept in `error`)."""

    unreachable = "unreachable"  # the mail server or SMS service did not answer, through every retry
    refused = "refused"  # the address or number was refused
    setup = "setup"  # our own settings: credentials, sender, no WhatsApp template in the parent's language
    uncertain = "uncertain"  # no answer after sending: it may have arrived, so it is not retried by itself
    cancelled = "cancelled"  # the session was cancelled before the send: nothing to show the trainer
    too_late = "too_late"  # the session had started before a retry could send it
    no_channel = "no_channel"  # no e-mail address and no SMS or WhatsApp: the parent can't be reached
    other = "other"


class RsvpAnswer(enum.Enum):
    coming = "coming"
    not_coming = "not_coming"


class DeliveryState:
    """What invites and reminders both record about sending, and their session (each keeps its own `status` enum
    type)."""

    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    failure: Mapped[FailureReason | None] = mapped_column(Enum(FailureReason, name="delivery_failure_reason"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When a send task last took it up or it was (re)queued: the stale-delivery reaper reads it.
    touched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @declared_attr
    def session(cls) -> Mapped[WorkshopSession]:
        return relationship(WorkshopSession)


def status_indexes(table: str) -> tuple[Index, Index]:
    """Partial indexes of a delivery table: the few pending rows (the stale-delivery reaper walks them by id) and
    the failed rows by session (the trainer's page)."""
    pending, failed = text("status = 'pending'"), text("status = 'failed'")
    return (Index(f"ix_{table}_pending", "id", postgresql_where=pending, sqlite_where=pending),
            Index(f"ix_{table}_failed", "session_id", postgresql_where=failed, sqlite_where=failed))


class InviteDelivery(ParentInSession, DeliveryState, db.Model):
    """One iTIP message (REQUEST or CANCEL) for one session, parent, SEQUENCE and channel."""

    __tablename__ = "invite_deliveries"
    __table_args__ = (UniqueConstraint("session_id", "parent_id", "sequence", "method", "channel"),
                      *status_indexes(__tablename__))

    sequence: Mapped[int]
    #: REQUEST or CANCEL.
    method: Mapped[str] = mapped_column(String(8))
    #: "email", "sms", "whatsapp", or "none": the parent had no channel (recorded failed, `no_channel`).
    channel: Mapped[str] = mapped_column(String(8), default="email", server_default="email")
    #: A change message's earlier times, JSON {session id: [start, end]} (ISO, UTC), so a resend says them too.
    changed_from: Mapped[str | None] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, name="invite_delivery_status"), default=DeliveryStatus.pending
    )

    def __repr__(self) -> str:
        return (f"<InviteDelivery {self.id} {self.method}/{self.channel} s{self.session_id} p{self.parent_id} "
                f"#{self.sequence}>")


class ReminderDelivery(ParentInSession, DeliveryState, db.Model):
    """One reminder (kind: offset in minutes @ the session's SEQUENCE, "1440@0") on one channel
    ("email"/"sms"/"whatsapp"); the unique row is the send-once claim."""

    __tablename__ = "reminder_deliveries"
    __table_args__ = (UniqueConstraint("session_id", "parent_id", "kind", "channel"), *status_indexes(__tablename__))

    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(8))
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, name="reminder_delivery_status"), default=DeliveryStatus.pending
    )

    def __repr__(self) -> str:
        return f"<ReminderDelivery {self.id} {self.kind}/{self.channel} s{self.session_id} p{self.parent_id}>"


class Rsvp(ParentInSession, db.Model):
    """A parent's answer to "are you coming?" for one session; one row, changed when the parent changes it."""

    __tablename__ = "rsvps"
    __table_args__ = (UniqueConstraint("session_id", "parent_id"),)

    answer: Mapped[RsvpAnswer] = mapped_column(Enum(RsvpAnswer, name="rsvp_answer"))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Rsvp s{self.session_id} p{self.parent_id} {self.answer.value}>"


for _model in (InviteDelivery, ReminderDelivery, Rsvp):
    tenancy.register(_model, lambda org, m=_model: m.parent_id.in_(parents_of(org)))


def _insert(model):
    return (postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert)(model)


def insert_once(model: type[InviteDelivery] | type[ReminderDelivery], **values) -> int | None:
    """INSERT a delivery row unless its unique key exists (any worker); returns the new id or None. No savepoint:
    releasing one fires the session's after_commit hook early and would start queued tasks before the commit."""
    values.setdefault("created_at", utcnow())
    statement = _insert(model).values(status=DeliveryStatus.pending, attempts=0, **values)
    return db.session.scalar(statement.on_conflict_do_nothing().returning(model.id))


def insert_many_once(model: type[InviteDelivery] | type[ReminderDelivery], rows: list[dict]) -> list[int]:
    """INSERT many delivery rows in one statement, skipping those whose unique key exists (any worker); returns the
    new ids. The same claim as insert_once, at one round trip per batch instead of one per row."""
    if not rows:
        return []
    now = utcnow()
    values = [{"status": DeliveryStatus.pending, "attempts": 0, "created_at": now, **row} for row in rows]
    statement = _insert(model).values(values).on_conflict_do_nothing().returning(model.id)
    return list(db.session.scalars(statement))


def upsert_rsvp(session_id: int, parent_id: int, answer: RsvpAnswer) -> None:
    """INSERT or change a parent's answer in one statement, so two taps at once never collide; no flush needed."""
    now = utcnow()
    statement = _insert(Rsvp).values(session_id=session_id, parent_id=parent_id, answer=answer, answered_at=now)
    db.session.execute(statement.on_conflict_do_update(index_elements=["session_id", "parent_id"],
                                                       set_={"answer": answer, "answered_at": now}))
