"""A parent's watch page of a recording, its playlists and the progress beacon (blueprint `watch`)."""

from __future__ import annotations

from flask import Blueprint, abort, request, url_for

from core.extensions import csrf, db, limiter
from parents.access import page_language, parent_or_404, route_map_token
from recordings import playback

bp = Blueprint("watch", __name__)


def _for_parent(token: str, recording_uuid: str):
    # Personal link or calendar token (the "recording ready" message); unknown, revoked, reset tokens and
    # other courses' recordings all give the same 404.
    parent = parent_or_404(token)
    recording = playback.recording_or_404(recording_uuid)
    if all(e.course_id != recording.course_id for e in parent.enrolments):
        abort(404)
    return parent, recording


def _route_map_url(token: str) -> str | None:
    # A watch link from a "recording ready" message carries the calendar token, which does not open the route map.
    return url_for("parents.route_map", token=token) if route_map_token(token) else None


@bp.route("/p/<token>/watch/<recording_uuid>")
@limiter.limit(playback.RATE_LIMIT)
def parent_watch(token: str, recording_uuid: str):
    parent, recording = _for_parent(token, recording_uuid)
    language = page_language(parent)

    def file_url(name: str) -> str:
        return url_for("watch.parent_file", token=token, recording_uuid=recording_uuid, name=name)

    progress_url = url_for("watch.parent_progress", token=token, recording_uuid=recording_uuid)
    return playback.watch_page(recording, file_url, language=language, back_url=_route_map_url(token),
                       progress_url=progress_url, start_s=playback.resume_position(recording, parent))


@bp.post("/p/<token>/watch/<recording_uuid>/progress")
@limiter.limit(playback.PROGRESS_RATE_LIMIT)
def parent_progress(token: str, recording_uuid: str):
    """Store the parent's playback position (JSON {position, duration} from fetch or navigator.sendBeacon)."""
    parent, recording = _for_parent(token, recording_uuid)
    if not playback.playable(recording):
        abort(404)
    if (request.content_length or 0) > playback.MAX_PROGRESS_BODY:
        abort(413)
    try:
        position, duration = playback.parse_progress(request.get_json(force=True, silent=True))
    except playback.ProgressError:
        abort(400)
    playback.record_progress(recording, parent, position=position, duration=duration)
    db.session.commit()
    return "", 204


# Bound to the parent's secret link in the URL, not to a cookie, so there is no session to forge a request with.
csrf.exempt(parent_progress)


@bp.route("/p/<token>/watch/<recording_uuid>/<path:name>")
@limiter.limit(playback.RATE_LIMIT)
def parent_file(token: str, recording_uuid: str, name: str):
    _parent, recording = _for_parent(token, recording_uuid)
    return playback.serve_file(recording, name)


