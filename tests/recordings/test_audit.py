"""`flask storage audit [--repair]` on the local folder backend and on the moto S3 server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.db import utcnow
from core.extensions import db as _db
from core.storage import LocalStorage
from recordings.audit import MSG_MISSING
from recordings.models import Recording, RecordingSource, RecordingState

FILES = {"master.m3u8": "application/vnd.apple.mpegurl", "v_360p/seg_00000.m4s": "video/iso.segment"}
ORPHAN_UUID = "f" * 32


@pytest.fixture(params=["local", "s3"])
def storage(request, app, tmp_path):
    if request.param == "local":
        backend = LocalStorage(tmp_path / "media", secret=app.config["SECRET_KEY"])
    else:
        backend = request.getfixturevalue("s3_storage")
    app.extensions["storage"] = backend
    yield backend
    app.extensions.pop("storage", None)


def _recording(db, course, storage, state: RecordingState, *, expires_in=timedelta(days=30)) -> Recording:
    recording = Recording(course=course, source=RecordingSource.upload, state=state, renditions=dict(FILES),
                          expires_at=utcnow() + expires_in)
    db.session.add(recording)
    db.session.flush()
    recording.published_prefix = f"recordings/{recording.uuid}/"
    for name, content_type in FILES.items():
        storage.put_bytes(recording.published_prefix + name, b"data " + name.encode(), content_type=content_type)
    db.session.commit()
    return recording


@pytest.fixture
def mess(db, course, storage):
    """A healthy recording, one missing a segment, an expired one with leftovers, and an object with no row."""
    healthy = _recording(db, course, storage, RecordingState.published)
    broken = _recording(db, course, storage, RecordingState.published)
    storage.delete(f"recordings/{broken.uuid}/v_360p/seg_00000.m4s")
    expired = _recording(db, course, storage, RecordingState.expired)
    storage.put_bytes(f"recordings/{ORPHAN_UUID}/master.m3u8", b"#EXTM3U", content_type="text/plain")
    return healthy, broken, expired


def test_audit_reports_orphans_and_missing_objects_and_exits_1(runner, storage, mess):
    healthy, broken, expired = mess

    result = runner.invoke(args=["storage", "audit"])

    assert result.exit_code == 1
    orphans = sorted([f"recordings/{expired.uuid}/{n}" for n in FILES] + [f"recordings/{ORPHAN_UUID}/master.m3u8"])
    assert result.output.splitlines() == [
        "3 object(s) without a live recording (no row, or expired):",
        *[f"  {key}" for key in orphans],
        "1 published recording(s) with missing objects:",
        f"  recording {broken.id}: 1 missing",
        f"    recordings/{broken.uuid}/v_360p/seg_00000.m4s",
    ]
    assert len(storage.list("recordings/")) == 2 + 1 + 2 + 1


def test_audit_repair_deletes_orphans_and_fails_recordings_with_missing_objects(runner, storage, mess):
    healthy, broken, expired = mess

    result = runner.invoke(args=["storage", "audit", "--repair"])

    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == ("Repaired: deleted 3 object(s), marked 1 recording(s) failed "
                                              "(the trainer can retry publishing on the status page).")
    assert storage.list("recordings/") == sorted(
        [f"recordings/{healthy.uuid}/{n}" for n in FILES] + [f"recordings/{broken.uuid}/master.m3u8"])
    _db.session.expire_all()
    broken = _db.session.get(Recording, broken.id)
    assert (broken.state, broken.failed_step, broken.error_message) == (
        RecordingState.failed, "publishing", str(MSG_MISSING))
    assert _db.session.get(Recording, healthy.id).state == RecordingState.published


def test_audit_after_repair_finds_nothing_and_exits_0(runner, storage, mess):
    runner.invoke(args=["storage", "audit", "--repair"])

    result = runner.invoke(args=["storage", "audit"])

    assert result.exit_code == 0
    assert result.output.strip() == ("Storage is consistent: every object belongs to a live recording "
                                     "and nothing is missing.")


def test_audit_treats_a_recording_past_its_retention_as_orphan(db, course, runner, storage):
    lapsed = _recording(db, course, storage, RecordingState.published, expires_in=timedelta(seconds=-1))

    result = runner.invoke(args=["storage", "audit", "--repair"])

    assert result.exit_code == 1
    assert storage.list(f"recordings/{lapsed.uuid}/") == []
