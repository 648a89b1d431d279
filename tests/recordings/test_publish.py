"""Publishing a transcoded recording to the moto S3 server, retries, clean-up and expiry."""

from __future__ import annotations

import hashlib
import socket
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import requests
from botocore.config import Config
from moto.server import ThreadedMotoServer

from core.db import utcnow
from core.extensions import db as _db
from core.queue import huey
from core.storage import S3Storage
from recordings import publish, publish_tasks
from recordings.files import output_dir, work_dir
from recordings.models import Recording, RecordingState
from tests.fixtures.recordings import ORIGINAL
from tests.fixtures.s3 import S3_REGION, S3_TEST_KEY_ID, S3_TEST_SECRET

# About storage, not review: the course publishes automatically, as every course did before review (test_review.py).
pytestmark = pytest.mark.usefixtures("auto_publish")


def _expected_objects(recording: Recording, transcoded) -> dict[str, tuple[str, str]]:
    prefix = f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/"
    return {prefix + name: (ctype, publish.cache_control_for(name)) for name, ctype in transcoded.files.items()}


def _dead_s3(s3_config) -> S3Storage:
    # Nothing listens on port 9 (discard) on the loopback; one attempt so each failure is immediate.
    return S3Storage(s3_config["S3_BUCKET"], endpoint_url="http://127.0.0.1:9", region_name=s3_config["S3_REGION"],
                     access_key_id="k", secret_access_key="s", max_attempts=1, connect_timeout=1)


class OwnS3Server:
    """A moto S3 server on a fixed port that a test stops and starts again, like an outage of the store."""

    bucket = "ouderkamer-outage"

    def __init__(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = None

    def start(self):
        """Start an empty server on the same port (moto keeps nothing over a restart) with the bucket, versioned."""
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        # In-process moto servers share one backend; a reset gives the restarted server an empty store.
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()
        client = self.client()
        client.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": S3_REGION})
        # Versioning makes a duplicate upload visible as a second version of the key.
        client.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})

    def stop(self):
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self):
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name=S3_REGION, aws_access_key_id=S3_TEST_KEY_ID,
            aws_secret_access_key=S3_TEST_SECRET, config=Config(s3={"addressing_style": "path"}))

    def storage(self) -> S3Storage:
        # One attempt per call and a short connect timeout, so each failure during the outage is immediate.
        return S3Storage(self.bucket, endpoint_url=self.endpoint, region_name=S3_REGION,
                         access_key_id=S3_TEST_KEY_ID, secret_access_key=S3_TEST_SECRET, max_attempts=1,
                         connect_timeout=1)


@pytest.fixture
def own_s3_server():
    server = OwnS3Server()
    server.start()
    yield server
    server.stop()


def _run_scheduled_retries() -> int:
    """Run every retry Huey scheduled (immediate mode only schedules them); return how many ran."""
    ran = 0
    while due := huey.read_schedule(datetime(2100, 1, 1)):
        for scheduled in due:
            scheduled.eta = None  # run it now instead of waiting out the backoff
            huey.execute(scheduled)
            ran += 1
    return ran


def test_publish_uploads_every_rendition_with_type_cache_control_and_checksum(
        s3_storage, use_storage, create_transcoded_recording, transcoded):
    use_storage(s3_storage)
    recording = create_transcoded_recording(s3_storage)

    publish_tasks.publish_recording(recording.id)

    _db.session.expire_all()
    recording = _db.session.get(Recording, recording.id)
    expected = _expected_objects(recording, transcoded)
    prefix = f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/"
    stored = {key: s3_storage.head(key) for key in s3_storage.list(prefix)}
    assert {k: (i.content_type, i.cache_control) for k, i in stored.items()} == expected
    for name in transcoded.files:
        local = (transcoded.out_dir / name).read_bytes()
        info = stored[prefix + name]
        assert (info.size, info.sha256) == (len(local), hashlib.sha256(local).hexdigest())
    assert recording.state == RecordingState.published
    assert recording.published_prefix == prefix
    assert recording.expires_at - recording.published_at == timedelta(days=recording.course.retention_days)


def test_publish_caches_segments_for_a_year_and_playlists_for_a_minute():
    assert publish.cache_control_for("v_360p/seg_00000.m4s") == "private, max-age=31536000, immutable"
    assert publish.cache_control_for("v_360p/init.mp4") == "private, max-age=31536000, immutable"
    assert publish.cache_control_for("master.m3u8") == "private, max-age=60"
    assert publish.cache_control_for("captions/nl.vtt") == "private, max-age=60"


def test_publish_removes_work_copy_and_original_after_verification(
        s3_storage, use_storage, create_transcoded_recording):
    use_storage(s3_storage)
    recording = create_transcoded_recording(s3_storage)
    original_key = recording.original_key

    publish_tasks.publish_recording(recording.id)

    _db.session.expire_all()
    assert not work_dir(recording).exists()
    assert s3_storage.head(original_key) is None
    assert _db.session.get(Recording, recording.id).original_key is None


def test_publish_keeps_original_when_retention_says_so(app, s3_storage, use_storage, create_transcoded_recording):
    use_storage(s3_storage)
    recording = create_transcoded_recording(s3_storage)
    app.config["RECORDING_KEEP_ORIGINAL"] = True
    try:
        publish_tasks.publish_recording(recording.id)
    finally:
        del app.config["RECORDING_KEEP_ORIGINAL"]

    _db.session.expire_all()
    assert s3_storage.open(recording.original_key).read() == ORIGINAL
    assert not work_dir(recording).exists()


def test_publish_again_after_publishing_is_a_no_op(s3_storage, use_storage, create_transcoded_recording):
    use_storage(s3_storage)
    recording = create_transcoded_recording(s3_storage)
    publish_tasks.publish_recording(recording.id)
    _db.session.expire_all()
    prefix = publish.recording_prefix(_db.session.get(Recording, recording.id))
    before = {key: s3_storage.head(key).etag for key in s3_storage.list(prefix)}
    published_at = _db.session.get(Recording, recording.id).published_at

    publish_tasks.publish_recording(recording.id)

    _db.session.expire_all()
    after = {key: s3_storage.head(key).etag for key in s3_storage.list(prefix)}
    assert before and after == before
    assert _db.session.get(Recording, recording.id).published_at == published_at


def test_publish_after_a_crash_uploads_only_what_is_missing(s3_storage, use_storage, create_transcoded_recording,
                                                            transcoded):
    use_storage(s3_storage)
    recording = create_transcoded_recording(s3_storage)
    prefix = publish.recording_prefix(recording)
    # A crash after part of the upload: two objects stored, one of them damaged.
    s3_storage.put_file(prefix + "master.m3u8", output_dir(recording) / "master.m3u8",
                        content_type=transcoded.files["master.m3u8"], cache_control=publish.SHORT_CACHE)
    s3_storage.put_bytes(prefix + "poster.jpg", b"half a poster", content_type="image/jpeg",
                         cache_control=publish.IMMUTABLE_CACHE)

    uploaded = publish.publish_recording(recording, storage=s3_storage)
    _db.session.commit()

    assert uploaded == len(transcoded.files) - 1
    assert s3_storage.open(prefix + "poster.jpg").read() == (transcoded.out_dir / "poster.jpg").read_bytes()
    assert recording.state == RecordingState.published


def test_publish_with_storage_down_retries_then_fails_without_deleting(
        s3_config, use_storage, create_transcoded_recording, s3_storage):
    use_storage(_dead_s3(s3_config))
    recording = create_transcoded_recording(s3_storage)

    publish_tasks.publish_recording(recording.id)
    retries = _run_scheduled_retries()

    _db.session.expire_all()
    recording = _db.session.get(Recording, recording.id)
    assert retries == publish_tasks.PUBLISH_RETRIES
    assert (recording.state, recording.failed_step) == (RecordingState.failed, "publishing")
    assert recording.published_at is None
    assert sorted(p.name for p in output_dir(recording).iterdir()) == sorted(
        {name.split("/")[0] for name in recording.renditions})
    assert s3_storage.open(recording.original_key).read() == ORIGINAL


def test_publish_with_storage_back_before_the_retry_publishes_once(
        s3_config, use_storage, create_transcoded_recording, s3_storage, transcoded):
    use_storage(_dead_s3(s3_config))
    recording = create_transcoded_recording(s3_storage)
    publish_tasks.publish_recording(recording.id)
    use_storage(s3_storage)

    retries = _run_scheduled_retries()

    _db.session.expire_all()
    recording = _db.session.get(Recording, recording.id)
    assert retries == 1
    assert recording.state == RecordingState.published
    assert set(s3_storage.list(recording.published_prefix)) == set(_expected_objects(recording, transcoded))


def test_publish_task_declares_six_retries_with_exponential_backoff():
    declared = publish_tasks.publish_recording.task_class

    assert (declared.default_retries, declared.default_retry_delay, declared.default_retry_backoff) == (6, 30, 2)


def test_publish_with_the_s3_server_stopped_retries_with_backoff_and_publishes_once_it_is_back(
        use_storage, create_transcoded_recording, transcoded, own_s3_server):
    storage = use_storage(own_s3_server.storage())
    recording = create_transcoded_recording(storage)
    original_key, work_files = recording.original_key, sorted(p.name for p in output_dir(recording).iterdir())
    own_s3_server.stop()

    publish_tasks.publish_recording(recording.id)
    first_retry, first = _pop_scheduled_retry()
    first_retry.eta = None  # run it now instead of waiting out the backoff
    huey.execute(first_retry)  # still down: fails again and is scheduled again, with twice the delay
    second_retry, second = _pop_scheduled_retry()
    _db.session.expire_all()
    during = _db.session.get(Recording, recording.id)
    during_state = (during.state, during.failed_step, during.published_at, during.original_key)
    during_files = sorted(p.name for p in output_dir(recording).iterdir())
    own_s3_server.start()
    storage.put_bytes(original_key, ORIGINAL, content_type="application/octet-stream")  # the durable store
    huey.add_schedule(second_retry)
    retries = _run_scheduled_retries()

    _db.session.expire_all()
    recording = _db.session.get(Recording, recording.id)
    prefix = publish.recording_prefix(recording)
    versions = own_s3_server.client().list_object_versions(Bucket=own_s3_server.bucket, Prefix=prefix)
    # The fixture's original keeps its legacy key (recordings/<uuid>/…), outside the organisation's prefix.
    originals = own_s3_server.client().list_object_versions(Bucket=own_s3_server.bucket, Prefix=original_key)
    assert (first, second) == ((5, 30), (4, 60))  # (retries left, seconds until the retry)
    assert during_state == (RecordingState.transcoded, None, None, original_key)
    assert during_files == work_files
    assert retries == 1
    assert recording.state == RecordingState.published
    # One version per rendition key: nothing was uploaded twice (the original's version sits under a delete marker).
    assert sorted(v["Key"] for v in versions["Versions"]) == sorted(_expected_objects(recording, transcoded))
    assert "DeleteMarkers" not in versions
    assert [m["Key"] for m in originals["DeleteMarkers"]] == [original_key]
    for name in transcoded.files:
        local = (transcoded.out_dir / name).read_bytes()
        info = storage.head(prefix + name)
        assert (info.size, info.sha256) == (len(local), hashlib.sha256(local).hexdigest())
    assert not work_dir(recording).exists()
    assert (storage.head(original_key), recording.original_key) == (None, None)


def _pop_scheduled_retry():
    """Take the one scheduled retry off the schedule; return it with its retries left and delay in whole seconds."""
    (scheduled,) = huey.read_schedule(datetime(2100, 1, 1))
    delay = (scheduled.eta - datetime.now(UTC).replace(tzinfo=None)).total_seconds()
    return scheduled, (scheduled.retries, round(delay))


def test_expire_recordings_deletes_every_object_under_the_prefix(s3_storage, use_storage,
                                                                 create_transcoded_recording, app):
    use_storage(s3_storage)
    app.config["RECORDING_KEEP_ORIGINAL"] = True
    try:
        recording = create_transcoded_recording(s3_storage)
        publish_tasks.publish_recording(recording.id)
    finally:
        del app.config["RECORDING_KEEP_ORIGINAL"]
    _db.session.expire_all()
    recording = _db.session.get(Recording, recording.id)
    recording.expires_at = utcnow() - timedelta(minutes=1)
    _db.session.commit()

    publish_tasks.expire_recordings.call_local()

    _db.session.expire_all()
    recording = _db.session.get(Recording, recording.id)
    assert s3_storage.list(f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/") == []
    assert (recording.state, recording.original_key) == (RecordingState.expired, None)


def test_expire_recordings_leaves_recordings_within_retention(s3_storage, use_storage,
                                                              create_transcoded_recording, transcoded):
    use_storage(s3_storage)
    recording = create_transcoded_recording(s3_storage)
    publish_tasks.publish_recording(recording.id)

    publish_tasks.expire_recordings.call_local()

    _db.session.expire_all()
    recording = _db.session.get(Recording, recording.id)
    assert recording.state == RecordingState.published
    assert len(s3_storage.list(recording.published_prefix)) == len(transcoded.files)
