"""Publishing a transcoded recording to storage, cleaning up after it, and expiring or deleting its objects
(style.md §3.8)."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import literal, select, tuple_

from core.db import utcnow
from core.errors import DomainError
from core.extensions import db
from core.storage import Storage, StorageError, file_sha256, get_storage
from recordings import pipeline
from recordings.files import output_dir, work_dir
from recordings.models import Recording, RecordingState
from recordings.pipeline import PUBLISH

#: Segments, init segments, poster and MP4 never change under their key: cache them for a year.
IMMUTABLE_CACHE = "private, max-age=31536000, immutable"
#: Playlists and captions may be replaced (e.g. a corrected caption file), so keep them short-lived.
SHORT_CACHE = "private, max-age=60"
#: Renditions uploaded at once.
PUBLISH_CONCURRENCY = 4


class PublishError(DomainError):
    """The recording cannot be published (wrong state, missing work files)."""


def recording_prefix(recording: Recording) -> str:
    """The storage prefix every published object of the recording lives under: the one its row records once
    published (older recordings: recordings/<uuid>/), else under its organisation (orgs/<id>/recordings/<uuid>/)."""
    return recording.published_prefix or f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/"


def uuid_of_key(key: str) -> str | None:
    """The recording uuid in a storage key (orgs/<id>/recordings/<uuid>/… or, older, recordings/<uuid>/…)."""
    parts = key.split("/")
    if len(parts) > 4 and parts[0] == "orgs" and parts[2] == "recordings":
        parts = parts[2:]
    return parts[1] if len(parts) > 2 and parts[0] == "recordings" and parts[1] else None


def cache_control_for(name: str) -> str:
    """Cache-Control for a rendition file: short for playlists and captions, immutable for the rest."""
    return SHORT_CACHE if name.endswith((".m3u8", ".vtt")) else IMMUTABLE_CACHE


def publish_recording(recording: Recording, *, storage: Storage | None = None, now: datetime | None = None) -> int:
    """Upload and verify every rendition missing or wrong in storage, then move it on: to review, or to parents
    when the course publishes automatically; flushes.

    The publish task claims the step first; a transcoded recording passed in directly is claimed here (commits).
    Returns how many objects were uploaded (0 when storage already held them all). Network; raises StorageError.
    """
    storage = storage or get_storage()
    if recording.state is not RecordingState.publishing and not pipeline.claim(recording, PUBLISH):
        raise PublishError(f"recording {recording.uuid} is {recording.state.value}, not transcoded")
    if not recording.renditions:
        raise PublishError(f"recording {recording.uuid} has no renditions to publish")
    out, prefix = output_dir(recording), recording_prefix(recording)
    files = sorted(recording.renditions.items())
    missing = [name for name, _type in files if not (out / name).is_file()]
    if missing:
        raise PublishError(f"the work copy lacks {missing[0]}; transcode the recording again")
    # One listing instead of a HEAD per file: on a first publish nothing is stored yet, and after a crash only
    # the keys listed need checking.
    stored = set(storage.list(prefix))
    jobs = [(out / name, prefix + name, content_type, cache_control_for(name), prefix + name in stored)
            for name, content_type in files]
    # Segments are small, so one upload at a time waits on round trips; a few at once keep the link busy.
    with ThreadPoolExecutor(max_workers=PUBLISH_CONCURRENCY) as pool:
        uploaded = sum(pool.map(lambda job: _publish_file(storage, *job), jobs))
    now = now or utcnow()
    recording.published_prefix = prefix
    # Retention counts from the upload: the objects are in storage from now on, reviewed or not.
    recording.expires_at = now + timedelta(days=recording.course.retention_days)
    pipeline.finish(recording, PUBLISH)
    if recording.state is RecordingState.published:
        recording.published_at = now
    return uploaded


def _publish_file(storage: Storage, path: Path, key: str, content_type: str, cache_control: str, listed: bool) -> int:
    size, sha256 = path.stat().st_size, file_sha256(path)
    if listed and _already_stored(storage, key, size=size, sha256=sha256, content_type=content_type,
                                  cache_control=cache_control):
        return 0
    # put_file HEADs the object for its size and stores the hash we give it: no second HEAD or hashing needed.
    stored = storage.put_file(key, path, content_type=content_type, cache_control=cache_control, sha256=sha256)
    if (stored.size, stored.sha256) != (size, sha256):
        raise StorageError(f"{key!r} was stored with {stored.size} bytes, expected {size}", key=key)
    return 1


def _already_stored(storage: Storage, key: str, *, size, sha256, content_type, cache_control) -> bool:
    info = storage.head(key)
    if info is None or (info.content_type, info.cache_control) != (content_type, cache_control):
        return False
    try:
        storage.verify(key, size=size, sha256=sha256)
    except StorageError:
        return False
    return True


def remove_local_copies(recording: Recording, *, storage: Storage | None = None) -> None:
    """After publishing: delete the work folder and, unless RECORDING_KEEP_ORIGINAL, the original; flushes."""
    if recording.state not in pipeline.STORED:
        return
    shutil.rmtree(work_dir(recording), ignore_errors=True)
    if recording.original_key and not current_app.config.get("RECORDING_KEEP_ORIGINAL", False):
        (storage or get_storage()).delete(recording.original_key)
        recording.original_key = None
        db.session.flush()


def is_expired(recording: Recording, *, now: datetime | None = None) -> bool:
    """True when the recording expired, or its retention period ended and the sweep has not run yet."""
    if recording.state == RecordingState.expired:
        return True
    return recording.expires_at is not None and recording.expires_at <= (now or utcnow())


def object_prefixes(recording: Recording) -> list[str]:
    """Every prefix the recording's objects may be stored under: the one its row records, its organisation's
    folder (a publish that failed halfway) and the shared folder of recordings from before organisations."""
    uuid = recording.uuid
    return sorted({recording_prefix(recording), f"orgs/{recording.course.organisation_id}/recordings/{uuid}/",
                   f"recordings/{uuid}/"})


def delete_objects(recording: Recording, *, storage: Storage | None = None) -> int:
    """Delete every stored object of the recording, its original and its work folder; network. Returns how many
    objects under its prefixes were deleted. Changes no column."""
    storage = storage or get_storage()
    deleted = sum(storage.delete_prefix(prefix) for prefix in object_prefixes(recording))
    if recording.original_key:
        storage.delete(recording.original_key)  # an original stored under another key than its renditions
    shutil.rmtree(work_dir(recording), ignore_errors=True)
    return deleted


def expire_recording(recording: Recording, *, storage: Storage | None = None) -> int:
    """Delete every stored object of the recording and its original, and mark it expired; flushes; network."""
    deleted = delete_objects(recording, storage=storage)
    recording.original_key = None
    recording.published_prefix = None
    pipeline.expire(recording)
    return deleted


#: Due recordings the retention sweep reads at a time, and the most batches in one run: the next run goes on.
EXPIRY_BATCH = 200
EXPIRY_MAX_BATCHES = 5


def find_due_for_expiry(*, now: datetime | None = None, after: tuple[datetime, int] | None = None) -> list[tuple[datetime, int]]:
    """The next EXPIRY_BATCH recordings whose retention period has ended and that are not expired yet, as
    (expires_at, id) in that order, after the key `after`: a range of the partial index `ix_recordings_unexpired`,
    so the expired rows that pile up over the years are never read."""
    # `expired` as a literal: a prepared statement's generic plan could not use the partial index with a parameter.
    unexpired = Recording.state != literal(RecordingState.expired, Recording.state.type, literal_execute=True)
    query = select(Recording.expires_at, Recording.id).where(unexpired, Recording.expires_at <= (now or utcnow()))
    if after is not None:
        # A plain tuple, so its values are bound with the columns' types (UTCDateTime on SQLite).
        query = query.where(tuple_(Recording.expires_at, Recording.id) > tuple(after))
    query = query.order_by(Recording.expires_at, Recording.id).limit(EXPIRY_BATCH)
    return [(expires_at, recording_id) for expires_at, recording_id in db.session.execute(query)]
