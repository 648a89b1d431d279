"""The recording state machine with real ffprobe/ffmpeg on tiny clips: checks, transcode, retries, the reaper."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from datetime import timedelta
from pathlib import Path

import pytest

from core import queue
from core.db import utcnow
from core.storage import file_sha256, get_storage
from recordings import pipeline, services, tasks, uploads
from recordings.files import output_dir, work_root
from recordings.models import Recording, RecordingSource, RecordingState

pytestmark = pytest.mark.adapter


@pytest.fixture
def published(monkeypatch):
    """Stands in for the publish step (issue 7): records the ids it was asked to publish."""
    calls = []
    monkeypatch.setitem(queue.TASKS, "recordings.publish", calls.append)
    return calls


@pytest.fixture
def no_first_version(app, monkeypatch):
    """Sources go the normal way (queued, transcoding): no first playable version by remux."""
    monkeypatch.setitem(app.config, "MEDIA_FIRST_PLAYABLE_MAX_GOP_S", 0)


@pytest.fixture
def workshop_session(create_workshop_session):
    return create_workshop_session(title="Voorlezen met peuters")


def receive(db, workshop_session, source: Path, tmp_path, name="workshop.mp4") -> int:
    copy = tmp_path / f"incoming-{source.name}"
    shutil.copyfile(source, copy)
    recording = services.receive_file(workshop_session, copy, name, source=RecordingSource.upload)
    db.session.commit()  # immediate mode: the chain runs here
    return recording.id


def reload(db, recording_id: int) -> Recording:
    db.session.expire_all()
    return db.session.get(Recording, recording_id)


def output_files(recording: Recording) -> set[str]:
    out = output_dir(recording)
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def tiny_png(path: Path) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
                     + chunk(b"IEND", b""))
    return path


def test_pipeline_upload_of_360p_clip_reaches_transcoded(db, workshop_session, clip_360p, tmp_path, published):
    recording_id = receive(db, workshop_session, clip_360p, tmp_path)

    recording = reload(db, recording_id)
    assert recording.state is RecordingState.transcoded
    assert recording.original_sha256 == file_sha256(clip_360p)
    assert recording.original_key == f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/original/workshop.mp4"
    assert get_storage().verify(recording.original_key, size=clip_360p.stat().st_size,
                                sha256=file_sha256(clip_360p)).size == clip_360p.stat().st_size
    assert (recording.width, recording.height, recording.progress) == (640, 360, 1.0)
    assert set(recording.renditions) == output_files(recording)
    assert {"master.m3u8", "poster.jpg", "fallback_360p.mp4", "v_360p/index.m3u8", "v_audio/index.m3u8"} \
        <= set(recording.renditions)
    assert not any(name.startswith("v_720p/") for name in recording.renditions)  # never upscaled
    assert published == [recording_id]


@pytest.mark.parametrize(("clip", "message"), [
    ("clip_not_media", "Dit bestand is geen video. Kies een videobestand, bijvoorbeeld een MP4."),
    ("random_bytes", "Dit bestand is geen video. Kies een videobestand, bijvoorbeeld een MP4."),
    ("png_as_mp4", "Dit bestand is geen video. Kies een videobestand, bijvoorbeeld een MP4."),
    ("clip_audio_only", "Dit bestand bevat alleen geluid en geen beeld. Kies een video."),
    ("clip_zero_duration", "Deze video is leeg: er zit geen beeld in."),
    ("clip_truncated", "Deze video is niet compleet. Misschien is het uploaden of opnemen afgebroken. "
                       "Stuur het bestand opnieuw."),
    ("clip_truncated_before_moov", "Deze video is niet compleet. Misschien is het uploaden of opnemen afgebroken. "
                                   "Stuur het bestand opnieuw."),
    ("clip_absurd", "Het beeld van deze video heeft een onmogelijke grootte."),
])
def test_pipeline_bad_file_fails_with_plain_message_and_keeps_original(
        db, workshop_session, tmp_path, published, request, clip, message):
    if clip == "random_bytes":
        source = tmp_path / "random.mp4"
        source.write_bytes(bytes(range(256)) * 64)
    elif clip == "png_as_mp4":
        source = tiny_png(tmp_path / "photo.mp4")
    else:
        source = request.getfixturevalue(clip)

    recording = reload(db, receive(db, workshop_session, source, tmp_path))

    assert (recording.state, recording.failed_step, recording.error_message) == (
        RecordingState.failed, "probing", message)
    assert recording.original_sha256 == file_sha256(source)
    assert get_storage().verify(recording.original_key, size=source.stat().st_size).size == source.stat().st_size
    assert published == []


def test_receive_file_of_zero_bytes_is_refused(db, workshop_session, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()

    with pytest.raises(services.RecordingError) as error:
        services.receive_file(workshop_session, empty, "empty.mp4", source=RecordingSource.upload)

    assert error.value.message == "Dit bestand is leeg."
    assert error.value.field == "file"


def test_retry_after_failed_probe_runs_the_probe_again(db, workshop_session, clip_not_media, tmp_path, published):
    recording_id = receive(db, workshop_session, clip_not_media, tmp_path)
    recording = reload(db, recording_id)

    pipeline.retry_recording(recording)
    db.session.commit()

    recording = reload(db, recording_id)
    assert (recording.state, recording.failed_step, recording.attempts) == (RecordingState.failed, "probing", 2)


def test_retry_of_recording_that_did_not_fail_is_refused(db, workshop_session, clip_360p, tmp_path, published):
    recording = reload(db, receive(db, workshop_session, clip_360p, tmp_path))

    with pytest.raises(services.RecordingError):
        pipeline.retry_recording(recording)


def test_probe_task_of_a_recording_past_probing_does_nothing(db, workshop_session, clip_360p, tmp_path, published):
    recording_id = receive(db, workshop_session, clip_360p, tmp_path)
    before = reload(db, recording_id).attempts

    tasks.probe_recording.call_local(recording_id)
    tasks.transcode_recording.call_local(recording_id)

    recording = reload(db, recording_id)
    assert (recording.state, recording.attempts) == (RecordingState.transcoded, before)
    assert published == [recording_id]


@pytest.mark.usefixtures("no_first_version")
def test_reaper_requeues_transcode_of_dead_worker_and_it_finishes_once(
        db, workshop_session, clip_360p, tmp_path, published, monkeypatch):
    with monkeypatch.context() as m:
        queued = []
        m.setitem(queue.TASKS, "recordings.transcode", queued.append)  # the worker "dies" before it reports back
        recording_id = receive(db, workshop_session, clip_360p, tmp_path)
    recording = reload(db, recording_id)
    assert (recording.state, queued) == (RecordingState.queued, [recording_id])
    # The dead worker had claimed the step and left half-written output behind.
    recording.state, recording.heartbeat_at = RecordingState.transcoding, utcnow() - timedelta(hours=1)
    db.session.commit()
    out = output_dir(recording)
    (out / "v_360p").mkdir(parents=True)
    (out / "v_360p" / "seg_00009.m4s").write_bytes(b"half a segment")

    tasks.reap_stale_steps.call_local()
    tasks.reap_stale_steps.call_local()
    tasks.transcode_recording.call_local(recording_id)

    recording = reload(db, recording_id)
    assert recording.state is RecordingState.transcoded
    assert published == [recording_id]
    assert set(recording.renditions) == output_files(recording)
    assert "v_360p/seg_00009.m4s" not in recording.renditions


@pytest.mark.usefixtures("no_first_version")
def test_reaper_leaves_running_step_with_fresh_heartbeat_alone(db, workshop_session, clip_360p, tmp_path, monkeypatch):
    monkeypatch.setitem(queue.TASKS, "recordings.transcode", lambda recording_id: None)
    recording = reload(db, receive(db, workshop_session, clip_360p, tmp_path))
    recording.state, recording.heartbeat_at = RecordingState.transcoding, utcnow()
    db.session.commit()

    tasks.reap_stale_steps.call_local()

    assert reload(db, recording.id).state is RecordingState.transcoding


def test_remove_stale_uploads_deletes_uploads_untouched_for_a_day(db, workshop_session, trainer):
    upload_id = uploads.start_upload(workshop_session, user_id=trainer.id, filename="a.mp4", total=10)

    folder = work_root() / "uploads" / upload_id

    uploads.remove_stale_uploads(now=utcnow())
    kept = folder.exists()
    uploads.remove_stale_uploads(now=utcnow() + timedelta(days=2))

    assert (kept, folder.exists()) == (True, False)


CHILD = """
import json, os, sys
overrides = json.loads(sys.argv[1])
os.environ["INSTANCE_PATH"] = overrides["INSTANCE_PATH"]
from core.app import create_app
create_app(overrides)
from recordings import tasks
tasks.transcode_recording.call_local(int(sys.argv[2]))
"""


@pytest.fixture(scope="module")
def clip_480p_long(media_dir):
    from tests.fixtures.media import AAC, SLIDE, TONE, X264, make_clip

    video = SLIDE.format(size="854x480", fps=30)
    return make_clip(media_dir / "480p-long.mp4", video, TONE, seconds=14, options=[*X264, "-g", "60", *AAC])


@pytest.mark.usefixtures("no_first_version")
def test_worker_killed_mid_transcode_is_requeued_and_ends_transcoded_once(
        app, db, workshop_session, clip_480p_long, tmp_path, published, monkeypatch):
    with monkeypatch.context() as m:
        m.setitem(queue.TASKS, "recordings.transcode", lambda recording_id: None)
        recording_id = receive(db, workshop_session, clip_480p_long, tmp_path)
    recording = reload(db, recording_id)
    keys = ("DATABASE_URL", "INSTANCE_PATH", "SECRET_KEY", "MEDIA_ROOT", "PUBLIC_BASE_URL", "MAIL_TRANSPORT",
            "SMS_TRANSPORT")
    overrides = {**{k: app.config[k] for k in keys}, "HUEY_IMMEDIATE": True, "TESTING": True}
    worker = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(overrides), str(recording_id)],
                              cwd=Path(__file__).resolve().parents[2], start_new_session=True)
    out = output_dir(recording)
    deadline = time.monotonic() + 60
    while not list(out.glob("v_*/seg_*.m4s")) and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its ffmpeg die together, mid-transcode
    worker.wait()
    killed = reload(db, recording_id)
    assert killed.state is RecordingState.transcoding
    killed.heartbeat_at = utcnow() - timedelta(hours=1)  # the reaper runs long after the last heartbeat
    db.session.commit()

    tasks.reap_stale_steps.call_local()

    recording = reload(db, recording_id)
    assert recording.state is RecordingState.transcoded
    assert published == [recording_id]
    assert set(recording.renditions) == output_files(recording)
    assert not any(name.startswith("v_720p/") for name in recording.renditions)  # a 480p source is not upscaled
    assert {"v_360p/index.m3u8", "v_audio/index.m3u8", "master.m3u8", "fallback_360p.mp4"} <= set(recording.renditions)
