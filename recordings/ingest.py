"""Ingest endpoints for recordings: trainer uploads (resumable), the Jibri hand-off and the JaaS webhook."""

from __future__ import annotations

import json
import re

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy.exc import IntegrityError

from accounts.api import token_required
from core.api import operation
from core.errors import api_error
from core.extensions import csrf, db
from core.jitsi import JitsiSignatureError, verify_jaas_signature
from courses.services import can_manage
from recordings import services
from recordings.models import Recording, RecordingSource, RecordingState
from sessions.models import WorkshopSession

bp = Blueprint("recordings", __name__)

CONTENT_RANGE = re.compile(r"^bytes (\d{1,19})-(\d{1,19})/(\d{1,19})$")  # 19 digits: no int conversion limit hit
DEFAULT_WEBHOOK_TOLERANCE_S = 300
S = RecordingState
STATE_LABELS = {
    S.received: _l("Ontvangen"),
    S.probing: _l("Wordt gecontroleerd"),
    S.queued: _l("Wacht op omzetten"),
    S.transcoding: _l("Wordt omgezet"),
    S.transcoded: _l("Omgezet"),
    S.publishing: _l("Wordt klaargezet"),
    S.published: _l("Klaar om te bekijken"),
    S.expired: _l("Verlopen"),
    S.failed: _l("Mislukt"),
}

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
    },
}


class UploadForm(FlaskForm):
    file = FileField(_l("Videobestand"), validators=[FileRequired(_l("Kies een videobestand."))])


def get_session_or_403(session_id: int) -> WorkshopSession:
    """The workshop session, if the user may manage its course; 404 when unknown, 403 when not theirs."""
    # 403 like the session's own pages (sessions.views), which already tell that the id exists.
    workshop_session = db.get_or_404(WorkshopSession, session_id)
    if not can_manage(current_user, workshop_session.course):
        abort(403)
    return workshop_session


def api_session_or_404(session_id: int) -> WorkshopSession:
    """The workshop session, if the API user may manage its course; 404 otherwise, so ids reveal nothing."""
    workshop_session = db.session.get(WorkshopSession, session_id)
    if workshop_session is None or not can_manage(g.api_user, workshop_session.course):
        abort(404)
    return workshop_session


def recording_json(recording: Recording) -> dict:
    """The API representation of a recording."""
    return {
        "id": recording.id, "uuid": recording.uuid, "session_id": recording.session_id,
        "source": recording.source.value, "state": recording.state.value,
        "progress": round((recording.progress or 0) * 100), "error": recording.error_message,
        "failed_step": recording.failed_step, "original_sha256": recording.original_sha256,
        "original_size": recording.original_size, "duration_s": recording.duration_s,
    }


# --- browser upload ---------------------------------------------------------------------------------------


@bp.route("/sessions/<int:session_id>/recordings/upload", methods=["GET", "POST"])
@login_required
def upload(session_id: int):
    workshop_session = get_session_or_403(session_id)
    request.max_content_length = services.max_upload_bytes() + 1024 * 1024  # the form fields around the file
    form = UploadForm()
    if form.validate_on_submit():
        try:
            recording = services.receive_stream(workshop_session, form.file.data.stream, form.file.data.filename,
                                                source=RecordingSource.upload)
        except services.RecordingError as exc:
            form.file.errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("De video is ontvangen. We zetten hem nu om."), "success")
            return redirect(url_for("recordings.status", recording_id=recording.id))
    return render_template("recordings/upload.html", form=form, workshop_session=workshop_session,
                           recordings=services.recordings_for_session(workshop_session),
                           max_bytes=services.max_upload_bytes(), state_labels=STATE_LABELS), \
        400 if form.errors else 200  # a missing CSRF token too (the view is exempt from CSRFProtect, see below)


@bp.post("/sessions/<int:session_id>/recordings/uploads")
@login_required
def start_upload(session_id: int):
    workshop_session = get_session_or_403(session_id)
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}  # a JSON list or string is no upload description
    try:
        upload_id = services.start_upload(workshop_session, user_id=current_user.id,
                                          filename=str(data.get("filename") or ""), total=int(data.get("size") or 0))
    except (services.RecordingError, ValueError, TypeError, OverflowError) as exc:  # "size": "x", [1], 1e400
        status = getattr(exc, "status", None) or (413 if "groot" in str(exc) else 422)
        return jsonify(error=getattr(exc, "message", str(exc))), status
    return jsonify(upload_id=upload_id, offset=0,
                   url=url_for("recordings.upload_chunk", upload_id=upload_id)), 201


@bp.get("/recordings/uploads/<upload_id>")
@login_required
def upload_offset(upload_id: str):
    meta = _upload_meta_or_404(upload_id)
    return jsonify(offset=meta["offset"], total=meta["total"])


@bp.put("/recordings/uploads/<upload_id>")
@login_required
def upload_chunk(upload_id: str):
    match = CONTENT_RANGE.match(request.headers.get("Content-Range", ""))
    if not match:
        return jsonify(error="Content-Range: bytes <start>-<end>/<total> is required"), 400
    start, total = int(match[1]), int(match[3])
    meta = _upload_meta_or_404(upload_id)
    if start != meta["offset"] or total != meta["total"]:
        return jsonify(offset=meta["offset"], total=meta["total"]), 409  # the client resumes from `offset`
    try:
        meta = services.append_upload(upload_id, request.stream, user_id=current_user.id, start=start, total=total)
    except services.RecordingError as exc:
        return jsonify(error=exc.message), getattr(exc, "status", 416)
    if meta["offset"] < meta["total"]:
        return jsonify(offset=meta["offset"], total=meta["total"])
    try:
        recording = services.finish_upload(upload_id, user_id=current_user.id)
    except services.RecordingError as exc:
        return jsonify(error=exc.message), 422
    db.session.commit()
    return jsonify(recording_id=recording.id, offset=meta["total"], total=meta["total"],
                   status_url=url_for("recordings.status", recording_id=recording.id)), 201


@bp.delete("/recordings/uploads/<upload_id>")
@login_required
def cancel_upload(upload_id: str):
    _upload_meta_or_404(upload_id)
    services.cancel_upload(upload_id)
    return "", 204


def _upload_meta_or_404(upload_id: str) -> dict:
    try:
        return services.upload_meta(upload_id, user_id=current_user.id)
    except services.RecordingError:
        abort(404)


# --- the JaaS webhook -------------------------------------------------------------------------------------


@bp.post("/webhooks/jaas")
def jaas_webhook():
    body = request.get_data(cache=False)
    config = current_app.config
    try:
        verify_jaas_signature(config.get("JAAS_WEBHOOK_SECRET") or "", request.headers.get("X-Jaas-Signature"), body,
                              tolerance_s=int(config.get("JAAS_WEBHOOK_TOLERANCE_S") or DEFAULT_WEBHOOK_TOLERANCE_S))
    except JitsiSignatureError as exc:
        current_app.logger.warning("JaaS webhook refused: %s", exc)
        return jsonify(error="invalid signature"), 401
    try:
        event = json.loads(body)
    except ValueError:
        return jsonify(error="body is not JSON"), 400
    try:
        outcome = services.receive_jaas_event(event if isinstance(event, dict) else {})
        db.session.commit()
    except IntegrityError:  # the same event delivered twice at once
        db.session.rollback()
        outcome = "duplicate"
    return jsonify(status=outcome)


csrf.exempt(jaas_webhook)  # signed by JaaS with X-Jaas-Signature; there is no session cookie
# CSRFProtect would parse the multipart body under the global 16 MB limit before the view raises it;
# UploadForm (a FlaskForm) checks the CSRF token itself.
csrf.exempt(upload)


# --- the API: uploads by script, the Jibri hand-off, status -----------------------------------------------


@operation("/sessions/<int:session_id>/recordings", "POST", summary="Upload a recording as the raw request body",
           tag="recordings", response=RECORDING_SCHEMA, status=201, errors=(404, 413, 422, 507))
@token_required
def api_upload_recording(session_id: int):
    workshop_session = api_session_or_404(session_id)
    request.max_content_length = services.max_upload_bytes()
    services.ensure_disk_space(request.content_length or 0)
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
    request.max_content_length = services.max_upload_bytes() + 1024 * 1024
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


# The status pages add their routes to this blueprint, and the worker must know the pipeline's tasks: importing
# them here keeps both registered wherever the blueprint is (the blueprint is registered after this import).
from recordings import tasks, views  # noqa: E402,F401
