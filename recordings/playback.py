"""Private playback: watch pages, playlists with short-lived media URLs, watch progress and watched figures.

Parents watch through their personal link (parents/watch.py), the course's trainers after logging in
(recordings/watch.py); everyone else gets the same 404 as for an unknown recording. The app serves every playlist
itself and rewrites each segment and init-segment address into a presigned S3 URL (or a signed LocalStorage URL)
that expires within minutes.
"""

from __future__ import annotations

import math
import posixpath
import re
from contextlib import nullcontext
from dataclasses import dataclass

from flask import abort, current_app, make_response, render_template, request, url_for
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.errors import DomainError
from core.extensions import db
from core.media import THUMBNAILS
from core.storage import Storage, get_storage
from courses.models import Parent
from recordings.models import Recording, RecordingState, WatchProgress
from recordings.pipeline import FIRST_VERSION_PLAYS, PUBLISH, STORED, done_state
from recordings.publish import is_expired, recording_prefix

DEFAULT_URL_TTL_S = 300
RATE_LIMIT = "120 per minute"
#: The page reports every ~10 s plus on pause and pagehide; this leaves room for seeking around.
PROGRESS_RATE_LIMIT = "30 per minute"
MAX_PROGRESS_BODY = 1024
MAX_DURATION_S = 24 * 3600
#: Closer to the end than this (or than 5 % of a short clip), the next visit starts from the beginning again.
RESUME_TAIL_S = 5.0
#: A recording counts as watched once the parent got this far into it.
WATCHED_FRACTION = 0.9
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
AUDIO_PLAYLIST = "v_audio/index.m3u8"
MASTER_PLAYLIST = "master.m3u8"
POSTER = "poster.jpg"
THUMBNAIL = re.compile(r"^thumb_([0-9]{2})\.jpg$")
_URI_ATTR = re.compile(r'URI="([^"]*)"')


@dataclass(frozen=True)
class Caption:
    """One WebVTT captions track for the <track> element."""

    url: str
    language: str


class ProgressError(DomainError):
    """A progress beacon carried something other than a sane position and duration."""


def url_ttl() -> int:
    """Seconds a media URL handed out by the app stays valid (PLAYBACK_URL_TTL_SECONDS)."""
    return int(current_app.config.get("PLAYBACK_URL_TTL_SECONDS", DEFAULT_URL_TTL_S))


def recording_or_404(recording_uuid: str) -> Recording:
    """The recording with this uuid (within the request's organisation); 404 otherwise."""
    recording = db.session.scalars(select(Recording).where(Recording.uuid == recording_uuid)).first()
    if recording is None:
        abort(404)
    return recording


def first_version_plays(recording: Recording) -> bool:
    """True while the recording's stored first version (a remux of the source) is what plays: the ladder runs."""
    return bool(recording.first_prefix and recording.first_renditions) and recording.state in FIRST_VERSION_PLAYS


def playable(recording: Recording) -> bool:
    """True when parents may watch the recording: published (or its first version, when the course publishes
    automatically: the ladder will end in `published`), and not expired."""
    if recording.state is not RecordingState.published and not (
            first_version_plays(recording) and done_state(recording, PUBLISH) is RecordingState.published):
        return False
    return not is_expired(recording)


def playable_by_trainers(recording: Recording) -> bool:
    """True when the course's trainers may watch the recording: published, waiting for their review, or its first
    version while the ladder runs; not expired."""
    return (recording.state in STORED or first_version_plays(recording)) and not is_expired(recording)


def _version(recording: Recording) -> tuple[str, dict[str, str]]:
    # The prefix and files of what plays: the full ladder once stored (the first version is then on its way out).
    if recording.state not in STORED and first_version_plays(recording):
        return recording.first_prefix, recording.first_renditions
    return recording_prefix(recording), recording.renditions or {}


def _can_play(recording: Recording, *, trainers: bool) -> bool:
    return playable_by_trainers(recording) if trainers else playable(recording)


def _private(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def rewrite_playlist(text: str, name: str, prefix: str, sign) -> str:
    """Point every non-playlist URI of the playlist `name` at `sign(key)`; playlist URIs stay relative (ours).

    Each key is signed once: a byte-range playlist (the first version) names one file on every segment, so its
    init section and segments share one URL; the BYTERANGE attributes and tags are kept as they are."""
    folder, signed = posixpath.dirname(name), {}

    def target(uri: str) -> str:
        if uri.endswith(".m3u8") or "://" in uri:
            return uri
        key = prefix + posixpath.normpath(posixpath.join(folder, uri))
        if key not in signed:
            signed[key] = sign(key)
        return signed[key]

    lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            line = _URI_ATTR.sub(lambda m: f'URI="{target(m.group(1))}"', line)
        elif line.strip():
            line = target(line.strip())
        lines.append(line)
    return "\n".join(lines) + "\n"


def _signer(storage: Storage, filename: str | None = None):
    ttl = url_ttl()
    return lambda key: storage.url(key, expires_in=ttl, filename=filename)


def serve_file(recording: Recording, name: str, *, trainers: bool = False):
    """A playlist (rewritten) or a captions file of a recording playable for parents (or for its `trainers`)."""
    prefix, renditions = _version(recording)
    if not _can_play(recording, trainers=trainers) or name not in renditions or not name.endswith((".m3u8", ".vtt")):
        abort(404)
    storage = get_storage()
    with storage.open(prefix + name) as fh:
        body = fh.read().decode("utf-8")
    if name.endswith(".m3u8"):
        body = rewrite_playlist(body, name, prefix, _signer(storage))
    response = make_response(body)
    response.headers["Content-Type"] = renditions[name] if name.endswith(".m3u8") else "text/vtt; charset=utf-8"
    return _private(response)


def _mp4_name(renditions: dict[str, str]) -> str | None:
    return next((n for n in sorted(renditions) if n.endswith(".mp4") and "/" not in n), None)


def _download_name(recording: Recording) -> str:
    day = (recording.published_at or recording.created_at).date().isoformat()
    return f"opname-{day}.mp4"


def watch_context(recording: Recording, file_url, *, mode: str) -> dict:
    """What the watch page shows: playlist, MP4, poster and captions URLs for a playable recording."""
    storage, (prefix, renditions) = get_storage(), _version(recording)
    sign = _signer(storage)
    audio = mode == "audio" and AUDIO_PLAYLIST in renditions
    mp4 = _mp4_name(renditions)
    captions = [Caption(file_url(name), posixpath.basename(name).split(".")[0][:8])
                for name in sorted(renditions) if name.endswith(".vtt")]
    return {
        "recording": recording,
        "title": recording.session.title if recording.session else recording.course.title,
        "mode": "audio" if audio else "video",
        "has_audio_mode": AUDIO_PLAYLIST in renditions,
        "stream_url": file_url(AUDIO_PLAYLIST if audio else MASTER_PLAYLIST),
        "mp4_url": sign(prefix + mp4) if mp4 else None,
        "download_url": _signer(storage, _download_name(recording))(prefix + mp4) if mp4 else None,
        "poster_url": sign(prefix + POSTER) if POSTER in renditions and not audio else None,
        "chapters": [] if audio else _chapters(recording, renditions, sign, prefix),
        "captions": captions,
        # Audio-only needs no video or alternate-audio code: hls.js's light build (120 KB gzipped, not 190 KB);
        # the video's master has its audio as an alternate rendition, which only the full build plays.
        "hls_js": url_for("static", filename="vendor/hls.light.min.js" if audio else "vendor/hls.min.js"),
    }


@dataclass(frozen=True)
class Chapter:
    """A still on the watch page that jumps to its moment."""

    image_url: str
    seconds: float

    @property
    def label(self) -> str:
        minutes, seconds = divmod(int(self.seconds), 60)
        return f"{minutes}:{seconds:02d}"


def _chapters(recording: Recording, renditions: dict[str, str], sign, prefix: str) -> list[Chapter]:
    # The pipeline takes thumb_NN.jpg from the middle of each of media.THUMBNAILS equal parts (core.media).
    names = sorted(name for name in renditions if THUMBNAIL.match(name))
    if not names or not recording.duration_s:
        return []
    part = recording.duration_s / THUMBNAILS
    return [Chapter(sign(prefix + name), round((int(THUMBNAIL.match(name).group(1)) - 0.5) * part, 1))
            for name in names]


def watch_page(recording: Recording, file_url, *, language: str | None, back_url: str | None, progress_url=None,
               start_s: float = 0.0, trainers: bool = False):
    """The watch page of a recording (or the expired / not-ready page), `file_url(name)` naming its files; for
    parents unless `trainers` (who also see a recording waiting for their review)."""
    mode = request.args.get("mode", "video")
    if is_expired(recording):
        return _page(language, "playback/expired.html", 410, back_url=back_url)
    if not _can_play(recording, trainers=trainers):
        return _page(language, "playback/not_ready.html", 404, back_url=back_url)
    player = {**watch_context(recording, file_url, mode=mode), "progress_url": progress_url, "start_s": start_s}
    return _page(language, "playback/watch.html", 200, back_url=back_url, player=player)


def _page(language: str | None, template: str, status: int, **context):
    with force_locale(language) if language else nullcontext():
        return _private(make_response(render_template(template, **context), status))


def parse_progress(data) -> tuple[float, float]:
    """(position, duration) in seconds from a progress beacon's JSON; raises ProgressError when not sane."""
    if not isinstance(data, dict):
        raise ProgressError("expected a JSON object")
    values = (data.get("position"), data.get("duration"))
    if any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in values):
        raise ProgressError("position and duration must be finite numbers")
    position, duration = (float(v) for v in values)
    if not 0 < duration <= MAX_DURATION_S or not 0 <= position <= duration + 1:
        raise ProgressError("position must lie between 0 and the duration")
    return min(position, duration), duration


def _progress_of(recording: Recording, parent: Parent) -> WatchProgress | None:
    query = select(WatchProgress).where(WatchProgress.recording_id == recording.id,
                                        WatchProgress.parent_id == parent.id)
    return db.session.scalars(query).first()


def record_progress(recording: Recording, parent: Parent, *, position: float, duration: float) -> WatchProgress:
    """Store where the parent is in the recording and how far they got; flushes."""
    progress = _progress_of(recording, parent)
    if progress is None:
        try:
            with db.session.begin_nested():
                progress = WatchProgress(recording_id=recording.id, parent_id=parent.id)
                db.session.add(progress)
        except IntegrityError:  # a beacon from another tab got there first
            progress = _progress_of(recording, parent)
    progress.position_s = position
    progress.furthest_s = max(progress.furthest_s or 0.0, position)
    progress.duration_s = duration
    db.session.flush()
    return progress


def resume_position(recording: Recording, parent: Parent) -> float:
    """Where the watch page starts: the stored position, or 0 when none or when it was near the end."""
    progress = _progress_of(recording, parent)
    tail = min(RESUME_TAIL_S, progress.duration_s * 0.05) if progress else 0.0
    if progress is None or progress.position_s >= progress.duration_s - tail:
        return 0.0
    return progress.position_s
