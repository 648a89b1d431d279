"""A parent's rights under the AVG/GDPR: a copy of their data, and deletion everywhere."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from accounts import audit
from activities.answers import delete_parent_files, export_responses, response_files
from core.extensions import db
from core.storage import get_storage
from courses.models import Parent

logger = logging.getLogger("ouderkamer.privacy")

#: Columns that are secrets or internal, never part of an export.
_NOT_EXPORTED = {"link_token_hash"}


def storage_prefix(parent_id: int) -> str:
    """The storage prefix under which every object of a parent lives."""
    return f"parents/{parent_id}/"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return getattr(value, "value", value)  # enums


def export_parent(parent: Parent) -> dict:
    """The parent's own data as JSON-ready values (no side effects)."""
    columns = [c.key for c in Parent.__table__.columns if c.key not in _NOT_EXPORTED]
    return {
        "parent": {key: _plain(getattr(parent, key)) for key in columns},
        "enrolments": [
            {"course_id": e.course_id, "course_title": e.course.title, "enrolled_at": _plain(e.created_at)}
            for e in sorted(parent.enrolments, key=lambda e: e.course_id)
        ],
        "stored_files": get_storage().list(storage_prefix(parent.id)) + response_files(parent),
        "home_activity_responses": export_responses(parent),
    }


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
