"""The recording state machine (architecture.md): ingest, the probe and transcode steps, failures and retries."""

from __future__ import annotations

import errno
import json
import logging
import os
import secrets
import shutil
from datetime import datetime, timedelta
from importlib import import_module
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from werkzeug.utils import secure_filename

from core import media, safefetch
from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.queue import enqueue_after_commit
from core.storage import file_sha256, get_storage
from courses.models import Course
from recordings.models import Recording, RecordingSource, RecordingState
from sessions.models import WorkshopSession

log = logging.getLogger(__name__)

READ_CHUNK = 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 8 * 1024**3
DEFAULT_STALE_HEARTBEAT_S = 300
DEFAULT_TRANSCODE_TIMEOUT_S = None  # None: core.media derives it from the duration
DEFAULT_MAX_GOP_S = 10.0
UPLOAD_MAX_AGE = timedelta(days=1)
HEARTBEAT_EVERY_S = 2.0
#: A waiting step is re-queued after this many heartbeat periods without change (duplicates are no-ops).
WAITING_FACTOR = 12
#: Free disk space needed before a transcode, as a multiple of the original's size.
DISK_HEADROOM = 3

S = RecordingState
#: A running step, the state it starts from, and the name recorded in `failed_step`.
STEPS = {
    "downloading": (S.received, S.received),
    "probing": (S.received, S.probing),
    "transcoding": (S.queued, S.transcoding),
    "publishing": (S.transcoded, S.publishing),
}
#: On Retry, a failed step starts again from this state.
RETRY_FROM = {"downloading": S.received, "probing": S.received, "transcoding": S.queued}

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
MSG_DISK_UPLOAD = _l("Er is op dit moment te weinig schijfruimte om de video te ontvangen. Probeer het later opnieuw.")


class RecordingError(DomainError):
    """A recording cannot be received or changed as asked."""


class DiskFullError(RecordingError):
    """The work folder has no room for an upload; nothing of it was kept. HTTP 507 Insufficient Storage."""

    status = 507

    def __init__(self):
        super().__init__(str(MSG_DISK_UPLOAD), field="file")


def is_disk_full(exc: BaseException) -> bool:
    """True for an OSError that says the disk (or the quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def ensure_disk_space(size: int) -> None:
    """DiskFullError when the work folder has fewer than `size` bytes free; checked before an upload starts."""
    root = work_root()
    root.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(root).free < size:
        raise DiskFullError()


# --- places -------------------------------------------------------------------------------------------------


def work_root() -> Path:
    """The folder that holds every recording's work folder and the unfinished uploads."""
    return Path(current_app.config["INSTANCE_PATH"]) / "work"


def work_dir(recording: Recording) -> Path:
    """The recording's own scratch folder: `<instance>/work/recordings/<uuid>/`."""
    return work_root() / "recordings" / recording.uuid


def output_dir(recording: Recording) -> Path:
    """Where the transcode writes the files listed in `recording.renditions` (relative paths)."""
    return work_dir(recording) / "out"


def local_original(recording: Recording) -> Path:
    """The local copy of the original; the stored file name is never used as a path."""
    return work_dir(recording) / "original"


def safe_name(filename: str | None) -> str:
    """A harmless file name for the storage key and downloads."""
    name = secure_filename(filename or "")[-120:]
    return name or "recording.mp4"


def original_key(recording: Recording, filename: str | None) -> str:
    """The storage key of the original."""
    return f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/original/{safe_name(filename)}"


def max_upload_bytes() -> int:
    """The largest original we accept (config RECORDING_MAX_UPLOAD_BYTES, default 8 GB)."""
    return int(current_app.config.get("RECORDING_MAX_UPLOAD_BYTES") or DEFAULT_MAX_UPLOAD_BYTES)


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
    """A new recording of a session, in state `received`, without an original yet."""
    course = db.session.get(Course, workshop_session.course_id)
    recording = Recording(course=course, session=workshop_session, source=source, source_ref=source_ref,
                          source_url=source_url, state=S.received)
    db.session.add(recording)
    db.session.flush()
    return recording


def copy_stream(stream: BinaryIO, target: Path, *, limit: int) -> int:
    """Copy `stream` into `target` in chunks; RecordingError when it is larger than `limit` bytes."""
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(target, "wb") as out:
            while chunk := stream.read(READ_CHUNK):
                size += len(chunk)
                if size > limit:
                    out.close()
                    target.unlink(missing_ok=True)
                    raise RecordingError(_too_large_message(), field="file")
                out.write(chunk)
    except OSError as exc:
        target.unlink(missing_ok=True)  # half a file is no use to anyone, and it holds the space
        if is_disk_full(exc):
            raise DiskFullError() from None
        raise
    return size


def _too_large_message() -> str:
    gigabytes = max_upload_bytes() / 1024**3
    return str(_l("Dit bestand is te groot. Het maximum is %(size)s GB.", size=f"{gigabytes:g}"))


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
    recording.state, recording.progress = S.received, 0.0
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


# --- resumable browser uploads (state kept in files, not the database) --------------------------------------


def _upload_dir(upload_id: str) -> Path:
    if not upload_id.isalnum() or len(upload_id) != 32:
        raise RecordingError(str(_l("Deze upload bestaat niet.")))
    return work_root() / "uploads" / upload_id


def start_upload(workshop_session: WorkshopSession, *, user_id: int, filename: str, total: int) -> str:
    """Reserve a resumable upload of `total` bytes and return its id."""
    if total <= 0:
        raise RecordingError(str(_l("Dit bestand is leeg.")), field="file")
    if total > max_upload_bytes():
        raise RecordingError(_too_large_message(), field="file")
    ensure_disk_space(total)
    upload_id = secrets.token_hex(16)
    folder = _upload_dir(upload_id)
    folder.mkdir(parents=True)
    meta = {"session_id": workshop_session.id, "user_id": user_id, "filename": safe_name(filename), "total": total}
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "data").touch()
    return upload_id


def upload_meta(upload_id: str, *, user_id: int) -> dict:
    """The upload's facts plus its current `offset`; RecordingError when unknown or someone else's."""
    folder = _upload_dir(upload_id)
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        raise RecordingError(str(_l("Deze upload bestaat niet."))) from None
    if meta["user_id"] != user_id:
        raise RecordingError(str(_l("Deze upload bestaat niet.")))
    return {**meta, "offset": (folder / "data").stat().st_size}


def append_upload(upload_id: str, stream: BinaryIO, *, user_id: int, start: int, total: int) -> dict:
    """Append a chunk that starts at byte `start`; a wrong offset changes nothing (the client resumes)."""
    meta = upload_meta(upload_id, user_id=user_id)
    if total != meta["total"] or start != meta["offset"]:
        return meta
    data = _upload_dir(upload_id) / "data"
    try:
        with open(data, "ab") as out:
            while chunk := stream.read(READ_CHUNK):
                if out.tell() + len(chunk) > meta["total"]:
                    out.truncate(start)
                    raise RecordingError(str(_l("Dit stuk valt buiten het bestand.")))
                out.write(chunk)
    except OSError as exc:
        os.truncate(data, start)  # drop what got written of this chunk: the client sends it again
        if is_disk_full(exc):
            raise DiskFullError() from None
        raise
    return {**meta, "offset": data.stat().st_size}


def finish_upload(upload_id: str, *, user_id: int) -> Recording:
    """Turn a complete upload into a recording of its session; the upload folder is removed."""
    meta = upload_meta(upload_id, user_id=user_id)
    if meta["offset"] != meta["total"]:
        raise RecordingError(str(_l("De upload is nog niet compleet.")))
    workshop_session = db.session.get(WorkshopSession, meta["session_id"])
    try:
        return receive_file(workshop_session, _upload_dir(upload_id) / "data", meta["filename"],
                            source=RecordingSource.upload)
    finally:
        cancel_upload(upload_id)


def cancel_upload(upload_id: str) -> None:
    """Remove an unfinished upload and everything it wrote."""
    shutil.rmtree(_upload_dir(upload_id), ignore_errors=True)


def remove_stale_uploads(*, now: datetime | None = None) -> int:
    """Delete unfinished uploads untouched for a day; return how many."""
    cutoff = (now or utcnow()).timestamp() - UPLOAD_MAX_AGE.total_seconds()
    removed = 0
    for folder in (work_root() / "uploads").glob("*"):
        if folder.is_dir() and max(p.stat().st_mtime for p in [folder, *folder.iterdir()]) < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


# --- the state machine --------------------------------------------------------------------------------------


def _step_task(recording: Recording):
    # Function-level imports: the task modules import this one. publish_tasks belongs to the publish step.
    if recording.state is S.received:
        tasks = import_module("recordings.tasks")
        return tasks.probe_recording if recording.original_key else tasks.download_recording
    if recording.state is S.queued:
        return import_module("recordings.tasks").transcode_recording
    if recording.state is S.transcoded:
        return import_module("recordings.publish_tasks").publish_recording
    return None


def advance_recording(recording: Recording) -> None:
    """Enqueue the task of the recording's next step, to run after the commit."""
    if recording.state is S.received and not recording.original_key and not recording.source_url:
        return
    task_fn = _step_task(recording)
    if task_fn is not None:
        enqueue_after_commit(db.session, task_fn, recording.id)


def claim_step(recording: Recording, step: str) -> bool:
    """Atomically move the recording into `step`; False when another run has it or it is already done."""
    start, running = STEPS[step]
    condition = Recording.state == start
    if step == "downloading":
        # The state does not change while downloading, so a fresh heartbeat marks the running download.
        condition &= Recording.original_key.is_(None) & or_(
            Recording.heartbeat_at.is_(None), Recording.heartbeat_at < _stale_cutoff())
    now = utcnow()
    done = db.session.execute(
        update(Recording).where(Recording.id == recording.id, condition)
        .values(state=running, heartbeat_at=now, progress=0.0, attempts=Recording.attempts + 1,
                failed_step=None, error_message=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.refresh(recording)
    return done.rowcount == 1


def _stale_cutoff(now: datetime | None = None) -> datetime:
    seconds = int(current_app.config.get("RECORDING_STALE_HEARTBEAT_S") or DEFAULT_STALE_HEARTBEAT_S)
    return (now or utcnow()) - timedelta(seconds=seconds)


def heartbeat(recording: Recording, progress: float | None = None) -> None:
    """Record that the step is alive (and how far it is); commits, so the reaper and the trainer see it."""
    recording.heartbeat_at = utcnow()
    if progress is not None:
        recording.progress = round(min(max(progress, 0.0), 1.0), 4)
    db.session.commit()


def record_failure(recording: Recording, step: str, message: str) -> None:
    """Mark the recording failed at `step` with a plain message; the original stays stored."""
    recording.state, recording.failed_step, recording.error_message = S.failed, step, str(message)
    recording.heartbeat_at = None
    shutil.rmtree(output_dir(recording), ignore_errors=True)
    db.session.flush()


def retry_recording(recording: Recording) -> None:
    """Start a failed step again (the trainer's Retry button)."""
    if recording.state is not S.failed:
        raise RecordingError(str(_l("Deze opname is niet mislukt; opnieuw proberen is niet nodig.")))
    recording.state = RETRY_FROM.get(recording.failed_step or "", S.received)
    if recording.state is S.received and not (recording.original_key or recording.source_url):
        raise RecordingError(str(_l("Van deze opname is geen origineel bewaard. Upload hem opnieuw.")))
    recording.failed_step = recording.error_message = None
    recording.progress, recording.heartbeat_at = 0.0, None
    db.session.flush()
    advance_recording(recording)


def media_message(exc: media.MediaError) -> str:
    """The plain trainer message for a probe failure."""
    for prefix, message in MESSAGES.items():
        if exc.message.startswith(prefix):
            return str(message)
    return str(MSG_UNUSABLE)


# --- steps --------------------------------------------------------------------------------------------------


def fetch_original(recording: Recording) -> Path:
    """The local copy of the original, fetched from storage when this machine has none."""
    local = local_original(recording)
    if local.is_file() and local.stat().st_size == recording.original_size:
        return local
    local.parent.mkdir(parents=True, exist_ok=True)
    partial = local.with_name("original.part")
    try:
        with get_storage().open(recording.original_key) as src, open(partial, "wb") as out:
            shutil.copyfileobj(src, out, READ_CHUNK)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, local)
    return local


def run_probe(recording: Recording) -> None:
    """Probe the original; record its facts and queue it, or fail with a plain message."""
    try:
        info = media.probe(fetch_original(recording))
    except media.MediaError as exc:
        log.info("recording %s failed the probe: %s %s", recording.id, exc.message, exc.detail[-300:])
        record_failure(recording, "probing", media_message(exc))
        return
    recording.duration_s, recording.width, recording.height = info.duration_s, info.width, info.height
    recording.probe = {k: getattr(info, k) for k in info.__dataclass_fields__}
    recording.state, recording.progress = S.queued, 1.0
    db.session.flush()
    advance_recording(recording)


def _enough_disk(recording: Recording) -> bool:
    folder = work_dir(recording)
    folder.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(folder).free >= DISK_HEADROOM * (recording.original_size or 0)


def run_transcode(recording: Recording) -> None:
    """Transcode the original into a fresh output folder, reporting progress; record the renditions."""
    out = output_dir(recording)
    shutil.rmtree(out, ignore_errors=True)  # leftovers of a run whose worker died
    if not _enough_disk(recording):
        record_failure(recording, "transcoding", str(MSG_DISK))
        return
    config = current_app.config
    try:
        result = media.transcode(
            fetch_original(recording), out, info=media.ProbeResult(**recording.probe),
            max_gop_s=float(config.get("MEDIA_MAX_GOP_S") or DEFAULT_MAX_GOP_S),
            timeout_s=config.get("MEDIA_TRANSCODE_TIMEOUT_S") or DEFAULT_TRANSCODE_TIMEOUT_S,
            small=bool(config.get("MEDIA_SMALL_LADDER")), on_progress=_progress_reporter(recording))
    except (media.MediaError, OSError) as exc:
        if isinstance(exc, OSError) and not is_disk_full(exc):
            raise
        full = _disk_filled_up(recording, exc)
        log.warning("recording %s transcode failed%s: %s", recording.id, " (disk full)" * full, exc)
        record_failure(recording, "transcoding", str(MSG_DISK if full else MSG_TRANSCODE))
        return
    recording.renditions = result.files
    recording.state, recording.progress, recording.heartbeat_at = S.transcoded, 1.0, None
    db.session.flush()
    advance_recording(recording)


def _disk_filled_up(recording: Recording, exc: Exception) -> bool:
    # ffmpeg's own complaint may not reach its log on a full disk, so an almost empty disk counts as the cause.
    detail = f"{exc} {getattr(exc, 'detail', '')}"
    return (is_disk_full(exc) or "No space left on device" in detail
            or shutil.disk_usage(work_dir(recording)).free < READ_CHUNK)


def _progress_reporter(recording: Recording):
    last = [0.0]

    def report(fraction: float) -> None:
        now = utcnow().timestamp()
        if now - last[0] >= HEARTBEAT_EVERY_S or fraction >= 1.0:
            last[0] = now
            heartbeat(recording, fraction)

    return report


def store_downloaded(recording: Recording, path: Path) -> None:
    """Store an original fetched from the source link; the link is then forgotten."""
    store_original(recording, path, _download_name(recording))
    recording.source_url = None
    db.session.flush()


def _download_name(recording: Recording) -> str:
    return f"jaas-{recording.session.room_name if recording.session else recording.uuid}.mp4"


# --- the reaper ---------------------------------------------------------------------------------------------


def stale_recordings(*, now: datetime | None = None) -> list[Recording]:
    """Recordings whose running step stopped sending heartbeats, or whose next step was never picked up."""
    cutoff = _stale_cutoff(now)
    # A waiting step may sit behind a long transcode backlog; only a much older one means its message was lost.
    lost = (now or utcnow()) - WAITING_FACTOR * (utcnow() - _stale_cutoff(utcnow()))
    running = Recording.state.in_([S.probing, S.transcoding, S.publishing])
    waiting = Recording.state.in_([S.received, S.queued, S.transcoded])
    query = select(Recording).where(or_(
        running & or_(Recording.heartbeat_at.is_(None), Recording.heartbeat_at < cutoff),
        waiting & (Recording.updated_at < lost),
    ))
    return list(db.session.scalars(query))


def requeue_stale(recording: Recording) -> None:
    """Put a dead step back to where it starts and enqueue it again (re-running a step is safe)."""
    if recording.state is S.probing:
        recording.state = S.received
    elif recording.state is S.transcoding:
        recording.state = S.queued
    elif recording.state is S.publishing:
        recording.state = S.transcoded
    recording.heartbeat_at, recording.progress = None, 0.0
    recording.updated_at = utcnow()
    db.session.flush()
    advance_recording(recording)


# --- the JaaS download ----------------------------------------------------------------------------------------


class LinkExpiredError(Exception):
    """The pre-authenticated link answered 403, 404 or 410."""


DOWNLOAD_TIMEOUT = (10, 60)  # connect, read (seconds)
EXPIRED_STATUSES = {401, 403, 404, 410}


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
                record_failure(recording, "downloading", str(MSG_LINK_EXPIRED))
                return
            if response.status_code >= 500 or response.status_code == 429:
                response.raise_for_status()  # transient: the task retries with backoff
            if response.status_code != 200:
                record_failure(recording, "downloading", str(MSG_DOWNLOAD))
                return
            _save_response(recording, response, scratch)
        store_downloaded(recording, scratch)
    except safefetch.UnsafeURLError as exc:
        log.warning("recording %s: JaaS download link refused (%s); allowed hosts: %s", recording.id, exc,
                    ", ".join(hosts))
        record_failure(recording, "downloading", str(MSG_LINK_REFUSED))
    except RecordingError as exc:
        record_failure(recording, "downloading", exc.message)
    finally:
        scratch.unlink(missing_ok=True)


def _save_response(recording: Recording, response, target: Path) -> None:
    total = int(response.headers.get("Content-Length") or 0)
    size, limit, beat = 0, max_upload_bytes(), utcnow().timestamp()
    with open(target, "wb") as out:
        for chunk in response.iter_content(READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise RecordingError(_too_large_message())
            out.write(chunk)
            if utcnow().timestamp() - beat >= HEARTBEAT_EVERY_S:
                beat = utcnow().timestamp()
                heartbeat(recording, size / total if total else None)


def release_step(recording: Recording, step: str, *, message: str | None) -> None:
    """After a transient error: back to the step's start for a retry, or failed with `message` on the last try."""
    if message is not None:
        record_failure(recording, step, message)
        return
    recording.state, recording.heartbeat_at = STEPS[step][0], None
    db.session.flush()


# --- JaaS webhook events ------------------------------------------------------------------------------------


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
