"""The work folder's disk full: a small tmpfs mounted as `<instance>/work` (root only; skipped elsewhere).

Transcode and uploads fail with a plain message, the original stays stored, partial files are removed, and once
there is space again a retry succeeds. The free-disk checks refuse up front what cannot fit.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from accounts import services as accounts
from core import queue
from core.storage import file_sha256, get_storage
from recordings import pipeline, services, tasks
from recordings.errors import DiskFullError
from recordings.files import DISK_HEADROOM, output_dir
from recordings.models import Recording, RecordingSource, RecordingState

pytestmark = pytest.mark.adapter

DISK_BYTES = 8 * 1024 * 1024
MSG_DISK = "Er is op dit moment te weinig schijfruimte om de video om te zetten. Probeer het later opnieuw."
MSG_DISK_UPLOAD = "Er is op dit moment te weinig schijfruimte om de video te ontvangen. Probeer het later opnieuw."


class SmallDisk:
    """A tmpfs of DISK_BYTES over the work folder; a ballast file takes the space a test wants gone."""

    def __init__(self, root: Path):
        self.root = root
        self.ballast = root / "ballast"

    def free(self) -> int:
        return shutil.disk_usage(self.root).free

    def fill(self, *, leave: int = 0) -> None:
        """Take all free space but `leave` bytes."""
        self.release()
        size = self.free() - leave
        if size > 0:
            with open(self.ballast, "wb") as fh:
                os.posix_fallocate(fh.fileno(), 0, size)

    def release(self) -> None:
        self.ballast.unlink(missing_ok=True)

    def files(self, folder: str) -> list[str]:
        """Every file left under a subfolder of the work folder."""
        base = self.root / folder
        return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()) if base.exists() else []


@pytest.fixture
def small_disk(app):
    work = Path(app.config["INSTANCE_PATH"]) / "work"
    work.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0755", "tmpfs", str(work)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs as the work folder (needs root or CAP_SYS_ADMIN): "
                    f"{mounted.stderr.strip()}")
    try:
        yield SmallDisk(work)
    finally:
        if subprocess.run(["umount", str(work)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(work)], check=True)


@pytest.fixture
def workshop_session(create_workshop_session):
    return create_workshop_session(title="Grenzen stellen")


@pytest.fixture
def queued(app, db, local_storage, workshop_session, clip_360p, small_disk, monkeypatch):
    """A recording probed and waiting for its transcode; its local copy of the original is on the small disk."""
    monkeypatch.setitem(app.config, "MEDIA_FIRST_PLAYABLE_MAX_GOP_S", 0)  # the transcode path, no first version
    copy = small_disk.root / "incoming" / "upload.mp4"  # where uploads land, on the same disk as the work folder
    copy.parent.mkdir()
    shutil.copyfile(clip_360p, copy)
    with monkeypatch.context() as m:
        m.setitem(queue.TASKS, "recordings.transcode", lambda recording_id: None)
        recording = services.receive_file(workshop_session, copy, "workshop.mp4", source=RecordingSource.upload)
        db.session.commit()
    return recording.id


def _fresh(db, recording_id: int) -> Recording:
    db.session.expire_all()
    return db.session.get(Recording, recording_id)


@pytest.mark.usefixtures("auto_publish")  # publishes without review, as before review
def test_transcode_filling_the_disk_fails_plainly_then_a_retry_with_space_back_publishes(
        db, queued, small_disk, clip_360p):
    recording = _fresh(db, queued)
    out = output_dir(recording)
    started, stop = threading.Event(), threading.Event()

    def fill_once_ffmpeg_writes():
        # Someone else takes the disk just after the transcode started: the check before the start passed.
        while not stop.is_set():
            if out.exists() and any(out.iterdir()):
                small_disk.fill()
                started.set()
                return
            stop.wait(0.005)

    filler = threading.Thread(target=fill_once_ffmpeg_writes, daemon=True)
    filler.start()

    tasks.transcode_recording.call_local(queued)
    stop.set()
    filler.join()

    failed = _fresh(db, queued)
    stored = get_storage().verify(failed.original_key, size=clip_360p.stat().st_size, sha256=file_sha256(clip_360p))
    assert started.is_set()
    assert (failed.state, failed.failed_step, failed.error_message) == (RecordingState.failed, "transcoding", MSG_DISK)
    assert stored.size == clip_360p.stat().st_size
    assert small_disk.files(f"recordings/{failed.uuid}") == ["original"]  # no partial segments
    small_disk.release()

    pipeline.retry_recording(failed)
    db.session.commit()  # immediate mode: transcode and publish run here

    recording = _fresh(db, queued)
    assert recording.state is RecordingState.published
    assert len(get_storage().list(recording.published_prefix)) == len(recording.renditions)
    assert small_disk.files("recordings") == []


def test_transcode_is_refused_before_starting_when_the_disk_is_too_full(db, queued, small_disk):
    recording = _fresh(db, queued)
    small_disk.fill(leave=DISK_HEADROOM * recording.original_size - 4096)

    tasks.transcode_recording.call_local(queued)

    failed = _fresh(db, queued)
    assert (failed.state, failed.error_message) == (RecordingState.failed, MSG_DISK)
    assert small_disk.files(f"recordings/{failed.uuid}") == ["original"]


@pytest.fixture
def token(db, trainer):
    _row, value = accounts.create_api_token(trainer, name="script")
    db.session.commit()
    return value


def test_api_upload_larger_than_the_free_space_gets_507_and_keeps_nothing(client, db, token, workshop_session,
                                                                        small_disk):
    small_disk.fill(leave=512 * 1024)

    response = client.post(f"/api/v1/sessions/{workshop_session.id}/recordings", data=os.urandom(1024 * 1024),
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"})

    assert response.status_code == 507
    assert response.get_json() == {"error": {"code": "invalid", "field": "file", "message": MSG_DISK_UPLOAD}}
    assert db.session.query(Recording).count() == 0
    assert small_disk.files("incoming") == []


def test_streamed_upload_that_fills_the_disk_midway_is_refused_and_its_partial_file_removed(
        db, workshop_session, small_disk, local_storage):
    small_disk.fill(leave=512 * 1024)

    with pytest.raises(DiskFullError) as refused:
        services.receive_stream(workshop_session, io.BytesIO(os.urandom(1024 * 1024)), "workshop.mp4",
                                source=RecordingSource.upload)
    db.session.rollback()

    assert (refused.value.message, refused.value.status) == (MSG_DISK_UPLOAD, 507)
    assert db.session.query(Recording).count() == 0
    assert small_disk.files("incoming") == []
    assert local_storage.list() == []  # nothing stored, under any prefix


@pytest.fixture
def logged_in(auth, trainer):
    auth.login(trainer.email)
    return trainer


def test_browser_upload_chunk_on_a_full_disk_gets_507_then_resumes_when_space_is_back(
        client, db, logged_in, workshop_session, small_disk, local_storage, monkeypatch):
    monkeypatch.setitem(queue.TASKS, "recordings.probe", lambda recording_id: None)
    data = os.urandom(1024 * 1024)
    started = client.post(f"/sessions/{workshop_session.id}/recordings/uploads",
                          json={"filename": "workshop.mp4", "size": len(data)}).get_json()
    small_disk.fill(leave=256 * 1024)
    range_header = {"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}

    refused = client.put(started["url"], data=data, headers=range_header)
    offset = client.get(started["url"]).get_json()
    small_disk.release()
    resumed = client.put(started["url"], data=data, headers=range_header)

    assert (refused.status_code, refused.get_json()) == (507, {"error": MSG_DISK_UPLOAD})
    assert offset == {"offset": 0, "total": len(data)}
    assert resumed.status_code == 201
    recording = _fresh(db, resumed.get_json()["recording_id"])
    assert (recording.original_size, recording.original_sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert small_disk.files("uploads") == []


def test_browser_upload_larger_than_the_free_space_is_refused_before_it_starts(client, db, logged_in,
                                                                              workshop_session, small_disk):
    small_disk.fill(leave=256 * 1024)

    response = client.post(f"/sessions/{workshop_session.id}/recordings/uploads",
                           json={"filename": "workshop.mp4", "size": 1024 * 1024})

    assert (response.status_code, response.get_json()) == (507, {"error": MSG_DISK_UPLOAD})
    assert small_disk.files("uploads") == []
