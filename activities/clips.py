"""Short clips of activities and responses: from the stored original to a small 360p MP4 and a poster.

A clip goes through the same transcode as a recording (core.media.transcode with the small ladder: one 360p
rung). Clips are short, so only the faststart MP4 of that rung and the poster are published (no HLS playlists):
every phone plays an MP4 in a plain <video> without hls.js. The original is deleted once the MP4 is stored.
"""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from activities.models import ActivityMedia, ActivityResponse, MediaState, StoredMediaMixin
from core import media
from core.db import utcnow
from core.extensions import db
from core.storage import get_storage

log = logging.getLogger("ouderkamer.activities")

#: A clip still `processing` after this long lost its task (worker died): the sweep queues it again.
STUCK_AFTER = timedelta(minutes=30)
READY_CACHE = "private, max-age=86400"
MSG_CLIP_FAILED = _l("Dit filmpje konden we niet verwerken. Stuur het nog een keer, of maak een nieuw filmpje.")


def work_dir(row: StoredMediaMixin) -> Path:
    """The clip's scratch folder: `<instance>/work/clips/<uuid>/`."""
    return Path(current_app.config["INSTANCE_PATH"]) / "work" / "clips" / row.uuid


def folder_of(key: str) -> str:
    """The storage folder (ending in /) that holds `key`."""
    return key.rsplit("/", 1)[0] + "/"


def _fetch(key: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with get_storage().open(key) as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out, 1024 * 1024)


def process_clip(row: StoredMediaMixin) -> None:
    """Transcode a `processing` clip's original, store the MP4 and poster, delete the original; flushes.

    Storage errors propagate (the task retries them); a media error marks the row failed with a plain message.
    """
    if row.state is not MediaState.processing or not row.media_key:
        return
    folder, original, storage = work_dir(row), work_dir(row) / "original", get_storage()
    shutil.rmtree(folder, ignore_errors=True)  # leftovers of a run whose worker died
    try:
        _fetch(row.media_key, original)
        result = media.transcode(original, folder / "out", small=True,
                                 timeout_s=current_app.config.get("MEDIA_TRANSCODE_TIMEOUT_S"))
        prefix = folder_of(row.media_key)
        keys = {}
        for name, target, content_type in ((result.mp4, "clip.mp4", "video/mp4"),
                                           (result.poster, "poster.jpg", "image/jpeg")):
            stored = storage.put_file(prefix + target, result.out_dir / name, content_type=content_type,
                                      cache_control=READY_CACHE)
            keys[target] = stored
        storage.delete(row.media_key)
        row.media_key, row.poster_key = keys["clip.mp4"].key, keys["poster.jpg"].key
        row.size, row.duration_s, row.content_type = keys["clip.mp4"].size, result.duration_s, "video/mp4"
        row.state, row.error_message = MediaState.ready, None
    except media.MediaError as exc:
        log.warning("clip %s could not be transcoded: %s %s", row.uuid, exc.message, exc.detail[-300:])
        fail_clip(row)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    db.session.flush()


def fail_clip(row: StoredMediaMixin) -> None:
    """Mark a clip failed with a plain message and delete its original (nothing playable is left); flushes."""
    if row.media_key:
        get_storage().delete(row.media_key)
    row.media_key, row.poster_key = None, None
    row.state, row.error_message = MediaState.failed, str(MSG_CLIP_FAILED)
    db.session.flush()


def stuck_clips(*, now=None) -> list[StoredMediaMixin]:
    """Activity clips and response clips that have been `processing` for longer than STUCK_AFTER."""
    cutoff = (now or utcnow()) - STUCK_AFTER
    rows: list[StoredMediaMixin] = []
    for model in (ActivityMedia, ActivityResponse):
        query = select(model).where(model.state == MediaState.processing, model.updated_at < cutoff)
        rows += db.session.scalars(query)
    return rows
