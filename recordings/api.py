"""The recordings API: uploads by script, the Jibri hand-off, and a recording's status (core.api's blueprint)."""

from __future__ import annotations

import json
import re

from flask import abort, g, jsonify, request

from accounts.api import token_required
from core.api import operation
from core.errors import api_error
from core.extensions import db
from courses.services import can_manage
from recordings import services
from recordings.files import ensure_disk_space, max_upload_bytes
from recordings.models import Recording, RecordingSource
from sessions.access import api_session_or_404

RECORDING_SCHEMA = {
    "type": "object",
    "required": ["id", "uuid", "session_id", "state", "progress", "error", "original_sha256"],
    "properties": {
        "id": {"type": "integer"},
        "uuid": {"type": "string"},
        "session_id": {"type": ["integer", "null"]},
        "source": {"type": "string", "enum": [s.value for s in RecordingSource]},
        "state": {"type": "string"},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "error": {"type": ["string", "null"]},
        "failed_step": {"type": ["string", "null"]},
        "original_sha256": {"type": ["string", "null"]},
        "original_size": {"type": ["integer", "null"]},
        "duration_s": {"type": ["number", "null"]},
        "playable_at": {"type": ["string", "null"], "format": "date-time",
                        "description": "When a first version (the source remuxed, before the full ladder) could "
                                       "first be played; null when there was none"},
    },
}


def recording_json(recording: Recording) -> dict:
    """The API representation of a recording."""
    return {
        "id": recording.id, "uuid": recording.uuid, "session_id": recording.session_id,
        "source": recording.source.value, "state": recording.state.value,
        "progress": round((recording.progress or 0) * 100), "error": recording.error_message,
        "failed_step": recording.failed_step, "original_sha256": recording.original_sha256,
        "original_size": recording.original_size, "duration_s": recording.duration_s,
        "playable_at": recording.playable_at.isoformat() if recording.playable_at else None,
    }


@operation("/sessions/<int:session_id>/recordings", "POST", summary="Upload a recording as the raw request body",
           tag="recordings", response=RECORDING_SCHEMA, status=201, errors=(404, 413, 422, 507))
@token_required
def api_upload_recording(session_id: int):
    workshop_session = api_session_or_404(session_id)
    request.max_content_length = max_upload_bytes()
    ensure_disk_space(request.content_length or 0)
    filename = request.headers.get("X-Filename") or _disposition_filename() or "recording.mp4"
    recording = services.receive_stream(workshop_session, request.stream, filename, source=RecordingSource.upload,
                                        sha256=request.headers.get("X-Content-SHA256"))
    db.session.commit()
    return jsonify(recording_json(recording)), 201


@operation("/jibri/recordings", "POST", summary="Jibri hand-off: multipart `file` (MP4), `metadata` (metadata.json), "
           "`ref` (recording folder name, makes repeats safe) and `sha256`", tag="recordings",
           response=RECORDING_SCHEMA, status=201, errors=(404, 413, 422, 507))
@token_required
def api_jibri_recording():
    request.max_content_length = max_upload_bytes() + 1024 * 1024
    metadata = _jibri_metadata()
    workshop_session = services.session_for_room(str(metadata.get("room") or metadata.get("meeting_url") or ""))
    if workshop_session is None or not can_manage(g.api_user, workshop_session.course):
        return api_error("not_found", "No session you manage uses the room in metadata.json (meeting_url).", 404)
    # Only after the check above, and only among this session's recordings (also in the older unscoped
    # `jibri:<ref>` form): someone else's ref is a new ref here. It is stored with the session id, as source_ref
    # is unique across all recordings.
    ref = (request.form.get("ref") or "").strip()[:200]
    source_ref = f"jibri:{workshop_session.id}:{ref}" if ref else None
    if ref:
        existing = services.find_by_source_ref(source_ref, f"jibri:{ref}", workshop_session=workshop_session)
        if existing is not None:
            return jsonify(recording_json(existing)), 200
    upload_file = request.files.get("file")
    if upload_file is None:
        return api_error("invalid", "Send the recording as the multipart field 'file'.", 422, "file")
    recording = services.receive_stream(workshop_session, upload_file.stream, upload_file.filename,
                                        source=RecordingSource.jibri, source_ref=source_ref,
                                        sha256=request.form.get("sha256"))
    db.session.commit()
    return jsonify(recording_json(recording)), 201


@operation("/recordings/<int:recording_id>", summary="A recording's state, progress and error", tag="recordings",
           response=RECORDING_SCHEMA, errors=(404,))
@token_required
def api_recording(recording_id: int):
    recording = db.session.get(Recording, recording_id)
    if recording is None or not can_manage(g.api_user, recording.course):
        abort(404)  # not 403: that would tell another trainer the recording exists
    return jsonify(recording_json(recording))


def _disposition_filename() -> str | None:
    match = re.search(r'filename="?([^";]+)"?', request.headers.get("Content-Disposition", ""))
    return match[1] if match else None


def _jibri_metadata() -> dict:
    part = request.files.get("metadata")
    raw = part.read(1024 * 1024) if part is not None else (request.form.get("metadata") or "").encode()
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
