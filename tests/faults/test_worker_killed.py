"""A `flask worker` killed with SIGKILL mid-transcode and again mid-publish; the reaper and a fresh worker finish.

Real worker processes on a real queue (SqliteHuey next to the SQLite database; a private Redis next to
PostgreSQL), real ffmpeg, the moto S3 server behind a gate that can hold an upload in flight, and aiosmtpd for the
"recording ready" mail. The end state: published exactly once (one version of every object in a versioned
bucket), one mail to the parent, and no work files left.
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from core import queue
from core.db import utcnow
from core.storage import S3Storage
from recordings import services, tasks
from recordings.files import output_dir, work_dir, work_root
from recordings.models import Recording, RecordingSource, RecordingState
from tests.faults.conftest import wait_for
from tests.fixtures.s3 import S3_REGION, S3_TEST_KEY_ID, S3_TEST_SECRET

pytestmark = [pytest.mark.slow, pytest.mark.adapter]

WAIT_S = 180  # generous: CI machines are shared, and a worker takes seconds to start


@pytest.fixture(scope="module")
def clip_480p_long(media_dir):
    """14 s of 854x480: long enough that a kill at the first segment lands mid-transcode."""
    from tests.fixtures.media import AAC, SLIDE, TONE, X264, make_clip

    return make_clip(media_dir / "480p-long-faults.mp4", SLIDE.format(size="854x480", fps=30), TONE, seconds=14,
                     options=[*X264, "-g", "60", *AAC])


def _worker_env(app, *, s3_endpoint: str, bucket: str, smtp_port: int, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "S3_", "SMTP_", "MAIL_", "SMS_"))}
    env.update({
        "INSTANCE_PATH": app.config["INSTANCE_PATH"], "DATABASE_URL": app.config["DATABASE_URL"],
        "SECRET_KEY": app.config["SECRET_KEY"], "PUBLIC_BASE_URL": app.config["PUBLIC_BASE_URL"],
        "S3_BUCKET": bucket, "S3_ENDPOINT_URL": s3_endpoint, "S3_REGION": S3_REGION,
        "S3_ACCESS_KEY_ID": S3_TEST_KEY_ID, "S3_SECRET_ACCESS_KEY": S3_TEST_SECRET,
        "MAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMS_TRANSPORT": "log",
        "MEDIA_SMALL_LADDER": "true", "MEDIA_FIRST_PLAYABLE_MAX_GOP_S": "0", "PYTHONUNBUFFERED": "1",
    })
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def _fresh(db, recording_id: int) -> Recording:
    db.session.rollback()  # end the read transaction: a SQLite snapshot would hide the worker's writes
    return db.session.get(Recording, recording_id)


def _stale_heartbeat(db, recording_id: int) -> None:
    """The reaper runs long after the dead worker's last heartbeat."""
    recording = _fresh(db, recording_id)
    recording.heartbeat_at = utcnow() - timedelta(hours=1)
    db.session.commit()


@pytest.mark.usefixtures("auto_publish")  # publishes without review, as before review
def test_worker_killed_mid_transcode_and_mid_publish_ends_published_once(
        app, db, use_storage, s3_config, s3_admin_client, s3_gate, smtp_server, start_worker, request, monkeypatch,
        create_workshop_session, create_parent, course, clip_480p_long, tmp_path):
    redis_url = request.getfixturevalue("private_redis") if db.engine.dialect.name == "postgresql" else None
    bucket = s3_config["S3_BUCKET"]
    s3_admin_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    storage = use_storage(S3Storage(bucket, endpoint_url=s3_config["S3_ENDPOINT_URL"], region_name=S3_REGION,
                                    access_key_id=S3_TEST_KEY_ID, secret_access_key=S3_TEST_SECRET))
    parent = create_parent(course=course)
    workshop_session = create_workshop_session(title="Voorlezen met peuters")
    # The transcoding path: no first playable version (tests/recordings/test_first_playable.py kills that ladder).
    monkeypatch.setitem(app.config, "MEDIA_FIRST_PLAYABLE_MAX_GOP_S", 0)
    with monkeypatch.context() as m:
        m.setitem(queue.TASKS, "recordings.transcode", lambda recording_id: None)  # the transcode belongs to the workers
        copy = tmp_path / "upload.mp4"
        shutil.copyfile(clip_480p_long, copy)
        recording = services.receive_file(workshop_session, copy, "workshop.mp4", source=RecordingSource.upload)
        db.session.commit()  # immediate mode: the probe runs here and the recording waits in `queued`
    recording_id, uuid, original_key = recording.id, recording.uuid, recording.original_key
    prefix = f"orgs/{course.organisation_id}/recordings/{uuid}/"
    assert _fresh(db, recording_id).state is RecordingState.queued
    env = _worker_env(app, s3_endpoint=s3_gate.endpoint, bucket=bucket, smtp_port=smtp_server.port,
                      redis_url=redis_url)
    worker_queue = queue.make_huey(env)
    worker_queue.flush()

    def enqueue(task_call) -> None:
        worker_queue.storage.enqueue(queue.huey.serialize_task(task_call), task_call.priority)

    work, out = work_dir(recording), output_dir(recording)

    # 1. Killed mid-transcode: at the first segment, long before the MP4 and the master playlist.
    enqueue(tasks.transcode_recording.s(recording_id))
    first = start_worker(env)
    wait_for(lambda: list(out.glob("v_*/seg_*.m4s")) or first.process.poll() is not None, timeout=WAIT_S,
             what="the first segment", details=first.tail)
    first.kill()
    killed = _fresh(db, recording_id)
    half_done = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert killed.state is RecordingState.transcoding, first.tail()
    assert not (out / "master.m3u8").exists() and not (out / "fallback_360p.mp4").exists()

    # 2. The reaper re-queues it; a second worker transcodes it again and is killed with an upload in flight.
    _stale_heartbeat(db, recording_id)
    s3_gate.hold_puts_after(3)
    second = start_worker(env)
    enqueue(tasks.reap_stale_steps.s())
    wait_for(s3_gate.held.is_set, timeout=WAIT_S, what="an upload held in flight", details=second.tail)
    second.kill()
    publishing = _fresh(db, recording_id)
    stored_before = storage.list(prefix)
    assert publishing.state is RecordingState.publishing, second.tail()

    # 3. The reaper hands the publish to a third worker, which uploads only what is missing.
    _stale_heartbeat(db, recording_id)
    s3_gate.open()
    third = start_worker(env)
    enqueue(tasks.reap_stale_steps.s())
    wait_for(lambda: _fresh(db, recording_id).state is RecordingState.published and smtp_server.messages,
             timeout=WAIT_S, what="the recording published and the parent told", details=third.tail)
    wait_for(lambda: worker_queue.pending_count() == 0, timeout=30, what="an empty queue")
    third.stop()

    recording = _fresh(db, recording_id)
    versions = s3_admin_client.list_object_versions(Bucket=bucket, Prefix=prefix)
    rendition_versions = sorted(v["Key"] for v in versions["Versions"] if v["Key"] != original_key)
    assert len(half_done) >= 1
    assert len(stored_before) == 1 + 3  # the original, and the three renditions let through before the hold
    assert recording.state is RecordingState.published
    assert rendition_versions == sorted(f"{prefix}{name}" for name in recording.renditions)
    assert [m["Key"] for m in versions.get("DeleteMarkers", [])] == [original_key]
    assert [m.rcpt_tos for m in smtp_server.messages] == [[parent.email]]
    assert not work.exists()
    assert not list(Path(work_root(), "incoming").glob("*"))
