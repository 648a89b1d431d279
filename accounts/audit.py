"""The audit log: who did what to a parent's data, and when (ASVS 7.1.3, 8.3.5; AVG/GDPR art. 5(2), 30).

A row holds ids, a snapshot of the parent's display name and of the actor's name, and details that are counts or
field names, never values, tokens or free text. It is written in the same transaction as the action it records,
so a rolled-back action leaves no row. When a parent is deleted, their rows keep the facts and lose the name.

accounts sits below courses, so parents and courses are taken as plain objects (anything with `id` and `name`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import g, has_request_context, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import JSON, ForeignKey, String, inspect, select, update
from sqlalchemy.orm import Mapped, mapped_column

from accounts.models import User
from core import tenancy
from core.db import UTCDateTime, utcnow
from core.extensions import db

#: Every action the log knows, with its label for the coordinator's page.
ACTIONS = {
    "parent.enrolled": _l("Ingeschreven in een cursus"),
    "parent.removed": _l("Uitgeschreven uit een cursus"),
    "parent.updated": _l("Gegevens gewijzigd"),
    "parent.viewed": _l("Gegevens bekeken"),
    "responses.viewed": _l("Antwoorden van ouders op een thuisactiviteit bekeken"),
    "link.reissued": _l("Nieuwe persoonlijke link gestuurd"),
    "link.revoked": _l("Persoonlijke link ingetrokken"),
    "parents.imported": _l("Ouders geïmporteerd uit een bestand"),
    "parents.exported": _l("Gegevens van ouders opgehaald via de API"),
    "parent.exported": _l("Eigen gegevens gedownload door de ouder"),
    "parent.deleted": _l("Gegevens gewist op verzoek van de ouder"),
}
ACTOR_KINDS = {"staff": _l("Medewerker"), "api": _l("API"), "parent": _l("Ouder"), "system": _l("Systeem")}
#: Details are facts, not content: short values only (field names, counts, channels).
MAX_DETAIL_LENGTH = 40


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: No foreign key, like parent and course: the fact outlives them. None only for rows older than organisations.
    organisation_id: Mapped[int | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: One of ACTIONS.
    action: Mapped[str] = mapped_column(String(40))
    #: staff (logged in), api (bearer token), parent (their own link) or system (CLI, worker).
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    #: No foreign key: the fact outlives the parent (and the course).
    parent_id: Mapped[int | None] = mapped_column(index=True)
    #: The parent's name when it happened; emptied when the parent is deleted.
    parent_name: Mapped[str | None] = mapped_column(String(200))
    course_id: Mapped[int | None] = mapped_column(index=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    def __repr__(self) -> str:
        return f"<AuditEntry {self.id} {self.action} parent={self.parent_id}>"


tenancy.register(AuditEntry, lambda org: AuditEntry.organisation_id == org)


def _actor() -> tuple[str, User | None]:
    if not has_request_context():
        return "system", None
    if g.get("api_user") is not None:
        return "api", g.api_user
    if current_user and current_user.is_authenticated:
        return "staff", current_user
    if (request.view_args or {}).get("token"):
        return "parent", None
    return "system", None


def _organisation_of(parent: Any, actor: User | None) -> int | None:
    for owner in (parent, actor):
        if getattr(owner, "organisation_id", None) is not None:
            return owner.organisation_id
    return tenancy.current()


def _check_details(details: dict[str, Any]) -> dict[str, Any]:
    for key, value in details.items():
        values = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, str) and len(v) > MAX_DETAIL_LENGTH for v in values):
            raise ValueError(f"audit detail {key!r} is too long for a fact; log ids and counts, not content")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in details.items()}


def record(action: str, *, parent: Any = None, course_id: int | None = None, **details: Any) -> AuditEntry:
    """Add an audit row for the current actor in the current transaction; flushes.

    :param course_id: defaults to the `course_id` in the request's URL, if any.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if course_id is None and has_request_context():
        course_id = (request.view_args or {}).get("course_id")
    kind, actor = _actor()
    if parent is not None and parent.id is None:
        db.session.flush()  # a parent added in this transaction gets its id
    entry = AuditEntry(organisation_id=_organisation_of(parent, actor), action=action, actor_kind=kind, actor_id=actor.id if actor else None,
                       actor_name=actor.name if actor else "", parent_id=parent.id if parent else None,
                       parent_name=parent.name if parent else None, course_id=course_id,
                       details=_check_details(details))
    db.session.add(entry)
    db.session.flush()
    return entry


def changed_fields(obj: Any) -> list[str]:
    """Names of the columns of `obj` changed since it was loaded or flushed (call it before the flush)."""
    return sorted(attr.key for attr in inspect(obj).attrs if attr.history.has_changes())


def forget_parent(parent: Any) -> AuditEntry:
    """Record a parent's deletion and remove their name from every audit row (the facts stay); flushes."""
    db.session.execute(update(AuditEntry).where(AuditEntry.parent_id == parent.id).values(parent_name=None))
    entry = record("parent.deleted", parent=parent)
    entry.parent_name = None
    db.session.flush()
    return entry


def entries_query(*, parent_id: int | None = None, course_id: int | None = None, actor_id: int | None = None):
    """The audit rows matching the filters, newest first (a select for db.paginate)."""
    query = select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    for column, value in ((AuditEntry.parent_id, parent_id), (AuditEntry.course_id, course_id),
                          (AuditEntry.actor_id, actor_id)):
        if value is not None:
            query = query.where(column == value)
    return query


def course_titles(organisation_id: int, ids: set[int] | None = None) -> dict[int, str]:
    """Titles of the organisation's courses with these ids, or of all its courses (by table name: accounts may not
    import courses, and a Core query is not scoped, so the organisation is named here)."""
    table = db.metadata.tables.get("courses")
    if table is None or ids == set():
        return {}
    query = select(table.c.id, table.c.title).where(table.c.organisation_id == organisation_id)
    return dict(db.session.execute(query.where(table.c.id.in_(ids)) if ids is not None else query).all())
