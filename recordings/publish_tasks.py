"""Thin Huey tasks: publish a transcoded recording, and expire recordings whose retention ended."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from huey import crontab
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from core.db import utcnow
from core.extensions import db
from core.queue import enqueue_after_commit, huey, task
from core.storage import StorageError
from recordings import notify, publish, services
from recordings.models import Recording, RecordingState

log = logging.getLogger(__name__)

PUBLISH_RETRIES = 6
PUBLISH_RETRY_DELAY_S = 30  # doubled on each retry: 30 s, 1, 2, 4, 8, 16 min


@task(name="recordings.publish", retries=PUBLISH_RETRIES, retry_delay=PUBLISH_RETRY_DELAY_S, retry_backoff=2,
      context=True)
def publish_recording(recording_id: int, task=None) -> None:
    """Upload and verify the recording's renditions, mark it published, then remove local copies; commits."""
    recording = db.session.get(Recording, recording_id)
    if recording is None:
        return
    if recording.state == RecordingState.published:
        _clean_up(recording)  # a crash may have come between publishing and the clean-up
        return
    # Claimed (state `publishing`, with a heartbeat) so a second run waits, and the reaper can tell a dead
    # worker from a running one.
    if not services.claim_step(recording, publish.PUBLISH_STEP):
        return
    try:
        with _heartbeat(recording_id):
            publish.publish_recording(recording)
        # Only here, on the one transition to `published`, so each parent is told once per recording.
        enqueue_after_commit(db.session, notify.notify_recording_ready, recording_id)
        db.session.commit()
    except (StorageError, publish.PublishError) as exc:
        db.session.rollback()
        transient = isinstance(exc, StorageError) and exc.transient
        if transient and task is not None and task.retries > 0:
            log.warning("publishing recording %s failed, will retry: %s", recording_id, exc)
            services.release_step(db.session.get(Recording, recording_id), publish.PUBLISH_STEP, message=None)
            db.session.commit()
            raise
        log.error("publishing recording %s failed: %s", recording_id, exc)
        publish.record_publish_failure(db.session.get(Recording, recording_id))
        db.session.commit()
        return
    _clean_up(recording)


@contextmanager
def _heartbeat(recording_id: int) -> Iterator[None]:
    """Refresh the step's heartbeat from a side thread (own connection) while the uploads run."""
    engine, stop = db.engine, threading.Event()
    running = (Recording.id == recording_id) & (Recording.state == RecordingState.publishing)

    def run() -> None:
        while not stop.wait(services.HEARTBEAT_EVERY_S):
            try:
                with engine.begin() as conn:
                    conn.execute(update(Recording).where(running).values(heartbeat_at=utcnow()))
            except SQLAlchemyError as exc:  # a missed beat is harmless; the next one may get through
                log.warning("recording %s: publishing heartbeat failed: %s", recording_id, exc)

    thread = threading.Thread(target=run, name=f"publish-heartbeat-{recording_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


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
    if recording is None or not publish.is_expired(recording) or recording.state == RecordingState.expired:
        return
    publish.expire_recording(recording)
    db.session.commit()


@task(name="recordings.expire_due")
@huey.lock_task("recordings.expire_due")
def expire_due_recordings() -> None:
    """Enqueue one expiry task per recording whose retention period has ended."""
    for recording_id in publish.find_due_for_expiry():
        expire_recording(recording_id)


# Periodic tasks get no app context from core.queue.task, so this one only hands over to a plain task.
@huey.periodic_task(crontab(minute="17"), name="recordings.expire_recordings")
def expire_recordings() -> None:
    """Hourly (UTC): start the retention sweep."""
    expire_due_recordings()
