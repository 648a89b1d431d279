"""The recording jobs' cost stays flat (issue "cost that stays flat"): the stale-step reaper and the retention sweep
read only the due rows, through a partial index and with a LIMIT, in committed batches, a bounded number per run."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from core import queue
from core.db import utcnow
from recordings import pipeline, publish, publish_tasks, reaper, tasks
from recordings.models import RUNNING_STATES, WAITING_STATES, Recording, RecordingSource, RecordingState

S = RecordingState
OLD = timedelta(days=30)  # older than any stale or lost cut-off


@pytest.fixture
def enqueued(monkeypatch):
    """The (task name, recording id) of every step the reaper enqueues, in the order sent; none runs."""
    calls = []
    for step in pipeline.STEPS.values():
        monkeypatch.setitem(queue.TASKS, step.task,
                            lambda recording_id, name=step.task: calls.append((name, recording_id)))
    return calls


def _add(db, course, count: int, **columns) -> list[int]:
    rows = [Recording(course=course, source=RecordingSource.upload, original_key="orgs/1/original.mp4", **columns)
            for _ in range(count)]
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def _nothing_due(db, course, per_state: int) -> None:
    """Recordings in every state, none stale and none due for expiry; the states that wait for no step are old."""
    now = utcnow()
    for state in S:
        if state in RUNNING_STATES:
            _add(db, course, per_state, state=state, heartbeat_at=now, updated_at=now - OLD)
        elif state in WAITING_STATES:
            _add(db, course, per_state, state=state, updated_at=now)
        else:  # in review, published, failed, expired: the reaper leaves them alone however old
            expires_at = now - OLD if state is S.expired else now + timedelta(days=60)
            _add(db, course, per_state, state=state, updated_at=now - OLD, heartbeat_at=now - OLD,
                 published_at=now - OLD, expires_at=expires_at)


class Seen:
    """The statements (with their parameters) sent and the commits made while the block runs."""

    def __init__(self, db):
        self.db, self.statements, self.commits = db, [], 0

    def __enter__(self):
        event.listen(self.db.engine, "before_cursor_execute", self._statement)
        event.listen(self.db.engine, "commit", self._commit)
        return self

    def __exit__(self, *_exc):
        event.remove(self.db.engine, "before_cursor_execute", self._statement)
        event.remove(self.db.engine, "commit", self._commit)

    def _statement(self, _conn, _cursor, statement, parameters, _context, _many):
        self.statements.append((statement, parameters))

    def _commit(self, _conn):
        self.commits += 1

    def reads(self) -> list[tuple[str, object]]:
        return [(sql, params) for sql, params in self.statements
                if sql.lstrip().upper().startswith("SELECT") and "FROM recordings" in sql]

    def plans(self) -> list[str]:
        """The plan of each read of recordings; on PostgreSQL with sequential scans off (its tables are tiny here),
        so a usable partial index is taken and an unusable one shows as a Seq Scan."""
        sqlite = self.db.engine.dialect.name == "sqlite"
        plans = []
        with self.db.engine.connect() as conn:
            if not sqlite:
                conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            for sql, params in self.reads():
                rows = conn.exec_driver_sql(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + sql, params).all()
                plans.append(" | ".join(str(row[-1]) for row in rows))
            conn.rollback()
        return plans


def _indexes(plans: list[str]) -> list[str]:
    """The one index each plan reads recordings through; fails on a plan that reads the table whole."""
    found = []
    for plan in plans:
        assert "Seq Scan" not in plan and not re.search(r"SCAN recordings(?! USING)", plan), plan
        (index,) = set(re.findall(r"\bix_recordings_\w+", plan))
        found.append(index)
    return found


def _seen(db, run) -> Seen:
    with Seen(db) as seen:
        run()
    return seen


# --- the stale-step reaper -------------------------------------------------------------------------------------


def test_the_model_s_running_and_waiting_states_are_the_transition_table_s():
    # The partial indexes spell the states out; the pipeline's table is where they come from.
    # The ladder after a first version runs in `playable` itself, marked by its heartbeat.
    assert set(RUNNING_STATES) == set(pipeline.RUNNING) | {S.playable}
    assert set(WAITING_STATES) == {pipeline.STEPS[step].start for step in [*pipeline.RUNNING.values(), pipeline.LADDER]}
    assert S.ready_for_review not in WAITING_STATES


def test_the_reaper_with_nothing_stale_costs_the_same_for_10_or_100_recordings(db, course, enqueued):
    _nothing_due(db, course, 1)
    few = _seen(db, tasks.reap_stale_steps.call_local)
    _nothing_due(db, course, 9)
    assert db.session.scalar(select(func.count()).select_from(Recording)) == 10 * len(S)

    many = _seen(db, tasks.reap_stale_steps.call_local)

    assert enqueued == []
    assert len(few.statements) == len(many.statements) == 2  # one read per part
    running, waiting = (sql for sql, _params in many.reads())
    assert "IN ('probing', 'transcoding', 'publishing', 'playable')" in running
    assert "IN ('received', 'queued', 'transcoded', 'playable')" in waiting
    assert all("LIMIT" in sql for sql, _params in many.reads())
    # The running part walks its whole partial index: the running steps, as many as the workers run at once.
    assert _indexes(many.plans()) == ["ix_recordings_running", "ix_recordings_waiting"]


@pytest.mark.parametrize(("columns", "start", "task"), [
    ({"state": S.transcoding, "heartbeat_at": utcnow() - OLD}, S.queued, "recordings.transcode"),  # its worker died
    ({"state": S.publishing, "heartbeat_at": None}, S.transcoded, "recordings.publish"),
    ({"state": S.queued}, S.queued, "recordings.transcode"),  # its message was lost
    ({"state": S.received}, S.received, "recordings.probe"),
])
def test_a_backlog_of_stale_recordings_is_requeued_in_bounded_batches_one_commit_each(
        db, course, enqueued, monkeypatch, columns, start, task):
    monkeypatch.setattr(reaper, "REAP_BATCH", 2)
    monkeypatch.setattr(reaper, "REAP_MAX_BATCHES", 2)
    ids = _add(db, course, 5, updated_at=utcnow() - OLD, **columns)
    sent = []  # how many steps each commit sent (the queue sends them after the commit)

    def count_sent(_session):
        sent.append(len(enqueued) - sum(sent))

    event.listen(Session, "after_commit", count_sent)  # after core.queue's, which sends the steps
    try:
        with Seen(db) as first:
            runs = [reaper.requeue_stale_recordings()]
        runs += [reaper.requeue_stale_recordings(), reaper.requeue_stale_recordings()]
    finally:
        event.remove(Session, "after_commit", count_sent)

    assert runs == [4, 1, 0]  # two batches of two per run; the next run goes on
    assert sorted(recording_id for _name, recording_id in enqueued) == ids
    assert {name for name, _id in enqueued} == {task}
    assert [n for n in sent if n] == [2, 2, 1]  # each batch committed, and its steps sent, before the next is read
    assert first.commits == 3  # two batches of this part, and the other part's empty read
    db.session.expire_all()
    assert set(db.session.scalars(select(Recording.state).where(Recording.id.in_(ids)))) == {start}


def test_the_reaper_leaves_a_step_whose_heartbeat_came_back_after_it_read_the_row(db, course, enqueued, monkeypatch):
    (recording_id,) = _add(db, course, 1, state=S.transcoding, heartbeat_at=utcnow() - OLD)
    read = reaper._stale_batch

    def read_then_beat(condition, order):
        rows = read(condition, order)
        if rows:  # the worker was only slow: its heartbeat arrives between the reaper's read and its update
            with db.engine.begin() as conn:
                conn.execute(Recording.__table__.update().where(Recording.id == recording_id)
                             .values(heartbeat_at=utcnow()))
        return rows

    monkeypatch.setattr(reaper, "_stale_batch", read_then_beat)

    assert reaper.requeue_stale_recordings() == 0
    db.session.expire_all()
    assert (db.session.get(Recording, recording_id).state, enqueued) == (S.transcoding, [])


# --- the retention sweep ------------------------------------------------------------------------------------------


def test_expiry_with_nothing_due_costs_the_same_for_10_or_100_published(db, course):
    _nothing_due(db, course, 1)
    few = _seen(db, publish_tasks.expire_due_recordings.call_local)
    _nothing_due(db, course, 9)

    many = _seen(db, publish_tasks.expire_due_recordings.call_local)

    assert len(few.statements) == len(many.statements) == 1
    ((sql, _params),) = many.reads()
    assert "'expired'" in sql and "LIMIT" in sql
    assert _indexes(many.plans()) == ["ix_recordings_unexpired"]
    assert db.session.scalar(select(func.count()).where(Recording.state == S.expired)) == 10


def test_a_backlog_of_due_expiries_is_capped_per_run_in_the_order_they_fell_due(db, course, monkeypatch):
    monkeypatch.setattr(publish, "EXPIRY_BATCH", 2)
    monkeypatch.setattr(publish, "EXPIRY_MAX_BATCHES", 2)
    now = utcnow()
    # Inserted latest-due first, so the order by id is the reverse of the order they fell due in.
    ids = [_add(db, course, 1, state=S.published, published_at=now - OLD, expires_at=now - timedelta(hours=hours))[0]
           for hours in range(1, 6)]
    sent = []
    monkeypatch.setattr(publish_tasks, "expire_recording", sent.append)

    with Seen(db) as seen:
        publish_tasks.expire_due_recordings.call_local()

    assert sent == ids[::-1][:4]  # two batches of two, the longest due first
    assert seen.commits == 2  # one per batch: no read stays open while tasks are sent


def test_the_sweep_expires_a_backlog_over_several_runs(db, course, monkeypatch):
    monkeypatch.setattr(publish, "EXPIRY_BATCH", 2)
    monkeypatch.setattr(publish, "EXPIRY_MAX_BATCHES", 2)
    now = utcnow()
    _add(db, course, 5, state=S.published, published_at=now - OLD, expires_at=now - timedelta(minutes=1))
    _add(db, course, 1, state=S.published, published_at=now - OLD, expires_at=now + timedelta(days=1))

    expired = []
    for _run in range(3):
        publish_tasks.expire_due_recordings.call_local()  # immediate queue: each expiry runs here
        db.session.expire_all()
        expired.append(db.session.scalar(select(func.count()).where(Recording.state == S.expired)))

    assert expired == [4, 5, 5]
