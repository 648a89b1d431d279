"""A running step's heartbeat: the reaper reads it to tell a live step from a dead worker's."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text, update
from sqlalchemy.exc import SQLAlchemyError

from core.db import utcnow
from core.extensions import db
from recordings import pipeline
from recordings.models import Recording
from recordings.pipeline import STEPS

log = logging.getLogger(__name__)

#: How long a beat waits for the recording's row lock before it is skipped (SQLite waits its busy timeout).
LOCK_TIMEOUT_MS = 500


def heartbeat(recording: Recording, progress: float | None = None) -> None:
    """Record that the step is alive (and how far it is); commits, so the reaper and the trainer see it."""
    recording.heartbeat_at = utcnow()
    if progress is not None:
        recording.progress = round(min(max(progress, 0.0), 1.0), 4)
    db.session.commit()


@contextmanager
def heartbeats(recording_id: int, step: str) -> Iterator[None]:
    """Refresh the running step's heartbeat from a side thread (own connection) while the block runs."""
    engine, stop = db.engine, threading.Event()
    running = (Recording.id == recording_id) & (Recording.state == STEPS[step].running)

    def run() -> None:
        while not stop.wait(pipeline.HEARTBEAT_EVERY_S):  # read at each beat: tests shorten it
            try:
                with engine.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        # The step's own transaction may hold the row (it flushed a result) until after this block,
                        # which waits for this thread: skip the beat instead of waiting for the lock (a deadlock).
                        conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))
                    conn.execute(update(Recording).where(running).values(heartbeat_at=utcnow()))
            except SQLAlchemyError as exc:  # a missed beat is harmless; the next one may get through
                log.warning("recording %s: %s heartbeat failed: %s", recording_id, step, exc)

    thread = threading.Thread(target=run, name=f"{step}-heartbeat-{recording_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
