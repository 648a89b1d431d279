"""Pipeline steps run by the worker: download, probe, transcode, and the stale-step reaper."""

from __future__ import annotations

import logging
from collections.abc import Callable

import requests
from huey import crontab

from core.extensions import db
from core.queue import periodic_task, task
from core.storage import StorageError
from recordings import services
from recordings.models import Recording

log = logging.getLogger(__name__)

TRANSIENT = (StorageError, requests.RequestException)
FAILURE_MESSAGES = {"downloading": services.MSG_DOWNLOAD, "probing": services.MSG_STORAGE,
                    "transcoding": services.MSG_STORAGE}


def _is_transient(exc: Exception) -> bool:
    return not isinstance(exc, StorageError) or exc.transient


def _run_step(recording_id: int, step: str, work: Callable[[Recording], None], task=None) -> None:
    recording = db.session.get(Recording, recording_id)
    if recording is None or not services.claim_step(recording, step):
        return  # gone, already done, or running elsewhere
    try:
        work(recording)
    except TRANSIENT as exc:
        db.session.rollback()
        last = task is None or task.retries <= 0 or not _is_transient(exc)
        log.warning("recording %s: %s failed (%s); %s", recording_id, step, exc, "giving up" if last else "retrying")
        services.release_step(recording, step, message=str(FAILURE_MESSAGES[step]) if last else None)
        db.session.commit()
        if not last:
            raise
        return
    db.session.commit()


@task(name="recordings.download", retries=4, retry_delay=30, retry_backoff=2, context=True)
def download_recording(recording_id: int, task=None) -> None:
    """Fetch a JaaS recording from its pre-authenticated link and store it as the original."""
    _run_step(recording_id, "downloading", services.run_download, task)


@task(name="recordings.probe", retries=3, retry_delay=10, retry_backoff=2, context=True)
def probe_recording(recording_id: int, task=None) -> None:
    """Check the original with ffprobe: queue it for transcoding or fail with a plain message."""
    _run_step(recording_id, "probing", services.run_probe, task)


@task(name="recordings.transcode", retries=2, retry_delay=60, retry_backoff=2, context=True)
def transcode_recording(recording_id: int, task=None) -> None:
    """Transcode the original into the HLS ladder, poster and MP4 in the recording's work folder."""
    _run_step(recording_id, "transcoding", services.run_transcode, task)


@periodic_task(crontab(minute="*/2"), name="recordings.reap_stale_steps")
def reap_stale_steps() -> None:
    """Re-queue steps whose worker died (stale heartbeat) and remove abandoned uploads."""
    for recording in services.stale_recordings():
        log.warning("recording %s: %s has a stale heartbeat; re-queued", recording.id, recording.state.value)
        services.requeue_stale(recording)
    services.remove_stale_uploads()
    db.session.commit()
