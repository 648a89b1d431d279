"""The audit log: who did what to a parent's data, and when (ASVS 7.1.3, 8.3.5; AVG/GDPR art. 5(2), 30).

A row holds ids, a snapshot of the parent's display name and of the actor's name, and details that are counts or
field names, never values, tokens or free text. It is written in the same transaction as the action it records,
so a rolled-back action leaves no row. When a parent is deleted, their rows keep the facts and lose the name.

accounts sits below courses, so parents and courses are taken as plain objects (anything with `id` and `name`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import g, has_request_context, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import JSON, ForeignKey, Index, String, inspect, literal, select, tuple_, update
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
    "parent.deletion_requested": _l("Verwijdering van de gegevens gevraagd door de ouder"),
    "parent.deletion_cancelled": _l("Verwijdering van de gegevens ingetrokken door de ouder"),
    "consent.given": _l("Toestemming gegeven om opgenomen te worden"),
    "consent.withdrawn": _l("Geen toestemming om opgenomen te worden (geweigerd of ingetrokken)"),
    "recording.received": _l("Opname ontvangen; toestemming op het moment van opnemen"),
    "recording.confirmed": _l("Opname bevestigd door de trainer, ook zonder toestemming van iedereen"),
}
ACTOR_KINDS = {"staff": _l("Medewerker"), "api": _l("API"), "parent": _l("Ouder"), "system": _l("Systeem")}
#: Details are facts, not content: short values only (field names, counts, channels).
MAX_DETAIL_LENGTH = 40


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"
    # The page reads newest first, (created_at, id) being the keyset: one index per way in, each ending in the key.
    __table_args__ = tuple(Index(f"ix_audit_entries_{column}_created_at", column, "created_at", "id")
                           for column in ("organisation_id", "parent_id", "course_id", "actor_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    #: No foreign key, like parent and course: the fact outlives them. None only for rows older than organisations.
    organisation_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: One of ACTIONS.
    action: Mapped[str] = mapped_column(String(40))
    #: staff (logged in), api (bearer token), parent (their own link) or system (CLI, worker).
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    #: No foreign key: the fact outlives the parent (and the course).
    parent_id: Mapped[int | None]
    #: The parent's name when it happened; emptied when the parent is deleted.
    parent_name: Mapped[str | None] = mapped_column(String(200))
    course_id: Mapped[int | None]
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


def record(action: str, *, parent: Any = None, course_id: int | None = None, organisation_id: int | None = None,
           **details: Any) -> AuditEntry:
    """Add an audit row for the current actor in the current transaction; flushes.

    :param course_id: defaults to the `course_id` in the request's URL, if any.
    :param organisation_id: for a row without a parent written by no one logged in (a webhook, a worker).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if course_id is None and has_request_context():
        course_id = (request.view_args or {}).get("course_id")
    kind, actor = _actor()
    if parent is not None and parent.id is None:
        db.session.flush()  # a parent added in this transaction gets its id
    entry = AuditEntry(organisation_id=organisation_id or _organisation_of(parent, actor), action=action, actor_kind=kind, actor_id=actor.id if actor else None,
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


#: Entries on one page of the coordinator's log.
PER_PAGE = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"(\d{1,20})\.(\d{1,18})")
_NUMBER = re.compile(r"#?(\d{1,18})")


@dataclass(frozen=True)
class Page:
    """One page of the log, newest first, and the cursors of the pages next to it (None: nothing there)."""

    entries: list[AuditEntry]
    newer: str | None
    older: str | None


def cursor_of(entry: AuditEntry) -> str:
    """The keyset position of an entry for a link: microseconds since 1970 and the id ("1767225600000000.42")."""
    return f"{(entry.created_at - _EPOCH) // timedelta(microseconds=1)}.{entry.id}"


def parse_cursor(value: str) -> tuple[datetime, int]:
    """(created_at, id) of a cursor made by cursor_of; ValueError for anything else."""
    match = _CURSOR.fullmatch(value or "")
    if match is None:
        raise ValueError(f"not an audit cursor: {value!r}")
    return _EPOCH + timedelta(microseconds=int(match[1])), int(match[2])


def _table(name: str):
    # accounts sits below courses: their tables by name, always with the organisation named (Core is not scoped).
    return db.metadata.tables[name]


def _search(column, term: str | None, ids_named):
    """A condition on an id column for a search box: a number ("12" or "#12") is that id, other text a name (any
    part, any case) among the organisation's ids that `ids_named(term)` selects; None for an empty box."""
    term = " ".join((term or "").split())
    if not term:
        return None
    number = _NUMBER.fullmatch(term)
    return column == int(number[1]) if number else column.in_(ids_named(term))


def search_filters(organisation_id: int, *, parent: str | None = None, course: str | None = None,
                   actor: str | None = None) -> list:
    """WHERE clauses for the page's search boxes: parent name or number, course title or number, actor name or
    number, each matched within the organisation only."""
    parents, courses = _table("parents"), _table("courses")
    found = [
        _search(AuditEntry.parent_id, parent, lambda term: select(parents.c.id).where(
            parents.c.organisation_id == organisation_id, parents.c.name.icontains(term, autoescape=True))),
        _search(AuditEntry.course_id, course, lambda term: select(courses.c.id).where(
            courses.c.organisation_id == organisation_id, courses.c.title.icontains(term, autoescape=True))),
        _search(AuditEntry.actor_id, actor, lambda term: select(User.id).where(
            User.organisation_id == organisation_id, User.name.icontains(term, autoescape=True))),
    ]
    return [condition for condition in found if condition is not None]


def entries_page(organisation_id: int, filters: list, *, before: tuple[datetime, int] | None = None,
                 after: tuple[datetime, int] | None = None, per_page: int = PER_PAGE) -> Page:
    """One page of the organisation's log matching `filters`: the newest entries, or those just older than
    `before` or just newer than `after` (keyset on (created_at, id): no count, no offset; one statement)."""
    query = select(AuditEntry).where(AuditEntry.organisation_id == organisation_id, *filters)
    key, newest_first = tuple_(AuditEntry.created_at, AuditEntry.id), (AuditEntry.created_at.desc(),
                                                                       AuditEntry.id.desc())
    if after is not None:
        rows = list(db.session.scalars(query.where(key > tuple_(*_typed(after)))
                                       .order_by(AuditEntry.created_at, AuditEntry.id).limit(per_page + 1)))
        entries = rows[:per_page][::-1]
        return Page(entries, cursor_of(entries[0]) if len(rows) > per_page else None,
                    cursor_of(entries[-1]) if entries else None)
    if before is not None:
        query = query.where(key < tuple_(*_typed(before)))
    rows = list(db.session.scalars(query.order_by(*newest_first).limit(per_page + 1)))
    entries = rows[:per_page]
    return Page(entries, cursor_of(entries[0]) if before is not None and entries else None,
                cursor_of(entries[-1]) if len(rows) > per_page else None)


def _typed(position: tuple[datetime, int]):
    created_at, entry_id = position
    return literal(created_at, UTCDateTime()), literal(entry_id)


def course_titles(organisation_id: int, ids: set[int] | None = None) -> dict[int, str]:
    """Titles of the organisation's courses with these ids, or of all its courses (by table name: accounts may not
    import courses, and a Core query is not scoped, so the organisation is named here)."""
    table = db.metadata.tables.get("courses")
    if table is None or ids == set():
        return {}
    query = select(table.c.id, table.c.title).where(table.c.organisation_id == organisation_id)
    return dict(db.session.execute(query.where(table.c.id.in_(ids)) if ids is not None else query).all())
