"""The bodies of the download, probe (with the first playable version) and transcode steps, and `run_step`, which
claims and runs any step.

Each body records its result through pipeline.py (finish or fail); the publish step's body is in publish.py.
"""

from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

import requests
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from core import media, safefetch
from core.db import utcnow
from core.extensions import db
from core.media import remux
from core.storage import StorageError, get_storage
from recordings import heartbeat, pipeline, publish
from recordings.errors import RecordingError
from recordings.files import (
    READ_CHUNK,
    disk_filled_up,
    enough_disk_to_transcode,
    fetch_original,
    is_disk_full,
    max_upload_bytes,
    output_dir,
    too_large_message,
    work_dir,
    work_root,
)
from recordings.models import Recording, RecordingState
from recordings.pipeline import DOWNLOAD, LADDER, PROBE, PUBLISH, TRANSCODE
from recordings.services import store_original

log = logging.getLogger(__name__)

DEFAULT_TRANSCODE_TIMEOUT_S = None  # None: core.media derives it from the duration
DEFAULT_MAX_GOP_S = 10.0
DOWNLOAD_TIMEOUT = (10, 60)  # connect, read (seconds)
EXPIRED_STATUSES = {401, 403, 404, 410}

MESSAGES = {
    "not a media file": _l("Dit bestand is geen video. Kies een videobestand, bijvoorbeeld een MP4."),
    "the file has no video stream": _l("Dit bestand bevat alleen geluid en geen beeld. Kies een video."),
    "the file has zero duration": _l("Deze video is leeg: er zit geen beeld in."),
    "the file is truncated": _l("Deze video is niet compleet. Misschien is het uploaden of opnemen afgebroken. "
                                "Stuur het bestand opnieuw."),
    "the video is": _l("Het beeld van deze video heeft een onmogelijke grootte."),
}
MSG_UNUSABLE = _l("Deze video kunnen we niet verwerken. Probeer een ander bestand.")
MSG_TRANSCODE = _l("Het omzetten van de video is mislukt. Probeer het opnieuw.")
MSG_LINK_EXPIRED = _l("De downloadlink van JaaS is verlopen (JaaS bewaart opnames 24 uur). "
                      "Download de opname zelf en upload hem hier.")
MSG_DOWNLOAD = _l("De opname kon niet worden gedownload van JaaS. Probeer het opnieuw.")
MSG_LINK_REFUSED = _l("De downloadlink van JaaS wijst niet naar een toegestane JaaS-server en is niet gebruikt. "
                      "Download de opname zelf en upload hem hier.")
MSG_DISK = _l("Er is op dit moment te weinig schijfruimte om de video om te zetten. Probeer het later opnieuw.")
MSG_STORAGE = _l("De video kon niet worden opgeslagen. Probeer het opnieuw.")

#: Failures the trainer's Retry cannot mend: the file itself is no usable video (only another upload helps), or the
#: JaaS link is gone or refused. The others (storage, network, disk, a transcode that broke off) are worth a Retry.
FINAL = (*MESSAGES.values(), MSG_UNUSABLE, MSG_LINK_EXPIRED, MSG_LINK_REFUSED)

#: Errors worth Huey's retry while the task has retries left (a StorageError only when it says it is transient).
TRANSIENT = (StorageError, requests.RequestException)
#: The plain message of a step that gives up after storage or network errors.
GIVE_UP = {DOWNLOAD: MSG_DOWNLOAD, PROBE: MSG_STORAGE, TRANSCODE: MSG_STORAGE, LADDER: MSG_STORAGE,
           PUBLISH: MSG_STORAGE}


def _is_transient(exc: Exception) -> bool:
    return isinstance(exc, requests.RequestException) or (isinstance(exc, StorageError) and exc.transient)


def run_step(recording_id: int, step: str, body: Callable[[Recording], None], task=None, *,
             permanent: tuple[type[Exception], ...] = ()) -> Recording | None:
    """Claim the step, run `body` and commit; return the recording, or None when gone, done or running elsewhere.

    After a storage or network error (or one of `permanent`) the step is released for Huey's retry and the error
    re-raised, or, on the last try or for a permanent error, the recording fails with a plain message.
    """
    recording = db.session.get(Recording, recording_id)
    if recording is None or not pipeline.claim(recording, step):
        return None
    try:
        body(recording)
    except (*TRANSIENT, *permanent) as exc:
        db.session.rollback()
        last = task is None or task.retries <= 0 or not _is_transient(exc)
        log.warning("recording %s: %s failed (%s); %s", recording_id, step, exc, "giving up" if last else "retrying")
        pipeline.release(recording, step, message=str(GIVE_UP[step]) if last else None)
        db.session.commit()
        if not last:
            raise
        return None
    db.session.commit()
    return recording


def retryable(recording: Recording) -> bool:
    """True when a Retry may help the failed recording: its failure is not FINAL and it has something to start from."""
    # The worker stored the message in its own language, Dutch (the msgid); compare it in that language.
    with force_locale("nl"):
        final = {str(message) for message in FINAL} | {too_large_message()}
    return (recording.state is RecordingState.failed and recording.error_message not in final
            and pipeline.can_restart(recording))


# --- probe and transcode --------------------------------------------------------------------------------------


def media_message(exc: media.MediaError) -> str:
    """The plain trainer message for a probe failure."""
    for prefix, message in MESSAGES.items():
        if exc.message.startswith(prefix):
            return str(message)
    return str(MSG_UNUSABLE)


def run_probe(recording: Recording) -> None:
    """Probe the original; record its facts, publish a first playable version when the source allows one, and
    move on (to `playable` or `queued`), or fail with a plain message."""
    max_gop_s = first_max_gop_s()
    try:
        # Sampled when a first version may follow: the remux checks every keyframe gap anyway (its segments'
        # lengths), and the ladder probes in full before it runs (run_transcode).
        info = media.probe(fetch_original(recording), sample=max_gop_s > 0)
    except media.MediaError as exc:
        log.info("recording %s failed the probe: %s %s", recording.id, exc.message, exc.detail[-300:])
        pipeline.fail(recording, PROBE, media_message(exc))
        return
    # The first version before any column changes: a flush would lock the row (PostgreSQL) or the database
    # (SQLite) until the commit, and the heartbeat thread, which the remux waits for, would wait on that lock.
    if remux.qualifies(info, max_gop_s=max_gop_s):
        publish_first_version(recording, info, max_gop_s=max_gop_s)
    recording.duration_s, recording.width, recording.height = info.duration_s, info.width, info.height
    recording.probe = {k: getattr(info, k) for k in info.__dataclass_fields__}
    pipeline.finish(recording, PROBE)


def first_max_gop_s() -> float:
    """The longest keyframe interval of a source that gets a first version (MEDIA_FIRST_PLAYABLE_MAX_GOP_S; 0: none)."""
    value = current_app.config.get("MEDIA_FIRST_PLAYABLE_MAX_GOP_S")
    return float(remux.FIRST_MAX_GOP_S if value is None else value)


def first_prefix(recording: Recording) -> str:
    """Where the recording's first version is stored: `first/` under its own prefix (deleted with it)."""
    return publish.recording_prefix(recording) + "first/"


def publish_first_version(recording: Recording, info: media.ProbeResult, *,
                          max_gop_s: float = remux.FIRST_MAX_GOP_S) -> bool:
    """Remux the original into the first playable version and publish it under `first_prefix` (the probe step's
    heartbeat runs meanwhile); True when it is stored. A segment longer than `max_gop_s` (a keyframe gap the probe's
    first minutes did not show), or any ffmpeg, disk or storage trouble, only means no first version: the
    recording goes the normal way."""
    folder, prefix, storage = work_dir(recording) / "first", first_prefix(recording), get_storage()
    shutil.rmtree(folder, ignore_errors=True)
    try:
        # Nothing may flush in here (see run_probe): the heartbeat thread updates the row on its own connection.
        with db.session.no_autoflush, heartbeat.heartbeats(recording.id, PROBE):
            result = remux.remux(fetch_original(recording), folder, info=info)
            if result.longest_segment_s > max_gop_s + remux.SEGMENT_SLACK_S:
                raise media.MediaError(f"a {result.longest_segment_s:.1f}-s segment (over {max_gop_s:g} s)")
            # Three objects (master, media playlist, the one fMP4 file): moved into local storage, not copied.
            for name, content_type in sorted(result.files.items()):
                storage.adopt_file(prefix + name, folder / name, content_type=content_type,
                                   cache_control=publish.cache_control_for(name))
    except (media.MediaError, OSError, StorageError) as exc:
        log.warning("recording %s: no first playable version (%s)", recording.id, exc)
        _delete_quietly(storage, prefix)
        return False
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    recording.first_prefix, recording.first_renditions = prefix, result.files
    recording.playable_at = recording.playable_at or utcnow()
    return True


def _delete_quietly(storage, prefix: str) -> None:
    try:
        storage.delete_prefix(prefix)
    except (StorageError, OSError) as exc:  # left for the recording's expiry or deletion, which take its prefix
        log.warning("could not delete the half-published first version %s: %s", prefix, exc)


def remove_first_version(recording: Recording) -> int:
    """Delete the stored first version the full ladder replaced and forget it; flushes; network. Returns how many
    objects were deleted (0 when it was gone already: safe to run twice)."""
    if not pipeline.first_version_replaced(recording):
        return 0
    deleted = get_storage().delete_prefix(recording.first_prefix)
    recording.first_prefix = recording.first_renditions = None
    db.session.flush()
    return deleted


def run_transcode(recording: Recording) -> None:
    """Transcode the original into a fresh output folder, reporting progress; record the renditions. Runs as the
    transcode step, or as the ladder step while a first version plays."""
    step = pipeline.transcode_step(recording.state)
    out = output_dir(recording)
    shutil.rmtree(out, ignore_errors=True)  # leftovers of a run whose worker died
    if not enough_disk_to_transcode(recording):
        pipeline.fail(recording, step, str(MSG_DISK))
        return
    config = current_app.config
    try:
        info = media.ProbeResult(**recording.probe)
        if info.keyframes_sampled:  # the probe read the first and last minutes only: the ladder needs every gap
            info = media.probe(fetch_original(recording))
            recording.probe = {k: getattr(info, k) for k in info.__dataclass_fields__}
        result = media.transcode(
            fetch_original(recording), out, info=info,
            max_gop_s=float(config.get("MEDIA_MAX_GOP_S") or DEFAULT_MAX_GOP_S),
            timeout_s=config.get("MEDIA_TRANSCODE_TIMEOUT_S") or DEFAULT_TRANSCODE_TIMEOUT_S,
            small=bool(config.get("MEDIA_SMALL_LADDER")), on_progress=_progress_reporter(recording))
    except (media.MediaError, OSError) as exc:
        if isinstance(exc, OSError) and not is_disk_full(exc):
            raise
        full = disk_filled_up(recording, exc)
        log.warning("recording %s transcode failed%s: %s", recording.id, " (disk full)" * full, exc)
        shutil.rmtree(out, ignore_errors=True)  # no partial segments left behind
        pipeline.fail(recording, step, str(MSG_DISK if full else MSG_TRANSCODE))
        return
    recording.renditions = result.files
    pipeline.finish(recording, step)


def _progress_reporter(recording: Recording) -> Callable[[float], None]:
    last = [0.0]

    def report(fraction: float) -> None:
        now = utcnow().timestamp()
        if now - last[0] >= pipeline.HEARTBEAT_EVERY_S or fraction >= 1.0:
            last[0] = now
            heartbeat.heartbeat(recording, fraction)

    return report


# --- the JaaS download ------------------------------------------------------------------------------------------


def run_download(recording: Recording) -> None:
    """Stream the source link to disk, then store it as the original; an expired or refused link fails plainly.

    The link and every redirect hop must be https on JAAS_DOWNLOAD_HOSTS and resolve to public addresses only
    (core.safefetch); JAAS_DOWNLOAD_ALLOW_PRIVATE is a test-only app-config key (never read from the environment)
    that lets a loopback http server through.
    """
    config = current_app.config
    hosts = safefetch.parse_hosts(config.get("JAAS_DOWNLOAD_HOSTS"))
    scratch = work_root() / "incoming" / secrets.token_hex(16)
    scratch.parent.mkdir(parents=True, exist_ok=True)
    try:
        with safefetch.open_checked(recording.source_url or "", hosts, timeout=DOWNLOAD_TIMEOUT,
                                    allow_private=bool(config.get("JAAS_DOWNLOAD_ALLOW_PRIVATE"))) as response:
            if response.status_code in EXPIRED_STATUSES:
                pipeline.fail(recording, DOWNLOAD, str(MSG_LINK_EXPIRED))
                return
            if response.status_code >= 500 or response.status_code == 429:
                response.raise_for_status()  # transient: the task retries with backoff
            if response.status_code != 200:
                pipeline.fail(recording, DOWNLOAD, str(MSG_DOWNLOAD))
                return
            _save_response(recording, response, scratch)
        store_downloaded(recording, scratch)
    except safefetch.UnsafeURLError as exc:
        log.warning("recording %s: JaaS download link refused (%s); allowed hosts: %s", recording.id, exc,
                    ", ".join(hosts))
        pipeline.fail(recording, DOWNLOAD, str(MSG_LINK_REFUSED))
    except RecordingError as exc:
        pipeline.fail(recording, DOWNLOAD, exc.message)
    finally:
        scratch.unlink(missing_ok=True)


def _save_response(recording: Recording, response, target: Path) -> None:
    total = int(response.headers.get("Content-Length") or 0)
    size, limit, beat = 0, max_upload_bytes(), utcnow().timestamp()
    with open(target, "wb") as out:
        for chunk in response.iter_content(READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise RecordingError(too_large_message())
            out.write(chunk)
            if utcnow().timestamp() - beat >= pipeline.HEARTBEAT_EVERY_S:
                beat = utcnow().timestamp()
                heartbeat.heartbeat(recording, size / total if total else None)


def store_downloaded(recording: Recording, path: Path) -> None:
    """Store an original fetched from the source link (which starts the probe); the link is then forgotten."""
    name = f"jaas-{recording.session.room_name if recording.session else recording.uuid}.mp4"
    store_original(recording, path, name)
    recording.source_url = None
    db.session.flush()
