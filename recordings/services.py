"""Receiving recordings (upload, Jibri hand-off, JaaS webhook) and finding them; the pipeline takes over after.

The steps are in steps.py and publish.py, the state machine in pipeline.py, the resumable uploads in uploads.py.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import BinaryIO

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from core.extensions import db
from core.storage import file_sha256, get_storage
from courses.models import Course
from recordings.consent import take_snapshot
from recordings.errors import RecordingError
from recordings.files import (
    copy_stream,
    local_original,
    max_upload_bytes,
    original_key,
    output_dir,  # noqa: F401  (bench/publish.py reads it as services.output_dir)
    safe_name,
    work_root,
)
from recordings.models import Recording, RecordingSource
from recordings.pipeline import advance_recording
from sessions.models import WorkshopSession

log = logging.getLogger(__name__)


# --- lookups ------------------------------------------------------------------------------------------------


def session_for_room(room_name: str) -> WorkshopSession | None:
    """The workshop session that owns a Jitsi room name (case-insensitive, as Jitsi lowercases rooms)."""
    room = (room_name or "").strip().rsplit("/", 1)[-1]
    if not room:
        return None
    query = select(WorkshopSession).where(func.lower(WorkshopSession.room_name) == room.lower())
    return db.session.scalars(query).first()


def find_by_source_ref(*source_refs: str, workshop_session: WorkshopSession | None = None) -> Recording | None:
    """The recording created for one of these idempotency keys, if any; only the session's when one is given."""
    query = select(Recording).where(Recording.source_ref.in_(source_refs))
    if workshop_session is not None:
        query = query.where(Recording.session_id == workshop_session.id)
    return db.session.scalars(query.order_by(Recording.id)).first()


def recordings_for_session(workshop_session: WorkshopSession) -> list[Recording]:
    """The session's recordings, newest first."""
    query = select(Recording).where(Recording.session_id == workshop_session.id).order_by(Recording.id.desc())
    return list(db.session.scalars(query))


# --- ingest -------------------------------------------------------------------------------------------------


def create_recording(workshop_session: WorkshopSession, *, source: RecordingSource, source_ref: str | None = None,
                     source_url: str | None = None) -> Recording:
    """A new recording of a session, in state `received` (the column's default), without an original yet."""
    course = db.session.get(Course, workshop_session.course_id)
    recording = Recording(course=course, session=workshop_session, source=source, source_ref=source_ref,
                          source_url=source_url)
    db.session.add(recording)
    db.session.flush()
    take_snapshot(recording, workshop_session)  # who was present, who had consented (issue 17)
    return recording


def store_original(recording: Recording, path: Path, filename: str | None, *, sha256: str | None = None) -> None:
    """Move the file at `path` into the work folder, store it, record its checksum and start the pipeline."""
    if path.stat().st_size == 0:
        path.unlink(missing_ok=True)
        raise RecordingError(str(_l("Dit bestand is leeg.")), field="file")
    digest = file_sha256(path)
    if sha256 and sha256.lower() != digest:
        path.unlink(missing_ok=True)
        raise RecordingError(str(_l("Het bestand is onderweg beschadigd: de controlesom klopt niet.")), field="file")
    local = local_original(recording)
    local.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, local)
    key = original_key(recording, filename)
    stored = get_storage().put_file(key, local, content_type="application/octet-stream")
    recording.original_key, recording.original_filename = key, safe_name(filename)
    recording.original_size, recording.original_sha256 = stored.size, digest
    recording.progress = 0.0  # still `received`: the original is stored whether it came by upload or download
    db.session.flush()
    advance_recording(recording)


def receive_file(workshop_session: WorkshopSession, path: Path, filename: str | None, *, source: RecordingSource,
                 source_ref: str | None = None, sha256: str | None = None) -> Recording:
    """Create a recording from a local file (upload or Jibri) and start the pipeline after commit."""
    recording = create_recording(workshop_session, source=source, source_ref=source_ref)
    store_original(recording, path, filename, sha256=sha256)
    return recording


def receive_stream(workshop_session: WorkshopSession, stream: BinaryIO, filename: str | None, *,
                   source: RecordingSource, source_ref: str | None = None, sha256: str | None = None) -> Recording:
    """Create a recording from a streamed body, written to disk in chunks, never held in memory."""
    scratch = work_root() / "incoming" / secrets.token_hex(16)
    try:
        copy_stream(stream, scratch, limit=max_upload_bytes())
        return receive_file(workshop_session, scratch, filename, source=source, source_ref=source_ref,
                            sha256=sha256)
    finally:
        scratch.unlink(missing_ok=True)


def receive_jaas_event(event: dict) -> str:
    """Act on one verified JaaS event: a new RECORDING_UPLOADED becomes a recording that downloads after commit."""
    if event.get("eventType") != "RECORDING_UPLOADED":
        return "ignored"
    key = str(event.get("idempotencyKey") or "").strip()
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    link = str(data.get("preAuthenticatedLink") or "")
    if not key or not link.startswith(("https://", "http://")):
        return "ignored"
    source_ref = f"jaas:{key}"[:255]
    if find_by_source_ref(source_ref) is not None:
        return "duplicate"
    workshop_session = session_for_room(str(event.get("fqn") or ""))
    if workshop_session is None:
        log.warning("JaaS recording for unknown room %r ignored", event.get("fqn"))
        return "unknown room"
    recording = create_recording(workshop_session, source=RecordingSource.jaas, source_ref=source_ref,
                                 source_url=link)
    advance_recording(recording)
    return "accepted"
