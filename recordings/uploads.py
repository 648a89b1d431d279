"""Resumable browser uploads: a reserved upload takes chunks at its offset until complete, then becomes a recording.

Their state is kept in files under `<work>/uploads/<id>/` (meta.json and data), not in the database.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from flask_babel import lazy_gettext as _l

from accounts.models import User
from core.db import utcnow
from core.extensions import db
from recordings.consent import confirm
from recordings.errors import DiskFullError, RecordingError
from recordings.files import (
    READ_CHUNK,
    ensure_disk_space,
    is_disk_full,
    max_upload_bytes,
    safe_name,
    too_large_message,
    work_root,
)
from recordings.models import Recording, RecordingSource
from recordings.services import receive_file
from sessions.models import WorkshopSession

UPLOAD_MAX_AGE = timedelta(days=1)


def _upload_dir(upload_id: str) -> Path:
    if not upload_id.isalnum() or len(upload_id) != 32:
        raise RecordingError(str(_l("Deze upload bestaat niet.")))
    return work_root() / "uploads" / upload_id


def start_upload(workshop_session: WorkshopSession, *, user_id: int, filename: str, total: int,
                 confirmed: bool = False) -> str:
    """Reserve a resumable upload of `total` bytes and return its id.

    :param confirmed: the trainer confirmed it although parents present had not consented (recordings/consent.py).
    """
    if total <= 0:
        raise RecordingError(str(_l("Dit bestand is leeg.")), field="file")
    if total > max_upload_bytes():
        raise RecordingError(too_large_message(), field="file")
    ensure_disk_space(total)
    upload_id = secrets.token_hex(16)
    folder = _upload_dir(upload_id)
    folder.mkdir(parents=True)
    meta = {"session_id": workshop_session.id, "user_id": user_id, "filename": safe_name(filename), "total": total,
            "confirmed": confirmed}
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
        recording = receive_file(workshop_session, _upload_dir(upload_id) / "data", meta["filename"],
                                 source=RecordingSource.upload)
    finally:
        cancel_upload(upload_id)
    if meta.get("confirmed"):
        confirm(recording, db.session.get(User, user_id))
    return recording


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
