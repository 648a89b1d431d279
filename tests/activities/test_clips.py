"""Clip transcodes in the worker: a lost task is queued again, a clip that cannot be transcoded fails plainly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from activities import answers, services, tasks
from activities.models import ActivityResponse, MediaState, ResponseKind, new_uuid
from core.db import utcnow
from core.extensions import db as _db
from tests.activities.helpers import all_objects, make_activity, make_family

pytestmark = pytest.mark.adapter


def _processing_clip(storage, activity, parent, data: bytes, *, age: timedelta,
                     key: str = "lost-task-" + "d" * 20) -> ActivityResponse:
    """A response whose original is stored and whose transcode task was lost `age` ago."""
    response = ActivityResponse(activity_id=activity.id, parent_id=parent.id, kind=ResponseKind.clip,
                                client_key=key, state=MediaState.processing, uuid=new_uuid())
    response.media_key = services.response_folder(activity, parent, response.uuid) + "original"
    storage.put_bytes(response.media_key, data, content_type="application/octet-stream")
    response.updated_at = utcnow() - age
    _db.session.add(response)
    _db.session.commit()
    return response


def test_lost_clip_task_is_queued_again_and_finishes(db, course, local_storage, clip_360p):
    family = make_family(course)
    activity = make_activity(course)
    stuck = _processing_clip(local_storage, activity, family["Sanne"][0], clip_360p.read_bytes(),
                             age=timedelta(hours=1))
    fresh = _processing_clip(local_storage, make_activity(course, title="Nieuw"), family["Amal"][0],
                             clip_360p.read_bytes(), age=timedelta(minutes=1))

    tasks.requeue_stuck_clips.call_local()

    _db.session.expire_all()
    done, waiting = _db.session.get(ActivityResponse, stuck.id), _db.session.get(ActivityResponse, fresh.id)
    assert (done.state, done.content_type) == (MediaState.ready, "video/mp4")
    assert waiting.state is MediaState.processing
    assert done.media_key.endswith("/clip.mp4") and local_storage.exists(done.media_key)


def test_clip_that_cannot_be_transcoded_fails_with_a_plain_message_and_leaves_no_file(client, db, course,
                                                                                    local_storage):
    family = make_family(course)
    activity = make_activity(course)
    sanne, token = family["Sanne"]
    broken = _processing_clip(local_storage, activity, sanne, b"not a video at all" * 100, age=timedelta(0))

    tasks.process_response_clip.call_local(broken.id)

    _db.session.expire_all()
    failed = _db.session.get(ActivityResponse, broken.id)
    page = client.get(f"/p/{token}/activities/{activity.id}").get_data(as_text=True)
    assert (failed.state, failed.media_key, all_objects(local_storage)) == (MediaState.failed, None, [])
    assert "Dit filmpje konden we niet verwerken." in page
    assert answers.responders(activity) == set()


def test_stuck_clips_are_queued_again_in_bounded_batches(db, monkeypatch, course, local_storage):
    monkeypatch.setattr(tasks, "STUCK_BATCH", 2)
    monkeypatch.setattr(tasks, "STUCK_MAX_BATCHES", 2)
    family = make_family(course)
    activity = make_activity(course)
    stuck = [_processing_clip(local_storage, activity, parent, b"not a video at all" * 100,
                              age=timedelta(hours=1), key=f"lost-task-{i}-" + "d" * 20)
             for i, (parent, _token) in enumerate(list(family.values()) * 3)][:5]

    def states() -> list[MediaState]:
        _db.session.expire_all()
        return [_db.session.get(ActivityResponse, row.id).state for row in stuck]

    tasks.requeue_stuck_clips.call_local()
    first = states()
    tasks.requeue_stuck_clips.call_local()

    assert first.count(MediaState.failed) == 4  # two batches of two per sweep; the next sweep goes on
    assert states() == [MediaState.failed] * 5
