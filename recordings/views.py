"""The trainer's recording pages (blueprint `recordings`): uploads (resumable, or a plain form), the status page
with progress, a plain failure message, Retry, the player and captions for review, Publish, Unpublish and Delete,
and the JaaS webhook. The API is in api.py.
"""

from __future__ import annotations

import json
import re

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from accounts.forms import EmptyForm
from core.extensions import csrf, db
from core.jitsi import JitsiSignatureError, verify_jaas_signature
from courses.services import can_manage
from recordings import captions, consent, playback, review, services, steps, uploads
from recordings.errors import RecordingError
from recordings.files import max_upload_bytes
from recordings.forms import CaptionForm, UploadForm
from recordings.models import STATE_LABELS, Recording, RecordingSource, RecordingState
from sessions import presence
from sessions import services as session_services
from sessions.access import session_or_403

bp = Blueprint("recordings", __name__)

S = RecordingState
CONTENT_RANGE = re.compile(r"^bytes (\d{1,19})-(\d{1,19})/(\d{1,19})$")  # 19 digits: no int conversion limit hit
DEFAULT_WEBHOOK_TOLERANCE_S = 300
REFRESH_S = 5
BUSY = {S.received, S.probing, S.playable, S.queued, S.transcoding, S.transcoded, S.publishing}


@bp.app_template_filter("recording_state")
def recording_state_label(state: RecordingState) -> str:
    """A recording state in the trainer's words, for any page that lists recordings."""
    return str(STATE_LABELS[state])


def get_recording_or_404(recording_id: int) -> Recording:
    """The recording, if the current user may manage its course; 404 otherwise (a 403 would confirm it exists)."""
    recording = db.session.get(Recording, recording_id)
    if recording is None or not can_manage(current_user, recording.course):
        abort(404)
    return recording


# --- uploads ----------------------------------------------------------------------------------------------------


@bp.route("/sessions/<int:session_id>/recordings/upload", methods=["GET", "POST"])
@login_required
def upload(session_id: int):
    workshop_session = session_or_403(session_id)
    request.max_content_length = max_upload_bytes() + 1024 * 1024  # the form fields around the file
    form = UploadForm()
    without_consent = consent.present_without_consent(workshop_session)
    if form.validate_on_submit():
        if without_consent and not form.confirm_without_consent.data:
            form.confirm_without_consent.errors.append(_("Vink dit aan om de opname toch te uploaden."))
        else:
            try:
                recording = services.receive_stream(workshop_session, form.file.data.stream,
                                                    form.file.data.filename, source=RecordingSource.upload)
            except RecordingError as exc:
                form.file.errors.append(exc.message)
            else:
                if form.confirm_without_consent.data:
                    consent.confirm(recording, current_user)
                db.session.commit()
                flash(_("De video is ontvangen. We zetten hem nu om."), "success")
                return redirect(url_for("recordings.status", recording_id=recording.id))
    return render_template("recordings/upload.html", form=form, workshop_session=workshop_session,
                           without_consent=without_consent,
                           recordings=services.recordings_for_session(workshop_session),
                           max_bytes=max_upload_bytes(), state_labels=STATE_LABELS), \
        400 if form.errors else 200  # a missing CSRF token too (the view is exempt from CSRFProtect, see below)


@bp.post("/sessions/<int:session_id>/recordings/uploads")
@login_required
def start_upload(session_id: int):
    workshop_session = session_or_403(session_id)
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}  # a JSON list or string is no upload description
    without_consent = consent.present_without_consent(workshop_session)
    if without_consent and data.get("confirm_without_consent") is not True:
        return jsonify(error=_("Vink eerst aan dat je de opname toch wilt uploaden."), field="confirm_without_consent",
                       without_consent=[p.name for p in without_consent]), 409
    try:
        upload_id = uploads.start_upload(workshop_session, user_id=current_user.id,
                                         filename=str(data.get("filename") or ""), total=int(data.get("size") or 0),
                                         confirmed=bool(without_consent))
    except (RecordingError, ValueError, TypeError, OverflowError) as exc:  # "size": "x", [1], 1e400
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
        meta = uploads.append_upload(upload_id, request.stream, user_id=current_user.id, start=start, total=total)
    except RecordingError as exc:
        return jsonify(error=exc.message), getattr(exc, "status", 416)
    if meta["offset"] < meta["total"]:
        return jsonify(offset=meta["offset"], total=meta["total"])
    try:
        recording = uploads.finish_upload(upload_id, user_id=current_user.id)
    except RecordingError as exc:
        return jsonify(error=exc.message), 422
    db.session.commit()
    return jsonify(recording_id=recording.id, offset=meta["total"], total=meta["total"],
                   status_url=url_for("recordings.status", recording_id=recording.id)), 201


@bp.delete("/recordings/uploads/<upload_id>")
@login_required
def cancel_upload(upload_id: str):
    _upload_meta_or_404(upload_id)
    uploads.cancel_upload(upload_id)
    return "", 204


def _upload_meta_or_404(upload_id: str) -> dict:
    try:
        return uploads.upload_meta(upload_id, user_id=current_user.id)
    except RecordingError:
        abort(404)


# --- the JaaS webhook -------------------------------------------------------------------------------------------


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
    event = event if isinstance(event, dict) else {}
    try:
        if event.get("eventType") in presence.JAAS_EVENTS:  # attendance (sessions.presence)
            outcome = presence.receive_jaas_participant(event, is_invited=session_services.is_invited)
        else:
            outcome = services.receive_jaas_event(event)
        db.session.commit()
    except IntegrityError:  # the same event delivered twice at once
        db.session.rollback()
        outcome = "duplicate"
    return jsonify(status=outcome)


csrf.exempt(jaas_webhook)  # signed by JaaS with X-Jaas-Signature; there is no session cookie
# CSRFProtect would parse the multipart body under the global 16 MB limit before the view raises it;
# UploadForm (a FlaskForm) checks the CSRF token itself.
csrf.exempt(upload)


# --- the status page: progress, Retry, the player for review, captions, Publish, Unpublish, Delete -------------


def _player(recording: Recording) -> dict | None:
    # The trainer's own playlist URLs (recordings/watch.py), which also serve a recording waiting for review.
    if not playback.playable_by_trainers(recording):
        return None

    def file_url(name: str) -> str:
        return url_for("playback.trainer_file", recording_uuid=recording.uuid, name=name)

    return {**playback.watch_context(recording, file_url, mode=request.args.get("mode", "video")), "review": True}


def _status_page(recording: Recording, caption_form: CaptionForm, status: int = 200):
    busy = recording.state in BUSY
    response = make_response(render_template(
        "recordings/status.html", recording=recording, form=EmptyForm(), state_label=STATE_LABELS[recording.state],
        busy=busy, percent=round((recording.progress or 0) * 100), refresh_s=REFRESH_S,
        caption_form=caption_form, captions=captions.captions_of(recording), player=_player(recording),
        retryable=steps.retryable(recording), deletable=review.deletable(recording),
        without_consent=consent.parents_without_consent(recording)), status)
    if busy and not playback.first_version_plays(recording):  # a reload would stop the first version playing
        response.headers["Refresh"] = str(REFRESH_S)  # a live progress bar without JavaScript
    response.headers["Cache-Control"] = "no-store"  # the player carries signed media URLs
    return response


@bp.get("/recordings/<int:recording_id>")
@login_required
def status(recording_id: int):
    recording = get_recording_or_404(recording_id)
    return _status_page(recording, CaptionForm(language=recording.course.language))


def _review_step(recording_id: int, step, done):
    # Retry, Publish and Unpublish: `step(recording)` commits and flashes `done(result)`; 400 without the form's
    # CSRF token; a RecordingError is rolled back and its message flashed.
    recording = get_recording_or_404(recording_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        result = step(recording)
    except RecordingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(done(result), "success")
    return redirect(url_for("recordings.status", recording_id=recording_id))


@bp.post("/recordings/<int:recording_id>/retry")
@login_required
def retry(recording_id: int):
    return _review_step(recording_id, review.retry_failed, lambda _result: _("We proberen het opnieuw."))


@bp.post("/recordings/<int:recording_id>/publish")
@login_required
def publish(recording_id: int):
    # The trainer's tick on the status page, asked when a parent present had not consented to being recorded.
    confirmed_by = current_user if request.form.get("confirm_without_consent") else None
    return _review_step(recording_id, lambda r: review.publish_to_parents(r, confirmed_by=confirmed_by), lambda told: (
        _("De opname is gepubliceerd. Ouders krijgen nu een bericht.") if told else
        _("Ouders kunnen de opname weer bekijken. Ze krijgen er niet opnieuw een bericht over.")))


@bp.post("/recordings/<int:recording_id>/unpublish")
@login_required
def unpublish(recording_id: int):
    return _review_step(recording_id, review.unpublish_recording,
                        lambda _result: _("Ouders zien de opname niet meer. Publiceer hem opnieuw wanneer je wilt."))


@bp.route("/recordings/<int:recording_id>/delete", methods=["GET", "POST"])
@login_required
def delete(recording_id: int):
    recording = get_recording_or_404(recording_id)
    status_url = url_for("recordings.status", recording_id=recording_id)
    if not review.deletable(recording):
        flash(str(review.MSG_RUNNING), "error")
        return redirect(status_url)
    form = EmptyForm()
    if not form.validate_on_submit():
        return render_template("recordings/delete.html", recording=recording, form=form, status_url=status_url,
                               state_label=STATE_LABELS[recording.state], captions=captions.captions_of(recording))
    back = (url_for("dashboard.session", session_id=recording.session_id) if recording.session_id
            else url_for("dashboard.course", course_id=recording.course_id))
    try:
        review.delete_recording(recording)
    except RecordingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(status_url)
    db.session.commit()
    flash(_("De opname is verwijderd."), "success")
    return redirect(back)


@bp.post("/recordings/<int:recording_id>/captions")
@login_required
def upload_captions(recording_id: int):
    recording = get_recording_or_404(recording_id)
    form = CaptionForm()
    if not form.validate_on_submit():
        return _status_page(recording, form, 400)
    upload = form.file.data
    data, filename = upload.read(captions.MAX_CAPTION_BYTES + 1), upload.filename or ""
    upload.close()  # a large upload is spooled to a temporary file
    try:
        captions.add_captions(recording, language=form.language.data, filename=filename, data=data)
    except captions.CaptionError as exc:
        db.session.rollback()
        if exc.field is None:
            flash(exc.message, "error")
            return redirect(url_for("recordings.status", recording_id=recording_id))
        getattr(form, exc.field).errors.append(exc.message)
        return _status_page(recording, form, 400)
    db.session.commit()
    flash(_("De ondertitels zijn opgeslagen."), "success")
    return redirect(url_for("recordings.status", recording_id=recording_id))
