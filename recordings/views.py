"""Trainer-facing recording status pages: state, progress, a plain failure message, Retry and captions."""

from __future__ import annotations

from babel import Locale
from flask import abort, current_app, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField

from accounts.forms import EmptyForm
from core.errors import DomainError
from core.extensions import db
from core.storage import get_storage
from courses.services import can_manage
from recordings import services
from recordings.ingest import STATE_LABELS, bp
from recordings.models import Recording, RecordingState
from recordings.publish import SHORT_CACHE, recording_prefix

S = RecordingState
REFRESH_S = 5
BUSY = {S.received, S.probing, S.queued, S.transcoding, S.transcoded, S.publishing}
MAX_CAPTION_BYTES = 1024 * 1024
CAPTION_TYPE = "text/vtt"


class CaptionError(DomainError):
    """The uploaded captions file is not a usable WebVTT file, or the recording cannot take captions."""


class CaptionForm(FlaskForm):
    file = FileField(_l("Ondertitels (WebVTT-bestand, .vtt)"), validators=[FileRequired(_l("Kies een .vtt-bestand."))])
    language = SelectField(_l("Taal van de ondertitels"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = [(code, Locale.parse(code).get_display_name(code) or code)
                                 for code in current_app.config["LANGUAGES"]]


def get_recording_or_404(recording_id: int) -> Recording:
    """The recording, if the current user may manage its course; 404 otherwise (a 403 would confirm it exists)."""
    recording = db.session.get(Recording, recording_id)
    if recording is None or not can_manage(current_user, recording.course):
        abort(404)
    return recording


def caption_name(language: str) -> str:
    """The rendition name of a captions file; playback turns `captions/<lang>.vtt` into a <track srclang=lang>."""
    return f"captions/{language}.vtt"


def check_webvtt(filename: str, data: bytes) -> None:
    """Raise CaptionError (field `file`) unless this is a .vtt file of at most 1 MB starting with WEBVTT."""
    if not filename.lower().endswith(".vtt"):
        raise CaptionError(_("Kies een bestand dat eindigt op .vtt."), field="file")
    if len(data) > MAX_CAPTION_BYTES:
        raise CaptionError(_("Dit ondertitelbestand is groter dan 1 MB."), field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CaptionError(_("Dit ondertitelbestand is geen UTF-8-tekst."), field="file") from None
    if not (text.startswith("WEBVTT") and text[6:7] in ("", " ", "\t", "\n", "\r")):
        raise CaptionError(_("Dit is geen WebVTT-bestand: de eerste regel moet met WEBVTT beginnen."), field="file")


def add_captions(recording: Recording, *, language: str, filename: str, data: bytes) -> str:
    """Check and store a WebVTT file as the recording's captions in `language`; flushes; network (storage)."""
    if recording.state is not S.published:
        raise CaptionError(_("Ondertitels kun je toevoegen zodra de opname klaar is om te bekijken."))
    if language not in current_app.config["LANGUAGES"]:
        raise CaptionError(_("Kies een van de talen."), field="language")
    check_webvtt(filename, data)
    name = caption_name(language)
    get_storage().put_bytes(recording_prefix(recording) + name, data, content_type=CAPTION_TYPE,
                            cache_control=SHORT_CACHE)
    # A new dict: the JSON column does not track changes made in place.
    recording.renditions = {**(recording.renditions or {}), name: CAPTION_TYPE}
    db.session.flush()
    return name


def _captions_of(recording: Recording) -> list[str]:
    return sorted(n.removeprefix("captions/").removesuffix(".vtt") for n in recording.renditions or {}
                  if n.startswith("captions/") and n.endswith(".vtt"))


def _status_page(recording: Recording, caption_form: CaptionForm, status: int = 200):
    busy = recording.state in BUSY
    response = make_response(render_template(
        "recordings/status.html", recording=recording, form=EmptyForm(), state_label=STATE_LABELS[recording.state],
        busy=busy, percent=round((recording.progress or 0) * 100), refresh_s=REFRESH_S,
        caption_form=caption_form, captions=_captions_of(recording)), status)
    if busy:
        response.headers["Refresh"] = str(REFRESH_S)  # a live progress bar without JavaScript
    return response


@bp.get("/recordings/<int:recording_id>")
@login_required
def status(recording_id: int):
    recording = get_recording_or_404(recording_id)
    return _status_page(recording, CaptionForm(language=recording.course.language))


@bp.post("/recordings/<int:recording_id>/retry")
@login_required
def retry(recording_id: int):
    recording = get_recording_or_404(recording_id)
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


@bp.post("/recordings/<int:recording_id>/captions")
@login_required
def upload_captions(recording_id: int):
    recording = get_recording_or_404(recording_id)
    form = CaptionForm()
    if not form.validate_on_submit():
        return _status_page(recording, form, 400)
    upload = form.file.data
    data, filename = upload.read(MAX_CAPTION_BYTES + 1), upload.filename or ""
    upload.close()  # a large upload is spooled to a temporary file
    try:
        add_captions(recording, language=form.language.data, filename=filename, data=data)
    except CaptionError as exc:
        db.session.rollback()
        if exc.field is None:
            flash(exc.message, "error")
            return redirect(url_for("recordings.status", recording_id=recording_id))
        getattr(form, exc.field).errors.append(exc.message)
        return _status_page(recording, form, 400)
    db.session.commit()
    flash(_("De ondertitels zijn opgeslagen."), "success")
    return redirect(url_for("recordings.status", recording_id=recording_id))
