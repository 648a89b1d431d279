"""Files into storage for home activities (a parent's photo, clip or voice message, a trainer's picture or clip),
and out again as short-lived signed URLs.

Every file is checked and converted before anything is stored, so a bad upload leaves no row and no object:
photos are re-encoded (core.images), voice messages become mono AAC (core.media), clips are probed and their
original stored for the transcode task (activities.clips). Sizes come from the configuration (README).
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import abort, current_app, make_response, redirect
from flask_babel import format_decimal
from flask_babel import lazy_gettext as _l

from activities.models import MediaState
from core import images, media
from core.errors import DomainError
from core.storage import StorageError, get_storage

READ_CHUNK = 1024 * 1024
#: Photos with more pixels than this (after a JPEG's reduced decode) are refused rather than decoded.
MAX_DECODED_PIXELS = 60_000_000
STORED_CACHE = "private, max-age=86400"

MSG_EMPTY = _l("Dit bestand is leeg. Kies een andere foto of een ander filmpje.")
MSG_TOO_LARGE = _l("Dit bestand is te groot. Het mag niet groter zijn dan %(size)s MB.")
MSG_NOT_MEDIA = _l("Dit is geen foto, filmpje of geluid. Kies een ander bestand.")
MSG_CORRUPT = _l("Deze foto is kapot en gaat niet open. Maak een nieuwe foto.")
MSG_TOO_MANY_PIXELS = _l("Deze foto is te groot. Kies een kleinere foto.")
MSG_BAD_CLIP = _l("Dit filmpje gaat niet open. Maak een nieuw filmpje.")
MSG_BAD_VOICE = _l("Dit geluid gaat niet open. Neem het nog een keer op.")
MSG_TOO_LONG = _l("Dit is te lang. Het mag niet langer zijn dan %(minutes)s minuten.")
MSG_STORAGE = _l("Het opslaan is niet gelukt. Probeer het nog een keer.")
MSG_NOT_ASKED = {
    "photo": _l("Hier vraagt de trainer geen foto."),
    "clip": _l("Hier vraagt de trainer geen filmpje."),
    "voice": _l("Hier vraagt de trainer geen geluid."),
}


class MediaUploadError(DomainError):
    """An uploaded file cannot be used; the message is for the person who sent it."""


@dataclass(frozen=True)
class StoredFile:
    """What went into storage for one upload."""

    kind: str  # "photo", "clip" or "voice"
    key: str
    content_type: str
    size: int
    duration_s: float | None = None
    processing: bool = False


def max_upload_bytes() -> int:
    """The largest file a parent or trainer may send (RESPONSE_MAX_UPLOAD_BYTES)."""
    return int(current_app.config["RESPONSE_MAX_UPLOAD_BYTES"])


def max_seconds() -> int:
    """The longest clip or voice message (RESPONSE_MAX_SECONDS)."""
    return int(current_app.config["RESPONSE_MAX_SECONDS"])


def too_large_message() -> str:
    """"Too large", with the limit in MB written the local way."""
    return str(MSG_TOO_LARGE % {"size": format_decimal(round(max_upload_bytes() / 1024**2, 1))})


def too_long_message() -> str:
    """"Too long", with the limit in minutes written the local way."""
    return str(MSG_TOO_LONG % {"minutes": format_decimal(round(max_seconds() / 60, 1))})


def scratch_dir() -> Path:
    """Where uploads wait while they are checked: `<instance>/work/incoming/`."""
    return Path(current_app.config["INSTANCE_PATH"]) / "work" / "incoming"


def copy_limited(stream: BinaryIO, target: Path, *, limit: int) -> int:
    """Copy `stream` to `target` in chunks; MediaUploadError when empty or larger than `limit` bytes."""
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        while chunk := stream.read(READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise MediaUploadError(too_large_message(), field="file")
            out.write(chunk)
    if size == 0:
        raise MediaUploadError(str(MSG_EMPTY), field="file")
    return size


def store_upload(stream: BinaryIO, folder: str, *, allowed: set[str]) -> StoredFile:
    """Check, convert and store one upload under the storage `folder`; nothing is stored when it fails.

    `allowed` holds the kinds accepted here ("photo", "clip", "voice"). A clip is stored as its original with
    `processing=True`: the caller queues the transcode after commit.
    """
    work = scratch_dir() / secrets.token_hex(16)
    work.mkdir(parents=True)
    try:
        source = work / "upload"
        copy_limited(stream, source, limit=max_upload_bytes())
        kind = _kind_of(source)
        if kind not in allowed:
            raise MediaUploadError(str(MSG_NOT_ASKED.get(kind, MSG_NOT_MEDIA)), field="file")
        return {"photo": _store_photo, "clip": _store_clip, "voice": _store_voice}[kind](source, folder)
    except StorageError as exc:
        current_app.logger.warning("upload to %s not stored: %s", folder, exc)
        raise MediaUploadError(str(MSG_STORAGE), field="file") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _kind_of(path: Path) -> str | None:
    if images.is_image(path):
        return "photo"
    return {"video": "clip", "audio": "voice"}.get(media.media_kind(path) or "")


def _store_photo(path: Path, folder: str) -> StoredFile:
    config = current_app.config
    try:
        with open(path, "rb") as fh:
            data = images.reencode_photo(fh, max_side=int(config["PHOTO_MAX_SIDE"]),
                                         max_bytes=int(config["PHOTO_MAX_BYTES"]), max_pixels=MAX_DECODED_PIXELS)
    except images.ImageError as exc:
        message = {"too many pixels": MSG_TOO_MANY_PIXELS, "not an image": MSG_NOT_MEDIA}.get(exc.reason, MSG_CORRUPT)
        raise MediaUploadError(str(message), field="file") from None
    stored = get_storage().put_bytes(folder + "photo.jpg", data, content_type="image/jpeg",
                                     cache_control=STORED_CACHE)
    return StoredFile("photo", stored.key, "image/jpeg", stored.size)


#: A photo as a phone shows it: 720 px is a 360-px screen at DPR 2.
THUMBNAIL_SIDE, THUMBNAIL_BYTES = 720, 150 * 1024


def store_thumbnail(row) -> str:
    """Store a screen-sized JPEG of a ready photo next to it and set it as the row's poster; returns its key."""
    storage = get_storage()
    with storage.open(row.media_key) as fh:
        data = images.reencode_photo(fh, max_side=THUMBNAIL_SIDE, max_bytes=THUMBNAIL_BYTES,
                                     max_pixels=MAX_DECODED_PIXELS)
    key = row.media_key.rsplit("/", 1)[0] + "/thumb.jpg"
    row.poster_key = storage.put_bytes(key, data, content_type="image/jpeg", cache_control=STORED_CACHE).key
    return row.poster_key


def _store_voice(path: Path, folder: str) -> StoredFile:
    target = path.with_name("voice.m4a")
    try:
        duration = media.transcode_voice(path, target, max_seconds=max_seconds())
    except media.MediaError:
        raise MediaUploadError(str(MSG_BAD_VOICE), field="file") from None
    if duration > max_seconds():
        raise MediaUploadError(too_long_message(), field="file")
    stored = get_storage().put_file(folder + "voice.m4a", target, content_type="audio/mp4",
                                    cache_control=STORED_CACHE)
    return StoredFile("voice", stored.key, "audio/mp4", stored.size, duration_s=round(duration, 2))


def _store_clip(path: Path, folder: str) -> StoredFile:
    try:
        info = media.probe(path)
    except media.MediaError:
        raise MediaUploadError(str(MSG_BAD_CLIP), field="file") from None
    if info.duration_s > max_seconds():
        raise MediaUploadError(too_long_message(), field="file")
    stored = get_storage().put_file(folder + "original", path, content_type="application/octet-stream")
    return StoredFile("clip", stored.key, "application/octet-stream", stored.size,
                      duration_s=round(info.duration_s, 2), processing=True)


def delete_objects(keys: list[str]) -> None:
    """Remove stored objects (after a failed commit or a duplicate); a storage error is logged, not raised."""
    storage = get_storage()
    for key in keys:
        try:
            storage.delete(key)
        except StorageError as exc:
            current_app.logger.warning("could not delete %s: %s", key, exc)


def signed_url(key: str) -> str:
    """A short-lived signed URL of a stored object (PLAYBACK_URL_TTL_SECONDS); may be relative (local storage)."""
    ttl = int(current_app.config.get("PLAYBACK_URL_TTL_SECONDS", 300))
    return get_storage().url(key, expires_in=ttl)


def signed_redirect(row, part: str):
    """A redirect to a short-lived signed URL of a ready file (or poster) of `row`; 404 when there is none."""
    key = row.poster_key if part == "poster" else row.media_key
    if not key or (part == "file" and row.state is not MediaState.ready):
        abort(404)
    response = make_response(redirect(signed_url(key)))
    response.headers["Cache-Control"] = "no-store"  # a signed URL is personal
    response.headers["X-Robots-Tag"] = "noindex"
    return response
