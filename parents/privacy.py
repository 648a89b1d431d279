"""A parent's rights under the AVG/GDPR: their data as a page, a JSON and a ZIP; deletion after a grace period."""

from __future__ import annotations

import json
import logging
import posixpath
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import IO, Any

from sqlalchemy import select

from accounts import audit
from activities.answers import delete_parent_files
from activities.models import ActivityResponse
from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_by_name
from core.storage import get_storage
from courses.models import Parent

logger = logging.getLogger("ouderkamer.privacy")

#: Columns that are secrets or internal, never part of an export.
_NOT_EXPORTED = {"link_token_hash"}
#: How long a deletion request waits, so a parent who tapped by mistake (or changes their mind) can cancel it.
GRACE = timedelta(days=7)
#: A ZIP is built on disk past this size, never in memory.
SPOOL_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ExportedFile:
    """One of the parent's stored files: its storage key (never shown) and its name inside the ZIP."""

    key: str
    name: str


def storage_prefix(parent_id: int) -> str:
    """The storage prefix under which every object of a parent lives."""
    return f"parents/{parent_id}/"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return getattr(value, "value", value)  # enums


def _responses(parent: Parent) -> list[ActivityResponse]:
    query = select(ActivityResponse).where(ActivityResponse.parent_id == parent.id).order_by(ActivityResponse.id)
    return list(db.session.scalars(query))


def _file_name(folder: str, stem: str, key: str) -> str:
    extension = posixpath.splitext(key)[1].lower()[:8]
    return f"{folder}/{stem}{extension}"


def exported_files(parent: Parent, responses: list[ActivityResponse] | None = None) -> list[ExportedFile]:
    """The parent's own stored files (photos, clips, voice messages, anything under their prefix) with ZIP names."""
    responses = _responses(parent) if responses is None else responses
    files = []
    for response in responses:
        if response.media_key:
            files.append(ExportedFile(response.media_key, _file_name(
                "antwoorden", f"{response.id}-{response.kind.value}", response.media_key)))
    seen = {f.key for f in files}
    for key in get_storage().list(storage_prefix(parent.id)):
        if key not in seen:
            files.append(ExportedFile(key, "bestanden/" + posixpath.basename(key)))
    return files


def export_parent(parent: Parent) -> dict:
    """The parent's own data as JSON-ready values, files named as in the ZIP, no storage paths (no side effects)."""
    columns = [c.key for c in Parent.__table__.columns if c.key not in _NOT_EXPORTED]
    responses = _responses(parent)
    files = exported_files(parent, responses)
    names = {f.key: f.name for f in files}
    return {
        "parent": {key: _plain(getattr(parent, key)) for key in columns},
        "enrolments": [
            {"course_id": e.course_id, "course_title": e.course.title, "enrolled_at": _plain(e.created_at)}
            for e in sorted(parent.enrolments, key=lambda e: e.course_id)
        ],
        "home_activity_responses": [
            {"activity_id": r.activity_id, "activity_title": r.activity.title, "kind": r.kind.value, "text": r.text,
             "file": names.get(r.media_key), "created_at": _plain(r.created_at)} for r in responses
        ],
        "files": [f.name for f in files],
    }


def export_zip(parent: Parent) -> IO[bytes]:
    """A ZIP of `gegevens.json` and the parent's own files, copied from storage in chunks (a spooled temp file)."""
    data = export_parent(parent)
    storage = get_storage()
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("gegevens.json", json.dumps(data, ensure_ascii=False, indent=2))
        for item in exported_files(parent):
            # Photos, clips and voice are already compressed: store them as they are.
            with storage.open(item.key) as source, archive.open(item.name, "w") as target:
                shutil.copyfileobj(source, target, 256 * 1024)
    spool.seek(0)
    return spool


def deletion_due_at(parent: Parent) -> datetime | None:
    """When a requested deletion will be carried out, or None when none is requested."""
    return parent.deletion_requested_at + GRACE if parent.deletion_requested_at else None


def request_deletion(parent: Parent, *, now: datetime | None = None) -> None:
    """Ask for the parent's deletion after the grace period; the trainers are mailed after commit; flushes."""
    if parent.deletion_requested_at is None:
        parent.deletion_requested_at = now or utcnow()
        audit.record("parent.deletion_requested", parent=parent)
        db.session.flush()
        enqueue_by_name(db.session, "parents.send_deletion_notice", parent.id, cancelled=False)


def cancel_deletion(parent: Parent) -> None:
    """Withdraw the parent's deletion request; the trainers are mailed after commit; flushes."""
    if parent.deletion_requested_at is not None:
        parent.deletion_requested_at = None
        audit.record("parent.deletion_cancelled", parent=parent)
        db.session.flush()
        enqueue_by_name(db.session, "parents.send_deletion_notice", parent.id, cancelled=True)


def due_deletions(*, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Ids of parents whose deletion request is older than the grace period, oldest first."""
    cutoff = (now or utcnow()) - GRACE
    query = (select(Parent.id).where(Parent.deletion_requested_at.is_not(None),
                                     Parent.deletion_requested_at <= cutoff)
             .order_by(Parent.deletion_requested_at).limit(limit))
    return list(db.session.scalars(query))


def delete_parent(parent: Parent) -> None:
    """Delete the parent, their enrolments and their stored objects; flushes, deletes in storage, logs counts."""
    parent_id, enrolments = parent.id, len(parent.enrolments)
    # Storage first: if the commit later fails, a row without media is the safer half-done deletion.
    removed = get_storage().delete_prefix(storage_prefix(parent_id)) + delete_parent_files(parent)
    audit.forget_parent(parent)  # the audit keeps the fact, without the name
    db.session.delete(parent)
    db.session.flush()
    # Anonymous audit line: counts only, nothing that names the parent.
    logger.info("parent deleted on request: enrolments=%d stored_objects=%d", enrolments, removed)

