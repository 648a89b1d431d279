"""Pipeline steps run by the worker: download, probe, transcode, the stale-step reaper, and the removal of replaced
first versions (thin: steps.py works)."""

from __future__ import annotations

from huey import crontab

from core.extensions import db
from core.queue import periodic_task, task
from recordings import pipeline, reaper, steps, uploads
from recordings.models import Recording


@task(name="recordings.download", retries=4, retry_delay=30, retry_backoff=2, context=True)
def download_recording(recording_id: int, task=None) -> None:
    """Fetch a JaaS recording from its pre-authenticated link and store it as the original."""
    steps.run_step(recording_id, pipeline.DOWNLOAD, steps.run_download, task)


@task(name="recordings.probe", retries=3, retry_delay=10, retry_backoff=2, context=True)
def probe_recording(recording_id: int, task=None) -> None:
    """Check the original with ffprobe: queue it for transcoding or fail with a plain message."""
    steps.run_step(recording_id, pipeline.PROBE, steps.run_probe, task)


@task(name="recordings.transcode", retries=2, retry_delay=60, retry_backoff=2, context=True)
def transcode_recording(recording_id: int, task=None) -> None:
    """Transcode the original into the HLS ladder, poster and MP4 in the recording's work folder (the ladder step
    when a first version plays meanwhile)."""
    recording = db.session.get(Recording, recording_id)
    step = pipeline.transcode_step(recording.state) if recording is not None else pipeline.TRANSCODE
    steps.run_step(recording_id, step, steps.run_transcode, task)


@task(name=pipeline.REMOVE_FIRST_VERSION, retries=3, retry_delay=300)
def remove_first_version(recording_id: int) -> None:
    """Delete a first version the full ladder replaced, scheduled once its URLs have expired; safe to run twice."""
    recording = db.session.get(Recording, recording_id)
    if recording is not None and pipeline.first_version_replaced(recording):
        steps.remove_first_version(recording)
        db.session.commit()


@periodic_task(crontab(minute="*/2"), name="recordings.reap_stale_steps")
def reap_stale_steps() -> None:
    """Re-queue steps whose worker died (stale heartbeat) or whose message was lost, in committed batches (a bounded
    number per run), and remove abandoned uploads."""
    reaper.requeue_stale_recordings()
    uploads.remove_stale_uploads()
    db.session.commit()


@periodic_task(crontab(minute="*/10"), name="recordings.reap_first_versions")
def reap_first_versions() -> None:
    """Remove the replaced first versions whose scheduled removal was lost (their URLs expired long ago)."""
    for recording_id in reaper.replaced_first_versions():
        remove_first_version(recording_id)
