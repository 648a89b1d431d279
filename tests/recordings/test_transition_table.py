"""The recording state machine's one transition table (recordings/pipeline.py): its rows, its moves, and that no
other module writes `Recording.state`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core import queue
from recordings import pipeline, services
from recordings.models import Recording, RecordingSource, RecordingState

S = RecordingState
ROOT = Path(__file__).resolve().parents[2]
APP_CODE = ["accounts", "courses", "sessions", "recordings", "core", "activities", "parents", "dashboard", "demo.py"]
#: `recording.state = RecordingState.x` (or `S.x`, or first in a tuple assignment), and `state=RecordingState.x` in
#: update values or a constructor.
STATE_WRITE = re.compile(r"(?:\bstate\s*|\.state\s*,[^=]*)=\s*(?:RecordingState|S)\.")

TABLE = {  # state: (allowed next states, the step that runs from it)
    S.received: ({S.received, S.probing, S.failed, S.expired}, "probing"),
    S.probing: ({S.queued, S.playable, S.received, S.failed, S.expired}, None),
    S.playable: ({S.playable, S.transcoded, S.failed, S.expired}, "transcoding_playable"),
    S.queued: ({S.transcoding, S.expired}, "transcoding"),
    S.transcoding: ({S.transcoded, S.queued, S.failed, S.expired}, None),
    S.transcoded: ({S.publishing, S.expired}, "publishing"),
    S.publishing: ({S.ready_for_review, S.published, S.transcoded, S.failed, S.expired}, None),
    S.ready_for_review: ({S.published, S.failed, S.expired}, None),
    S.published: ({S.ready_for_review, S.failed, S.expired}, None),
    S.failed: ({S.received, S.queued, S.playable, S.expired}, None),
    S.expired: (set(), None),
}
TASKS = {"downloading": "recordings.download", "probing": "recordings.probe", "transcoding": "recordings.transcode",
         "publishing": "recordings.publish"}


def _state_writes() -> list[str]:
    files = [p for name in APP_CODE for p in ([ROOT / name] if name.endswith(".py") else (ROOT / name).rglob("*.py"))
             if p.is_file()]
    return [f"{path.relative_to(ROOT)}:{number}: {line.strip()}" for path in files
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if STATE_WRITE.search(line)]


def test_only_the_pipeline_writes_a_recording_state():
    writes = _state_writes()

    assert [w for w in writes if not w.startswith("recordings/pipeline.py:")] == []


@pytest.mark.parametrize("line", ["recording.state = RecordingState.failed", "recording.state, x = S.queued, 1",
                                  ".values(state=RecordingState.published)", "Recording(state=S.received)"])
def test_the_state_write_check_sees_each_form(line):
    assert STATE_WRITE.search(line)


@pytest.mark.parametrize("line", ["Recording.state == RecordingState.published", "recording.state != S.failed",
                                  "if recording.state, x == S.failed, 1:"])
def test_the_state_write_check_ignores_comparisons(line):
    assert not STATE_WRITE.search(line)


@pytest.mark.parametrize("state", list(S))
def test_table_row_of_each_state(state):
    allowed, step = TABLE[state]

    assert (set(pipeline.TABLE[state].next), pipeline.TABLE[state].step) == (allowed, step)


@pytest.mark.parametrize(("step", "task", "start", "running", "done"), [
    ("downloading", "recordings.download", S.received, S.received, S.received),
    ("probing", "recordings.probe", S.received, S.probing, S.queued),
    ("transcoding", "recordings.transcode", S.queued, S.transcoding, S.transcoded),
    ("transcoding_playable", "recordings.transcode", S.playable, S.playable, S.transcoded),
    ("publishing", "recordings.publish", S.transcoded, S.publishing, S.ready_for_review),
])
def test_each_step_runs_its_task_from_its_start_and_its_moves_are_in_the_table(step, task, start, running, done):
    spec = pipeline.STEPS[step]

    assert (spec.task, spec.start, spec.running, spec.done) == (task, start, running, done)
    assert running in pipeline.TABLE[start].next and done in pipeline.TABLE[running].next
    assert start in pipeline.TABLE[running].next  # released after a transient error, or put back by the reaper
    assert {S.failed} <= pipeline.TABLE[running].next and spec.retry_from in pipeline.TABLE[S.failed].next


@pytest.mark.parametrize(("old", "new"), [(S.published, S.transcoding), (S.expired, S.received),
                                          (S.queued, S.published), (S.failed, S.publishing),
                                          (S.transcoded, S.ready_for_review), (S.failed, S.published),
                                          (S.ready_for_review, S.publishing)])
def test_illegal_transition_raises(old, new):
    with pytest.raises(pipeline.IllegalTransition) as error:
        pipeline.check(old, new)

    assert str(error.value) == f"a recording cannot go from {old.value} to {new.value}"


def test_failing_an_expired_recording_raises_and_changes_nothing():
    recording = Recording(source=RecordingSource.upload, state=S.expired)

    with pytest.raises(pipeline.IllegalTransition):
        pipeline.fail(recording, "probing", "Het ging mis.")

    assert (recording.state, recording.failed_step) == (S.expired, None)


def test_finishing_a_step_the_recording_is_not_in_raises():
    recording = Recording(source=RecordingSource.upload, state=S.queued)

    with pytest.raises(pipeline.IllegalTransition):
        pipeline.finish(recording, "probing")  # queued -> queued is no move


@pytest.fixture
def enqueued(monkeypatch):
    """The (task name, recording id) of every step the pipeline enqueues; none runs."""
    calls = []
    for name in TASKS.values():
        monkeypatch.setitem(queue.TASKS, name, lambda recording_id, name=name: calls.append((name, recording_id)))
    return calls


@pytest.fixture
def recording(db, create_workshop_session) -> Recording:
    recording = services.create_recording(create_workshop_session(), source=RecordingSource.upload)
    recording.original_key, recording.original_size = "orgs/1/recordings/x/original/a.mp4", 10
    db.session.commit()
    return recording


@pytest.mark.parametrize(("step", "retry_state", "task"), [
    ("downloading", S.received, "recordings.probe"),  # the original is stored by now: probe it
    ("probing", S.received, "recordings.probe"),
    ("transcoding", S.queued, "recordings.transcode"),
    ("transcoding_playable", S.playable, "recordings.transcode"),  # its first version still plays
    ("publishing", S.received, "recordings.probe"),  # from the original: the work copy may be gone
])
def test_retry_from_each_failed_step_goes_to_the_tables_state(db, recording, enqueued, step, retry_state, task):
    recording.first_prefix = "orgs/1/recordings/x/first/"  # a first version is stored
    pipeline.fail(recording, step, "Het ging mis.")
    db.session.commit()

    pipeline.retry_recording(recording)
    db.session.commit()

    assert (recording.state, recording.failed_step, recording.error_message) == (retry_state, None, None)
    assert pipeline.STEPS[step].retry_from is retry_state
    assert enqueued == [(task, recording.id)]


def test_retry_of_a_failed_download_without_original_downloads_again(db, recording, enqueued):
    recording.original_key, recording.source_url = None, "https://8x8.vc/recording.mp4"
    pipeline.fail(recording, "downloading", "Het ging mis.")
    db.session.commit()

    pipeline.retry_recording(recording)
    db.session.commit()

    assert (recording.state, enqueued) == (S.received, [("recordings.download", recording.id)])


@pytest.mark.parametrize(("running", "start", "task"), [
    (S.probing, S.received, "recordings.probe"),
    (S.transcoding, S.queued, "recordings.transcode"),
    (S.publishing, S.transcoded, "recordings.publish"),
])
def test_requeue_of_a_dead_step_goes_back_to_its_start_and_enqueues_it(db, recording, enqueued, running, start, task):
    recording.state = running  # as a worker that died mid-step left it
    db.session.commit()

    pipeline.requeue_stale(recording)
    db.session.commit()

    assert (recording.state, recording.heartbeat_at, enqueued) == (start, None, [(task, recording.id)])


@pytest.mark.parametrize(("automatically", "done"), [(False, S.ready_for_review), (True, S.published)])
def test_a_publish_ends_in_review_unless_the_course_publishes_automatically(db, recording, enqueued, automatically,
                                                                            done):
    recording.course.publish_automatically = automatically
    recording.state = S.publishing  # as the publish step's claim left it
    db.session.commit()

    pipeline.finish(recording, "publishing")
    db.session.commit()

    assert (recording.state, pipeline.done_state(recording, "publishing"), enqueued) == (done, done, [])


def test_publish_and_unpublish_move_between_review_and_published_once(db, recording):
    recording.state = S.ready_for_review
    db.session.commit()

    moves = [pipeline.publish(recording), pipeline.publish(recording), recording.state,
             pipeline.unpublish(recording), pipeline.unpublish(recording), recording.state]

    assert moves == [True, False, S.published, True, False, S.ready_for_review]


@pytest.mark.parametrize("state", [S.probing, S.transcoding, S.publishing])
def test_remove_leaves_a_recording_whose_step_is_running(db, recording, state):
    recording.state = state
    db.session.commit()

    removed = pipeline.remove(recording)
    db.session.commit()

    assert (removed, pipeline.is_running(recording), db.session.get(Recording, recording.id) is recording) == (
        False, True, True)


@pytest.mark.parametrize("state", [S.received, S.queued, S.transcoded, S.ready_for_review, S.published, S.failed,
                                   S.expired])
def test_remove_deletes_the_row_of_a_recording_no_step_is_running_on(db, recording, state):
    recording.state = state
    db.session.commit()
    recording_id = recording.id

    removed = pipeline.remove(recording)
    db.session.commit()
    db.session.expunge_all()

    assert (removed, db.session.get(Recording, recording_id)) == (True, None)


def test_remove_leaves_a_download_with_a_fresh_heartbeat(db, recording):
    recording.original_key, recording.source_url = None, "https://8x8.vc/recording.mp4"
    db.session.commit()
    assert pipeline.claim(recording, "downloading")

    assert (pipeline.is_running(recording), pipeline.remove(recording)) == (True, False)


def test_the_ladder_after_a_first_version_runs_in_playable_once_and_blocks_delete_while_its_heartbeat_is_fresh(
        db, recording):
    recording.state, recording.first_prefix = S.playable, "orgs/1/recordings/x/first/"
    db.session.commit()
    deletable_while_waiting = not pipeline.is_running(recording)

    claims = [pipeline.claim(recording, "transcoding_playable"), pipeline.claim(recording, "transcoding_playable")]

    assert deletable_while_waiting and claims == [True, False]
    assert (recording.state, pipeline.is_running(recording), pipeline.remove(recording)) == (S.playable, True, False)


def test_retry_of_a_failed_ladder_whose_first_version_is_gone_transcodes_from_queued(db, recording, enqueued):
    pipeline.fail(recording, "transcoding_playable", "Het ging mis.")
    db.session.commit()

    pipeline.retry_recording(recording)
    db.session.commit()

    assert (recording.state, enqueued) == (S.queued, [("recordings.transcode", recording.id)])


@pytest.mark.parametrize(("first_prefix", "scheduled"), [("orgs/1/recordings/x/first/", True), (None, False)])
def test_a_publish_that_replaces_a_first_version_schedules_its_removal_a_url_lifetime_later(
        app, db, recording, enqueued, monkeypatch, first_prefix, scheduled):
    calls = []
    monkeypatch.setitem(queue.TASKS, pipeline.REMOVE_FIRST_VERSION, type("Task", (), {
        "schedule": staticmethod(lambda **kwargs: calls.append(kwargs))}))
    monkeypatch.setitem(app.config, "PLAYBACK_URL_TTL_SECONDS", 120)
    recording.state, recording.first_prefix = S.publishing, first_prefix
    db.session.commit()

    pipeline.finish(recording, "publishing")
    db.session.commit()

    expected = [{"args": (recording.id,), "delay": 120 + pipeline.FIRST_VERSION_GRACE_S}] if scheduled else []
    assert (recording.state, calls) == (S.ready_for_review, expected)
