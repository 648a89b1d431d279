"""The trainers' watch page (blueprint `playback`), which also plays a recording waiting for their review, and the
signed local media URLs (`/media/...`)."""

from __future__ import annotations

from flask import Blueprint, abort, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from core.extensions import db
from core.storage import LocalStorage, get_storage
from courses.services import can_manage
from recordings import playback
from recordings.models import Recording
from recordings.publish import is_expired, uuid_of_key

bp = Blueprint("playback", __name__)


def _for_trainer(recording_uuid: str) -> Recording:
    recording = playback.recording_or_404(recording_uuid)
    if not can_manage(current_user, recording.course):
        abort(404)
    return recording


@bp.route("/watch/<recording_uuid>")
@login_required
def trainer_watch(recording_uuid: str):
    recording = _for_trainer(recording_uuid)

    def file_url(name: str) -> str:
        return url_for("playback.trainer_file", recording_uuid=recording_uuid, name=name)

    back_url = url_for("dashboard.course", course_id=recording.course_id)
    return playback.watch_page(recording, file_url, language=None, back_url=back_url, trainers=True)


@bp.route("/watch/<recording_uuid>/<path:name>")
@login_required
def trainer_file(recording_uuid: str, name: str):
    return playback.serve_file(_for_trainer(recording_uuid), name, trainers=True)


def _expired_media(key: str) -> bool:
    recording_uuid = uuid_of_key(key)
    if recording_uuid is None:
        return False
    recording = db.session.scalars(select(Recording).where(Recording.uuid == recording_uuid)).first()
    return recording is None or is_expired(recording)


@bp.route("/media/<path:key>")
def media(key: str):
    """Serve a LocalStorage object to whoever holds an unexpired signed URL for it, with Range support."""
    storage = get_storage()
    if not isinstance(storage, LocalStorage):
        abort(404)
    filename = request.args.get("filename")
    if not storage.verify_signature(key, request.args.get("expires", ""), request.args.get("sig", ""),
                                    filename=filename):
        abort(403)
    info = storage.head(key)
    if info is None or _expired_media(key):  # expired before the hourly sweep deleted its objects
        abort(404)
    response = send_file(storage.path(key), mimetype=info.content_type, conditional=True, etag=info.etag,
                         as_attachment=filename is not None, download_name=filename, max_age=None)
    if info.cache_control:
        response.headers["Cache-Control"] = info.cache_control
    response.headers["X-Robots-Tag"] = "noindex"
    return response


