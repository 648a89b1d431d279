"""The recording state machine (architecture.md): one transition table, and the only code that writes the state.

PeerTube's video-state shape. A step waits in one state, holds its own state (with a heartbeat) while it runs,
and ends in the next waiting state or `failed`. A step without a state of its own (the download, and the ladder
after a first playable version) runs in its waiting state, marked by a fresh heartbeat. `TABLE` says where each
state may go and which step runs from it; `STEPS` names each step's task and states. claim, finish, fail, release,
retry, requeue, publish, unpublish and expire are the only moves (remove deletes the row), and `advance_recording`
enqueues the next step by its task name, so this module imports no task.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, delete, or_, update

from core.db import utcnow
from core.extensions import db
from core.queue import TASKS, enqueue_after_commit, enqueue_by_name
from recordings.errors import RecordingError
from recordings.models import Recording, RecordingState

log = logging.getLogger(__name__)

S = RecordingState
DEFAULT_STALE_HEARTBEAT_S = 300
HEARTBEAT_EVERY_S = 2.0
#: A waiting step is re-queued after this many heartbeat periods without change (duplicates are no-ops).
WAITING_FACTOR = 12

DOWNLOAD, PROBE, TRANSCODE, PUBLISH = "downloading", "probing", "transcoding", "publishing"
#: The full ladder after a first playable version: the transcode task runs it from `playable`, in `playable`.
LADDER = "transcoding_playable"
#: The task that removes a replaced first version, once no player can hold a URL for it any more.
REMOVE_FIRST_VERSION = "recordings.remove_first_version"
#: Added to the playback URL lifetime before that removal: a playlist signed while the ladder was being published.
FIRST_VERSION_GRACE_S = 60


class Step(NamedTuple):
    """One step: the task that runs it, the state it waits in, runs in and ends in, and where Retry restarts it."""

    task: str
    start: RecordingState
    running: RecordingState
    done: RecordingState
    retry_from: RecordingState


#: The steps, by the name recorded in `failed_step`.
STEPS = {
    # The download has no state of its own: it runs in `received`, marked by a fresh heartbeat.
    DOWNLOAD: Step("recordings.download", S.received, S.received, S.received, S.received),
    PROBE: Step("recordings.probe", S.received, S.probing, S.queued, S.received),
    TRANSCODE: Step("recordings.transcode", S.queued, S.transcoding, S.transcoded, S.queued),
    # After a first version (a remux published by the probe step) the ladder runs in `playable`, marked by its
    # heartbeat, so the first version keeps playing; the same task, which picks the step by the row's state.
    LADDER: Step("recordings.transcode", S.playable, S.playable, S.transcoded, S.playable),
    # Retry re-runs a failed publish from the original: after a storage repair the work copy is gone. A publish
    # ends in review, or in `published` when the course publishes automatically (`done_state`).
    PUBLISH: Step("recordings.publish", S.transcoded, S.publishing, S.ready_for_review, S.received),
}


class Row(NamedTuple):
    next: frozenset[RecordingState]
    step: str | None  # the step that runs from this state (`advance_recording` enqueues its task)


def _row(step: str | None, *states: RecordingState) -> Row:
    return Row(frozenset(states), step)


#: The transition table: each state, the states it may move to, and the step that runs from it.
#: Retention may end any state once a recording was published, hence `expired` in every row.
TABLE = {
    S.received: _row(PROBE, S.received, S.probing, S.failed, S.expired),  # DOWNLOAD while only a link is known
    S.probing: _row(None, S.queued, S.playable, S.received, S.failed, S.expired),  # playable: a first version
    # The first version plays (trainers; parents when the course publishes automatically) while the ladder runs.
    S.playable: _row(LADDER, S.playable, S.transcoded, S.failed, S.expired),
    S.queued: _row(TRANSCODE, S.transcoding, S.expired),
    S.transcoding: _row(None, S.transcoded, S.queued, S.failed, S.expired),
    S.transcoded: _row(PUBLISH, S.publishing, S.expired),
    S.publishing: _row(None, S.ready_for_review, S.published, S.transcoded, S.failed, S.expired),
    # Trainers watch it; a trainer's Publish moves it on. failed: the storage audit found objects missing.
    S.ready_for_review: _row(None, S.published, S.failed, S.expired),
    S.published: _row(None, S.ready_for_review, S.failed, S.expired),  # ready_for_review: a trainer's Unpublish
    S.failed: _row(None, S.received, S.queued, S.playable, S.expired),  # Retry, from the failed step's `retry_from`
    S.expired: _row(None),
}
#: The step running in each running state: the reaper puts a dead one back to where it starts.
RUNNING = {step.running: name for name, step in STEPS.items() if step.running is not step.start}
#: The waiting states a step also runs in, marked by a fresh heartbeat: the download's and the ladder's.
BEATING = frozenset(step.start for step in STEPS.values() if step.running is step.start)
#: The states whose renditions are published to storage and verified there: trainers can watch them.
STORED = frozenset({S.ready_for_review, S.published})
#: The states in which a stored first version is what plays: from the probe until the ladder is published.
FIRST_VERSION_PLAYS = frozenset({S.playable, S.transcoded, S.publishing})

class IllegalTransition(RuntimeError):
    """A move the transition table does not allow: a bug, never the trainer's doing."""


def check(old: RecordingState, new: RecordingState) -> None:
    """IllegalTransition unless the table lets `old` move to `new`."""
    if new not in TABLE[old].next:
        raise IllegalTransition(f"a recording cannot go from {old.value} to {new.value}")


def _move(recording: Recording, new: RecordingState) -> None:
    check(recording.state, new)
    recording.state = new


# --- the next step --------------------------------------------------------------------------------------------


def transcode_step(state: RecordingState) -> str:
    """The step the transcode task runs for a recording in `state`: the ladder after a first version, or not."""
    return LADDER if state is S.playable else TRANSCODE


def _step_from(state: RecordingState, original_key: str | None, source_url: str | None) -> str | None:
    step = TABLE[state].step
    if step == PROBE and not original_key:
        return DOWNLOAD if source_url else None
    return step


def next_step(recording: Recording) -> str | None:
    """The step that runs from the recording's state, if any: the table's, or the download of a JaaS link."""
    return _step_from(recording.state, recording.original_key, recording.source_url)


def advance_recording(recording: Recording) -> None:
    """Enqueue the task of the recording's next step (by name), to run after the commit."""
    step = next_step(recording)
    if step is not None:
        enqueue_by_name(db.session, STEPS[step].task, recording.id)


# --- a running step -------------------------------------------------------------------------------------------


def claim(recording: Recording, step: str) -> bool:
    """Atomically move the recording into `step`; commits. False when another run has it or it is already done."""
    spec = STEPS[step]
    check(spec.start, spec.running)
    condition = Recording.state == spec.start
    if spec.running is spec.start:
        # The state does not change while the download or the ladder runs, so a fresh heartbeat marks the run.
        condition &= or_(Recording.heartbeat_at.is_(None), Recording.heartbeat_at < stale_cutoff())
    if step == DOWNLOAD:
        condition &= Recording.original_key.is_(None)
    now = utcnow()
    done = db.session.execute(
        update(Recording).where(Recording.id == recording.id, condition)
        .values(state=spec.running, heartbeat_at=now, progress=0.0, attempts=Recording.attempts + 1,
                failed_step=None, error_message=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.refresh(recording)
    return done.rowcount == 1


def done_state(recording: Recording, step: str) -> RecordingState:
    """The state `step` ends in: a probe that stored a first version ends in `playable`; a publish goes straight to
    `published` when the course publishes automatically."""
    if step == PROBE and recording.first_prefix:
        return S.playable
    # A parent present without consent keeps it in review until a trainer confirms (recordings/consent.py).
    if step == PUBLISH and recording.course.publish_automatically and not recording.needs_consent_confirmation:
        return S.published
    return STEPS[step].done


def finish(recording: Recording, step: str) -> None:
    """The step is done: move to the state it ends in and enqueue the next step after commit; flushes. A publish
    that replaced a first version schedules that version's removal (`first_version_lifetime` later)."""
    _move(recording, done_state(recording, step))
    recording.progress, recording.heartbeat_at = (0.0 if recording.state is S.playable else 1.0), None
    db.session.flush()
    advance_recording(recording)
    if step == PUBLISH and recording.first_prefix:
        enqueue_after_commit(db.session, TASKS[REMOVE_FIRST_VERSION].schedule, args=(recording.id,),
                             delay=first_version_lifetime())


def first_version_lifetime() -> int:
    """Seconds a replaced first version stays stored: a player that started on it holds URLs signed for up to
    PLAYBACK_URL_TTL_SECONDS (playback.url_ttl), signed at the latest as the ladder was published, plus a margin."""
    return int(current_app.config.get("PLAYBACK_URL_TTL_SECONDS", 300)) + FIRST_VERSION_GRACE_S


def first_version_replaced(recording: Recording) -> bool:
    """True when the ladder has replaced the recording's stored first version: it may go once its URLs expired."""
    return bool(recording.first_prefix) and recording.state in STORED


def fail(recording: Recording, step: str, message: str) -> None:
    """Mark the recording failed at `step` with a plain message for the trainer; flushes (the original stays)."""
    _move(recording, S.failed)
    recording.failed_step, recording.error_message = step, str(message)
    recording.heartbeat_at = None
    db.session.flush()


def release(recording: Recording, step: str, *, message: str | None = None) -> None:
    """After a transient error: back to the step's start for a retry, or failed with `message` on the last try."""
    if message is not None:
        fail(recording, step, message)
        return
    _move(recording, STEPS[step].start)
    recording.heartbeat_at = None
    db.session.flush()


# --- the trainer's Publish, Unpublish, Delete and Retry; the reaper; retention ---------------------------------


def _switch(recording: Recording, old: RecordingState, new: RecordingState) -> bool:
    # One conditional UPDATE, like `claim`: of two trainers clicking at once, only one moves it (and sends messages).
    check(old, new)
    done = db.session.execute(
        update(Recording).where(Recording.id == recording.id, Recording.state == old)
        .values(state=new, updated_at=utcnow()).execution_options(synchronize_session=False))
    db.session.flush()
    db.session.refresh(recording)
    return done.rowcount == 1


def publish(recording: Recording) -> bool:
    """Show a reviewed recording to parents (ready_for_review -> published); flushes. False when it was not in
    review (already published by someone else, or gone on)."""
    return _switch(recording, S.ready_for_review, S.published)


def unpublish(recording: Recording) -> bool:
    """Hide a published recording from parents again (published -> ready_for_review); flushes. False when it was
    not published."""
    return _switch(recording, S.published, S.ready_for_review)


def _running() -> ColumnElement[bool]:
    # A running step's state, or a download or ladder: `received` or `playable` with a fresh heartbeat (`claim`).
    return Recording.state.in_(list(RUNNING)) | (
        Recording.state.in_(sorted(BEATING, key=lambda state: state.value)) & Recording.heartbeat_at.is_not(None)
        & (Recording.heartbeat_at >= stale_cutoff()))


def is_running(recording: Recording) -> bool:
    """True while a step works on the recording (as `_running` says in SQL), so it cannot be deleted now."""
    return recording.state in RUNNING or (
        recording.state in BEATING and recording.heartbeat_at is not None
        and recording.heartbeat_at >= stale_cutoff())


def remove(recording: Recording) -> bool:
    """Delete the recording's row (its watch progress goes with it) unless a step is running; flushes. The one
    conditional DELETE means a step claimed meanwhile keeps its row, and a step claimed after finds none.
    Deleting its stored objects is the caller's part."""
    done = db.session.execute(
        delete(Recording).where(Recording.id == recording.id, ~_running())
        .execution_options(synchronize_session=False))
    db.session.flush()
    return done.rowcount == 1


def _retry_from(recording: Recording) -> RecordingState:
    if recording.failed_step == LADDER and not recording.first_prefix:
        return S.queued  # no first version left to play meanwhile
    step = STEPS.get(recording.failed_step or "")
    return step.retry_from if step else S.received


def can_restart(recording: Recording) -> bool:
    """True when a Retry has something to start from: a stored original or a source link, unless it restarts the
    transcode (which still has its original)."""
    return _retry_from(recording) is not S.received or bool(recording.original_key or recording.source_url)


def retry_recording(recording: Recording) -> None:
    """Start a failed step again from the state the table gives it (the trainer's Retry button); flushes."""
    if recording.state is not S.failed:
        raise RecordingError(str(_l("Deze opname is niet mislukt; opnieuw proberen is niet nodig.")))
    if not can_restart(recording):
        raise RecordingError(str(_l("Van deze opname is geen origineel bewaard. Upload hem opnieuw.")))
    _move(recording, _retry_from(recording))
    recording.failed_step = recording.error_message = None
    recording.progress, recording.heartbeat_at = 0.0, None
    db.session.flush()
    advance_recording(recording)


def stale_cutoff(now: datetime | None = None) -> datetime:
    """The moment before which a running step's heartbeat counts as stopped."""
    seconds = int(current_app.config.get("RECORDING_STALE_HEARTBEAT_S") or DEFAULT_STALE_HEARTBEAT_S)
    return (now or utcnow()) - timedelta(seconds=seconds)


def requeue_batch(rows: list, condition: ColumnElement[bool]) -> int:
    """Move the reaper's rows back to their step's start and enqueue the step after commit: one conditional UPDATE per
    state, so a step whose heartbeat came back meanwhile, or another reaper's row, is left alone. Flushes."""
    moved = 0
    for state in dict.fromkeys(row.state for row in rows):
        start = STEPS[RUNNING[state]].start if state in RUNNING else state
        if start is not state:
            check(state, start)
        ids = [row.id for row in rows if row.state is state]
        done = db.session.execute(
            update(Recording).where(Recording.id.in_(ids), Recording.state == state, condition)
            .values(state=start, heartbeat_at=None, progress=0.0, updated_at=utcnow())
            .returning(Recording.id).execution_options(synchronize_session=False))
        requeued = set(done.scalars())
        for row in rows:
            if row.id in requeued:
                log.warning("recording %s: %s is stale; re-queued", row.id, state.value)
                step = _step_from(start, row.original_key, row.source_url)
                if step is not None:
                    enqueue_by_name(db.session, STEPS[step].task, row.id)
        moved += len(requeued)
    return moved


def requeue_stale(recording: Recording) -> None:
    """Put a dead step back to where it starts and enqueue it again (re-running a step is safe); flushes."""
    if recording.state in RUNNING:
        _move(recording, STEPS[RUNNING[recording.state]].start)
    recording.heartbeat_at, recording.progress = None, 0.0
    recording.updated_at = utcnow()
    db.session.flush()
    advance_recording(recording)


def expire(recording: Recording) -> None:
    """Mark the recording expired (its retention ended); flushes. Deleting its objects (the first version's too,
    under the same prefix) is the caller's part."""
    _move(recording, S.expired)
    recording.first_prefix = recording.first_renditions = None
    db.session.flush()
