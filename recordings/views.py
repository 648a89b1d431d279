"""Trainer-facing recording status pages: state, progress, a plain failure message and Retry."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from accounts.forms import EmptyForm
from core.extensions import db
from courses.services import can_manage
from recordings import services
from recordings.ingest import STATE_LABELS, bp
from recordings.models import Recording, RecordingState

S = RecordingState
REFRESH_S = 5
BUSY = {S.received, S.probing, S.queued, S.transcoding, S.transcoded, S.publishing}


def get_recording_or_403(recording_id: int) -> Recording:
    """The recording, if the current user may manage its course; 404 when unknown, 403 when not theirs."""
    recording = db.get_or_404(Recording, recording_id)
    if not can_manage(current_user, recording.course):
        abort(403)
    return recording


@bp.get("/recordings/<int:recording_id>")
@login_required
def status(recording_id: int):
    recording = get_recording_or_403(recording_id)
    busy = recording.state in BUSY
    response = make_response(render_template(
        "recordings/status.html", recording=recording, form=EmptyForm(), state_label=STATE_LABELS[recording.state],
        busy=busy, percent=round((recording.progress or 0) * 100), refresh_s=REFRESH_S))
    if busy:
        response.headers["Refresh"] = str(REFRESH_S)  # a live progress bar without JavaScript
    return response


@bp.post("/recordings/<int:recording_id>/retry")
@login_required
def retry(recording_id: int):
    recording = get_recording_or_403(recording_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.retry_recording(recording)
    except services.RecordingError as exc:
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(_("We proberen het opnieuw."), "success")
    return redirect(url_for("recordings.status", recording_id=recording_id))
