"""Stored file names are never used as paths (ASVS 12.3.1, 12.3.2): a `../../etc/passwd` name on every upload
route ends as a key the server made, inside its own prefix, and nothing is written outside the storage root."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from accounts import services as accounts
from core.storage import check_key
from recordings import publish, services
from recordings.models import Recording, RecordingSource, RecordingState
from tests.activities.helpers import make_activity, make_family, photo_with_gps, post_answer

pytestmark = pytest.mark.unit

TRAVERSAL = "../../etc/passwd"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(4096)


@pytest.fixture
def workshop_session(create_workshop_session):
    return create_workshop_session()


@pytest.fixture
def api_token(db, trainer):
    _row, token = accounts.create_api_token(trainer)
    db.session.commit()
    return token


def _assert_contained(app, storage) -> list[str]:
    """Every stored key is a clean relative key; no file appeared where the hostile name points."""
    keys = storage.list("")
    for key in keys:
        check_key(key)
        assert "passwd" not in key.split("/")
    for base in (Path(storage.root), Path(app.config["INSTANCE_PATH"]), services.work_root(), Path.cwd()):
        assert not (base / TRAVERSAL).resolve().exists() or (base / TRAVERSAL).resolve() == Path("/etc/passwd")
    assert all(Path(storage.path(k)).resolve().is_relative_to(Path(storage.root).resolve()) for k in keys)
    return keys


def _original_key(db) -> tuple[str, str]:
    """The one recording's original key, and the organisation's prefix for that recording."""
    db.session.expire_all()
    (recording,) = db.session.query(Recording).all()
    return recording.original_key, f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/"


def test_browser_upload_form(app, client, auth, db, trainer, workshop_session, local_storage, probes):
    auth.login(trainer.email)

    client.post(f"/sessions/{workshop_session.id}/recordings/upload", content_type="multipart/form-data",
                data={"file": (io.BytesIO(VIDEO), TRAVERSAL)})

    key, prefix = _original_key(db)
    assert key == f"{prefix}original/etc_passwd"
    assert _assert_contained(app, local_storage) == [key]


def test_resumable_browser_upload(app, client, auth, db, trainer, workshop_session, local_storage, probes):
    auth.login(trainer.email)
    started = client.post(f"/sessions/{workshop_session.id}/recordings/uploads",
                          json={"filename": TRAVERSAL, "size": len(VIDEO)}).get_json()

    client.put(started["url"], data=VIDEO, headers={"Content-Range": f"bytes 0-{len(VIDEO) - 1}/{len(VIDEO)}"})

    key, prefix = _original_key(db)
    assert key == f"{prefix}original/etc_passwd"
    assert _assert_contained(app, local_storage) == [key]


@pytest.mark.parametrize("header", [{"X-Filename": TRAVERSAL},
                                    {"Content-Disposition": f'attachment; filename="{TRAVERSAL}"'}])
def test_api_raw_upload(app, client, db, workshop_session, api_token, local_storage, probes, header):
    response = client.post(f"/api/v1/sessions/{workshop_session.id}/recordings", data=VIDEO,
                           headers={"Authorization": f"Bearer {api_token}", **header})

    key, prefix = _original_key(db)
    assert response.status_code == 201
    assert key == f"{prefix}original/etc_passwd"
    assert _assert_contained(app, local_storage) == [key]


def test_jibri_handoff(app, client, db, workshop_session, api_token, local_storage, probes):
    metadata = json.dumps({"meeting_url": f"https://meet.jit.si/{workshop_session.room_name}"}).encode()

    response = client.post("/api/v1/jibri/recordings", headers={"Authorization": f"Bearer {api_token}"},
                           content_type="multipart/form-data",
                           data={"ref": TRAVERSAL, "sha256": hashlib.sha256(VIDEO).hexdigest(),
                                 "metadata": (io.BytesIO(metadata), TRAVERSAL),
                                 "file": (io.BytesIO(VIDEO), TRAVERSAL)})

    key, prefix = _original_key(db)
    assert response.status_code == 201
    assert key == f"{prefix}original/etc_passwd"
    assert _assert_contained(app, local_storage) == [key]


def test_captions_upload(app, client, auth, db, trainer, workshop_session, local_storage):
    recording = services.create_recording(workshop_session, source=RecordingSource.upload)
    recording.state = RecordingState.published
    db.session.commit()
    auth.login(trainer.email)

    client.post(f"/recordings/{recording.id}/captions", content_type="multipart/form-data",
                data={"file": (io.BytesIO(b"WEBVTT\n\n"), TRAVERSAL + ".vtt"), "language": "nl"})

    assert _assert_contained(app, local_storage) == [f"{publish.recording_prefix(recording)}captions/nl.vtt"]


def test_csv_import_stores_nothing(app, client, auth, db, trainer, course, local_storage):
    auth.login(trainer.email)

    response = client.post(f"/courses/{course.id}/import", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(b"naam;e-mail\r\nElif;elif@example.org\r\n"), TRAVERSAL)})

    assert response.status_code == 200
    assert _assert_contained(app, local_storage) == []


def test_activity_picture_from_the_trainer(app, client, auth, db, trainer, course, local_storage):
    auth.login(trainer.email)

    client.post(f"/courses/{course.id}/activities/new", content_type="multipart/form-data",
                data={"title": "Voorlezen", "body": "", "session_id": "0", "request_kinds": ["text"],
                      "images": (io.BytesIO(photo_with_gps((64, 48))), TRAVERSAL)})

    keys = _assert_contained(app, local_storage)
    assert len(keys) == 1 and keys[0].startswith(f"orgs/{course.organisation_id}/courses/{course.id}/activities/")


def test_activity_answer_from_a_parent(app, client, db, course, local_storage):
    family = make_family(course)
    activity = make_activity(course)
    _parent, token = family["Sanne"]

    response = post_answer(client, token, activity, data=photo_with_gps((64, 48)), filename=TRAVERSAL)

    keys = _assert_contained(app, local_storage)
    assert response.status_code == 303
    assert len(keys) == 1 and keys[0].endswith("/photo.jpg")
