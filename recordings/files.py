"""Where a recording's files live on this machine and in storage, and whether the disk has room for them."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from flask_babel import lazy_gettext as _l
from werkzeug.utils import secure_filename

from core.storage import get_storage
from recordings.errors import DiskFullError, RecordingError
from recordings.models import Recording

READ_CHUNK = 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 8 * 1024**3
#: Free disk space needed before a transcode, as a multiple of the original's size.
DISK_HEADROOM = 3


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


def too_large_message() -> str:
    """The plain message for an original over `max_upload_bytes()`."""
    gigabytes = max_upload_bytes() / 1024**3
    return str(_l("Dit bestand is te groot. Het maximum is %(size)s GB.", size=f"{gigabytes:g}"))


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
                    raise RecordingError(too_large_message(), field="file")
                out.write(chunk)
    except OSError as exc:
        target.unlink(missing_ok=True)  # half a file is no use to anyone, and it holds the space
        if is_disk_full(exc):
            raise DiskFullError() from None
        raise
    return size


def fetch_original(recording: Recording) -> Path:
    """The local copy of the original, fetched from storage when this machine has none (network)."""
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


# --- disk checks ------------------------------------------------------------------------------------------------


def is_disk_full(exc: BaseException) -> bool:
    """True for an OSError that says the disk (or the quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def ensure_disk_space(size: int) -> None:
    """DiskFullError when the work folder has fewer than `size` bytes free; checked before an upload starts."""
    root = work_root()
    root.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(root).free < size:
        raise DiskFullError()


def enough_disk_to_transcode(recording: Recording) -> bool:
    """True when the work folder has DISK_HEADROOM times the original's size free (creates the folder)."""
    folder = work_dir(recording)
    folder.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(folder).free >= DISK_HEADROOM * (recording.original_size or 0)


def disk_filled_up(recording: Recording, exc: Exception) -> bool:
    """True when a failed transcode ran out of disk space."""
    # ffmpeg's own complaint may not reach its log on a full disk, so an almost empty disk counts as the cause.
    detail = f"{exc} {getattr(exc, 'detail', '')}"
    return (is_disk_full(exc) or "No space left on device" in detail
            or shutil.disk_usage(work_dir(recording)).free < READ_CHUNK)
