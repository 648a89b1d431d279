"""Organisations (the tenants: one VVE provider each), their trainers and coordinators, API and reset tokens."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Enum, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import tenancy
from core.db import UTCDateTime, utcnow
from core.extensions import db


def new_session_nonce() -> str:
    """A fresh random session nonce."""
    return secrets.token_hex(16)


class Role(enum.Enum):
    trainer = "trainer"
    coordinator = "coordinator"


class Organisation(db.Model):
    """A VVE provider: it owns its trainers, coordinators, courses and parents; nothing crosses to another."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: Default language of new courses.
    language: Mapped[str] = mapped_column(String(8), default="nl")
    #: Default number of days a new course keeps its recordings.
    retention_days: Mapped[int] = mapped_column(default=60)
    #: The name parents see as the sender of mail and SMS ("" = the installation's own).
    sender_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Organisation {self.id} {self.name!r}>"


class User(UserMixin, db.Model):
    __tablename__ = "users"
    #: The organisation's users by name (lists, the audit page's search); also the foreign key's index.
    __table_args__ = (Index("ix_users_organisation_id_name", "organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    #: Stored lower-cased, so look-ups are case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(Enum(Role, name="user_role"), default=Role.trainer)
    #: Language of the trainer interface and of mails to this user.
    language: Mapped[str] = mapped_column(String(8), default="nl")
    #: E.164; shown to parents who cannot get into the live room ("call or WhatsApp your trainer").
    phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Part of the login session's id; replaced at logout and at a password change, which ends every session.
    session_nonce: Mapped[str] = mapped_column(String(32), default=new_session_nonce)

    organisation: Mapped[Organisation] = relationship()
    api_tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_coordinator(self) -> bool:
        return self.role is Role.coordinator

    def get_id(self) -> str:
        # Flask-Login keeps this in the signed session cookie; accounts.views.load_user checks both parts.
        return f"{self.id}:{self.session_nonce}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role.value}>"


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    #: The first characters of the token, shown in lists so a trainer can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    #: SHA-256 of the whole token; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="api_tokens")


class PasswordReset(db.Model):
    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


def _users_of(organisation_id: int):
    return select(User.id).where(User.organisation_id == organisation_id)


tenancy.register(Organisation, lambda org: Organisation.id == org)
tenancy.register(User, lambda org: User.organisation_id == org)
tenancy.register(ApiToken, lambda org: ApiToken.user_id.in_(_users_of(org)))
tenancy.register(PasswordReset, lambda org: PasswordReset.user_id.in_(_users_of(org)))
