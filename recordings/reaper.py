"""The reaper's reads: running steps whose heartbeat stopped and waiting steps whose message was lost, each through
its partial index, a batch at a time; the moves themselves are the transition table's (pipeline.requeue_batch). And
the replaced first versions whose scheduled removal was lost."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, literal, or_, select

from core.db import utcnow
from core.extensions import db
from recordings.models import RUNNING_STATES, WAITING_STATES, Recording, RecordingState
from recordings.pipeline import STORED, WAITING_FACTOR, first_version_lifetime, requeue_batch, stale_cutoff

#: Stale recordings the reaper reads, moves back and commits at a time, and the most batches per part and run: the
#: next run goes on.
REAP_BATCH = 200
REAP_MAX_BATCHES = 5


def _state_in(states: tuple[RecordingState, ...]) -> ColumnElement[bool]:
    # The states as literals, in the partial index's order: psycopg prepares a statement after five runs, and a
    # generic plan for `state IN ($1, ...)` could not use a partial index; SQLite uses one only for the same term.
    return Recording.state.in_([literal(state, Recording.state.type, literal_execute=True) for state in states])


def _lost_cutoff(now: datetime | None = None) -> datetime:
    # A waiting step may sit behind a long transcode backlog; only a much older one means its message was lost.
    return (now or utcnow()) - WAITING_FACTOR * (utcnow() - stale_cutoff(utcnow()))


def _stale_running(now: datetime | None = None) -> ColumnElement[bool]:
    """A running step that stopped sending heartbeats (`ix_recordings_running`): in `playable` only a ladder that had
    one (without a heartbeat it waits for its turn)."""
    cutoff = stale_cutoff(now)
    waiting = Recording.state == literal(RecordingState.playable, Recording.state.type, literal_execute=True)
    return _state_in(RUNNING_STATES) & or_(Recording.heartbeat_at < cutoff,
                                           Recording.heartbeat_at.is_(None) & ~waiting)


def _lost_waiting(now: datetime | None = None) -> ColumnElement[bool]:
    """A waiting step whose message was lost: unchanged for WAITING_FACTOR stale periods (`ix_recordings_waiting`),
    and not a download or ladder that runs in it (a fresh heartbeat)."""
    not_running = or_(Recording.heartbeat_at.is_(None), Recording.heartbeat_at < stale_cutoff(now))
    return _state_in(WAITING_STATES) & (Recording.updated_at < _lost_cutoff(now)) & not_running


class _Stale(NamedTuple):
    id: int
    state: RecordingState
    original_key: str | None
    source_url: str | None


def _stale_batch(condition: ColumnElement[bool], order: ColumnElement) -> list[_Stale]:
    query = (select(Recording.id, Recording.state, Recording.original_key, Recording.source_url)
             .where(condition).order_by(order).limit(REAP_BATCH))
    return [_Stale(*row) for row in db.session.execute(query)]


def requeue_stale_recordings(*, now: datetime | None = None) -> int:
    """Put each running step whose heartbeat stopped back to where it starts, and re-enqueue each waiting step
    whose message was lost (duplicates are no-ops). Each part reads its partial index REAP_BATCH rows at a time and
    commits each batch (its steps start then), at most REAP_MAX_BATCHES batches per part and run: the next run goes
    on. Returns how many were re-queued."""
    requeued = 0
    for condition, order in ((_stale_running(now), Recording.heartbeat_at),
                             (_lost_waiting(now), Recording.updated_at)):
        for _batch in range(REAP_MAX_BATCHES):
            rows = _stale_batch(condition, order)
            if rows:
                requeued += requeue_batch(rows, condition)
            db.session.commit()
            if len(rows) < REAP_BATCH:
                break
    return requeued


def replaced_first_versions(*, now: datetime | None = None) -> list[int]:
    """Up to REAP_BATCH recordings whose first version the ladder replaced more than a URL lifetime ago and is still
    stored (`ix_recordings_first_version`): their scheduled removal was lost."""
    cutoff = (now or utcnow()) - timedelta(seconds=first_version_lifetime())
    query = (select(Recording.id)
             .where(Recording.first_prefix.is_not(None), Recording.updated_at < cutoff,
                    Recording.state.in_([literal(state, Recording.state.type, literal_execute=True)
                                         for state in sorted(STORED, key=lambda state: state.value)]))
             .order_by(Recording.updated_at).limit(REAP_BATCH))
    return list(db.session.scalars(query))
