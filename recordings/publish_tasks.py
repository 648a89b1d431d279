"""Thin Huey tasks: publish a transcoded recording to storage, and expire recordings whose retention ended."""

from __future__ import annotations

import logging

from huey import crontab

from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_after_commit, huey, task
from core.storage import StorageError
from recordings import heartbeat, notify, pipeline, publish, steps
from recordings.models import Recording, RecordingState

log = logging.getLogger(__name__)

PUBLISH_RETRIES = 6
PUBLISH_RETRY_DELAY_S = 30  # doubled on each retry: 30 s, 1, 2, 4, 8, 16 min


@task(name="recordings.publish", retries=PUBLISH_RETRIES, retry_delay=PUBLISH_RETRY_DELAY_S, retry_backoff=2,
      context=True)
def publish_recording(recording_id: int, task=None) -> None:
    """Upload and verify the recording's renditions, move it to review (or to parents), then remove local copies;
    commits."""
    recording = db.session.get(Recording, recording_id)
    if recording is not None and recording.state in pipeline.STORED:
        _clean_up(recording)  # a crash may have come between publishing and the clean-up
        return
    # Claimed (state `publishing`, with a heartbeat) so a second run waits, and the reaper can tell a dead
    # worker from a running one.
    recording = steps.run_step(recording_id, pipeline.PUBLISH, _publish, task, permanent=(publish.PublishError,))
    if recording is not None:
        _clean_up(recording)


def _publish(recording: Recording) -> None:
    with heartbeat.heartbeats(recording.id, pipeline.PUBLISH):
        publish.publish_recording(recording)
    # Only on the step's one transition out of `publishing`: parents are told once, or the trainers once.
    if recording.state is RecordingState.published:
        enqueue_after_commit(db.session, notify.notify_recording_ready, recording.id)
    else:
        enqueue_after_commit(db.session, notify.notify_review, recording.id)


def _clean_up(recording: Recording) -> None:
    try:
        publish.remove_local_copies(recording)
        db.session.commit()
    except StorageError as exc:
        # Published and playable; the original stays until the next run or expiry removes it.
        db.session.rollback()
        log.warning("could not remove the original of recording %s: %s", recording.id, exc)


@task(name="recordings.expire", retries=3, retry_delay=300)
def expire_recording(recording_id: int) -> None:
    """Delete every stored object of one recording whose retention ended and mark it expired; commits."""
    recording = db.session.get(Recording, recording_id)
    if recording is None or not publish.is_expired(recording) or recording.state is RecordingState.expired:
        return
    publish.expire_recording(recording)
    db.session.commit()


@task(name="recordings.expire_due")
@huey.lock_task("recordings.expire_due")
def expire_due_recordings() -> None:
    """Enqueue one expiry task per recording whose retention period has ended: EXPIRY_BATCH at a time, at most
    EXPIRY_MAX_BATCHES batches per run (the next run goes on; a task enqueued twice does nothing the second time)."""
    now, after = utcnow(), None
    for _batch in range(publish.EXPIRY_MAX_BATCHES):
        rows = publish.find_due_for_expiry(now=now, after=after)
        db.session.commit()  # no transaction stays open while the tasks are sent (or run, in immediate mode)
        for _expires_at, recording_id in rows:
            expire_recording(recording_id)
        if len(rows) < publish.EXPIRY_BATCH:
            break
        after = rows[-1]


# Periodic tasks get no app context from core.queue.task, so this one only hands over to a plain task.
@huey.periodic_task(crontab(minute="17"), name="recordings.expire_recordings")
def expire_recordings() -> None:
    """Hourly (UTC): start the retention sweep."""
    expire_due_recordings()
