"""Ingest paths: resumable browser upload, the no-JS form, the raw-body API and the Jibri hand-off."""

import hashlib
import io
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from accounts import services as accounts
from core.storage import get_storage
from recordings import pipeline, services, uploads
from recordings.files import work_root
from recordings.models import Recording, RecordingSource, RecordingState

DATA = os.urandom(3 * 1024 * 1024 + 123)
SHA = hashlib.sha256(DATA).hexdigest()
# Multipart bodies stay below 500 KB: above that werkzeug's test client spools them to a file it never closes.
SMALL = DATA[:200 * 1024]


@pytest.fixture
def workshop_session(create_workshop_session):
    return create_workshop_session(title="Grenzen stellen")


@pytest.fixture
def logged_in(auth, trainer):
    auth.login(trainer.email)
    return trainer


@pytest.fixture
def token(db, trainer):
    _row, value = accounts.create_api_token(trainer, name="jibri")
    db.session.commit()
    return value


def only_recording(db) -> Recording:
    db.session.expire_all()
    (recording,) = db.session.query(Recording).all()
    return recording


def assert_received(recording: Recording, *, source: RecordingSource, name: str, data: bytes = DATA) -> None:
    digest = hashlib.sha256(data).hexdigest()
    assert (recording.state, recording.source, recording.original_sha256, recording.original_size) == (
        RecordingState.received, source, digest, len(data))
    assert recording.original_key == f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/original/{name}"
    assert get_storage().verify(recording.original_key, size=len(data), sha256=digest).size == len(data)


def put_chunk(client, url, start, end, total=len(DATA)):
    return client.put(url, data=DATA[start:end], headers={"Content-Range": f"bytes {start}-{end - 1}/{total}"})


def uploads_left() -> list[str]:
    folder = work_root() / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_upload_interrupted_midway_resumes_and_ends_received(client, db, logged_in, workshop_session, probes):
    started = client.post(f"/sessions/{workshop_session.id}/recordings/uploads",
                          json={"filename": "../../Workshop 1.mp4", "size": len(DATA)})
    url = started.get_json()["url"]
    put_chunk(client, url, 0, 1024 * 1024)  # the connection then breaks off

    offset = client.get(url).get_json()
    wrong = put_chunk(client, url, 0, 1024 * 1024)
    done = put_chunk(client, url, offset["offset"], len(DATA))

    recording = only_recording(db)
    assert started.status_code == 201
    assert offset == {"offset": 1024 * 1024, "total": len(DATA)}
    assert (wrong.status_code, wrong.get_json()) == (409, {"offset": 1024 * 1024, "total": len(DATA)})
    assert (done.status_code, done.get_json()["status_url"]) == (201, f"/recordings/{recording.id}")
    assert_received(recording, source=RecordingSource.upload, name="Workshop_1.mp4")
    assert probes == [recording.id]
    assert uploads_left() == []


def test_upload_restarted_leaves_no_leftovers(client, db, logged_in, workshop_session, probes):
    url = client.post(f"/sessions/{workshop_session.id}/recordings/uploads",
                      json={"filename": "a.mp4", "size": len(DATA)}).get_json()["url"]
    put_chunk(client, url, 0, 1000)

    cancelled = client.delete(url)
    gone = client.get(url)

    assert (cancelled.status_code, gone.status_code) == (204, 404)
    assert uploads_left() == []
    assert db.session.query(Recording).count() == 0


def test_upload_larger_than_limit_is_refused(app, client, db, logged_in, workshop_session, monkeypatch):
    monkeypatch.setitem(app.config, "RECORDING_MAX_UPLOAD_BYTES", 1024**3)

    response = client.post(f"/sessions/{workshop_session.id}/recordings/uploads",
                           json={"filename": "a.mp4", "size": 1024**3 + 1})

    assert (response.status_code, response.get_json()) == (413, {"error": "Dit bestand is te groot. Het maximum is 1 GB."})
    assert uploads_left() == []


def test_upload_chunk_of_someone_else_is_not_found(client, db, auth, workshop_session, create_user, probes):
    other = create_user("other@example.org")
    upload_id = uploads.start_upload(workshop_session, user_id=other.id, filename="a.mp4", total=len(DATA))
    auth.login("trainer@example.org")

    response = put_chunk(client, f"/recordings/uploads/{upload_id}", 0, 10)
    uploads.cancel_upload(upload_id)

    assert response.status_code == 404


def test_upload_form_without_javascript_ends_received(client, db, logged_in, workshop_session, probes):
    response = client.post(f"/sessions/{workshop_session.id}/recordings/upload",
                           data={"file": (io.BytesIO(SMALL), "opname.mp4")}, content_type="multipart/form-data")

    recording = only_recording(db)
    assert response.headers["Location"] == f"/recordings/{recording.id}"
    assert_received(recording, source=RecordingSource.upload, name="opname.mp4", data=SMALL)


def test_upload_page_of_another_trainers_course_is_forbidden(client, db, auth, workshop_session, create_user):
    create_user("other@example.org")
    auth.login("other@example.org")

    assert client.get(f"/sessions/{workshop_session.id}/recordings/upload").status_code == 403


def test_api_raw_body_upload_ends_received(client, db, token, workshop_session, probes):
    response = client.post(f"/api/v1/sessions/{workshop_session.id}/recordings", data=DATA,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "video/mp4",
                                    "X-Filename": "les3.mp4", "X-Content-SHA256": SHA})

    recording = only_recording(db)
    assert response.status_code == 201
    assert response.get_json() == {
        "id": recording.id, "uuid": recording.uuid, "session_id": workshop_session.id, "source": "upload",
        "state": "received", "progress": 0, "error": None, "failed_step": None, "original_sha256": SHA,
        "original_size": len(DATA), "duration_s": None, "playable_at": None}
    assert_received(recording, source=RecordingSource.upload, name="les3.mp4")


def test_api_upload_with_wrong_checksum_is_refused(client, db, token, workshop_session, probes):
    response = client.post(f"/api/v1/sessions/{workshop_session.id}/recordings", data=DATA,
                           headers={"Authorization": f"Bearer {token}", "X-Content-SHA256": "0" * 64})

    assert response.status_code == 422
    assert response.get_json()["error"]["message"] == "Het bestand is onderweg beschadigd: de controlesom klopt niet."
    assert probes == []


def test_api_recording_status_shows_state_progress_and_error(client, db, token, workshop_session, probes):
    recording_id = client.post(f"/api/v1/sessions/{workshop_session.id}/recordings", data=DATA,
                               headers={"Authorization": f"Bearer {token}"}).get_json()["id"]
    recording = db.session.get(Recording, recording_id)
    pipeline.fail(recording, pipeline.PROBE, "Dit bestand is geen video.")
    db.session.commit()

    body = client.get(f"/api/v1/recordings/{recording_id}", headers={"Authorization": f"Bearer {token}"}).get_json()

    assert (body["state"], body["progress"], body["error"], body["original_sha256"]) == (
        "failed", 0, "Dit bestand is geen video.", SHA)


def jibri_post(client, token, room_url, *, ref="session_abc", sha=hashlib.sha256(SMALL).hexdigest()):
    metadata = json.dumps({"meeting_url": room_url, "participants": [], "share": True}).encode()
    return client.post("/api/v1/jibri/recordings", headers={"Authorization": f"Bearer {token}"},
                       content_type="multipart/form-data",
                       data={"ref": ref, "sha256": sha, "metadata": (io.BytesIO(metadata), "metadata.json"),
                             "file": (io.BytesIO(SMALL), "room_2026-11-28-19-00-00.mp4")})


def test_jibri_handoff_maps_room_to_session_and_is_safe_to_repeat(client, db, token, workshop_session, probes):
    room_url = f"https://meet.example.org/{workshop_session.room_name.upper()}"

    first = jibri_post(client, token, room_url)
    second = jibri_post(client, token, room_url)

    recording = only_recording(db)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["id"] == second.get_json()["id"] == recording.id
    assert (recording.session_id, recording.source_ref) == (workshop_session.id,
                                                            f"jibri:{workshop_session.id}:session_abc")
    assert_received(recording, source=RecordingSource.jibri, name="room_2026-11-28-19-00-00.mp4", data=SMALL)
    assert probes == [recording.id]


def test_jibri_handoff_for_unknown_room_is_not_found(client, db, token, workshop_session, probes):
    response = jibri_post(client, token, "https://meet.example.org/unknown-room")

    assert response.status_code == 404
    assert db.session.query(Recording).count() == 0


@pytest.fixture
def other_trainer(db, create_user, create_course, create_workshop_session):
    """Another trainer with a session of their own course, and their API token."""
    other = create_user("other@example.org", name="Other Trainer")
    own_session = create_workshop_session(course=create_course("Andere cursus", trainers=[other]), title="Eigen")
    _row, value = accounts.create_api_token(other, name="jibri")
    db.session.commit()
    return {"user": other, "session": own_session, "token": value}


def room_of(workshop_session) -> str:
    return f"https://meet.example.org/{workshop_session.room_name}"


def test_jibri_ref_used_by_another_trainer_is_a_new_recording_of_their_own(client, db, token, workshop_session,
                                                                           other_trainer, probes):
    mine = jibri_post(client, token, room_of(workshop_session), ref="r1")
    theirs = jibri_post(client, other_trainer["token"], room_of(other_trainer["session"]), ref="r1")
    again = jibri_post(client, token, room_of(workshop_session), ref="r1")

    assert (mine.status_code, theirs.status_code, again.status_code) == (201, 201, 200)
    assert theirs.get_json()["id"] != mine.get_json()["id"]
    assert theirs.get_json()["uuid"] != mine.get_json()["uuid"]
    assert theirs.get_json()["session_id"] == other_trainer["session"].id
    assert again.get_json() == mine.get_json()
    db.session.expire_all()
    assert db.session.query(Recording).count() == 2


def test_jibri_handoff_to_another_trainers_session_is_not_found_before_the_ref(client, db, token, workshop_session,
                                                                               other_trainer, probes):
    mine = jibri_post(client, token, room_of(workshop_session), ref="r1").get_json()

    known_ref = jibri_post(client, other_trainer["token"], room_of(workshop_session), ref="r1")
    new_ref = jibri_post(client, other_trainer["token"], room_of(workshop_session), ref="r2")
    unknown_room = jibri_post(client, other_trainer["token"], "https://meet.example.org/unknown-room", ref="r1")

    assert (known_ref.status_code, new_ref.status_code) == (404, 404)
    assert known_ref.get_json() == new_ref.get_json() == unknown_room.get_json()
    assert mine["uuid"] not in known_ref.get_data(as_text=True)
    db.session.expire_all()
    assert [r.id for r in db.session.query(Recording)] == [mine["id"]]


def test_jibri_ref_stored_before_scoping_still_matches_in_its_own_session_only(client, db, token, workshop_session,
                                                                              other_trainer, probes):
    old = services.create_recording(workshop_session, source=RecordingSource.jibri, source_ref="jibri:r1")
    db.session.commit()

    repeat = jibri_post(client, token, room_of(workshop_session), ref="r1")
    theirs = jibri_post(client, other_trainer["token"], room_of(other_trainer["session"]), ref="r1")

    assert (repeat.status_code, repeat.get_json()["id"]) == (200, old.id)
    assert theirs.status_code == 201
    assert theirs.get_json()["id"] != old.id


def test_api_recording_of_another_trainer_is_not_found_like_an_unknown_one(client, db, workshop_session,
                                                                          other_trainer):
    recording = services.create_recording(workshop_session, source=RecordingSource.upload)
    db.session.commit()
    headers = {"Authorization": f"Bearer {other_trainer['token']}"}

    foreign = client.get(f"/api/v1/recordings/{recording.id}", headers=headers)
    unknown = client.get(f"/api/v1/recordings/{recording.id + 1000}", headers=headers)

    assert (foreign.status_code, unknown.status_code) == (404, 404)
    assert foreign.get_json() == unknown.get_json()


def test_api_upload_to_another_trainers_session_is_not_found(client, db, workshop_session, other_trainer, probes):
    response = client.post(f"/api/v1/sessions/{workshop_session.id}/recordings", data=SMALL,
                           headers={"Authorization": f"Bearer {other_trainer['token']}"})

    assert response.status_code == 404
    assert db.session.query(Recording).count() == 0


def test_status_retry_and_captions_of_another_trainers_recording_are_not_found(client, db, auth, workshop_session,
                                                                              other_trainer, probes):
    recording = services.create_recording(workshop_session, source=RecordingSource.upload)
    pipeline.fail(recording, pipeline.PROBE, "Dit bestand is geen video.")
    db.session.commit()
    auth.login("other@example.org")

    statuses = [client.get(f"/recordings/{recording.id}").status_code,
                client.post(f"/recordings/{recording.id}/retry").status_code,
                client.post(f"/recordings/{recording.id}/captions", content_type="multipart/form-data",
                            data={"language": "nl", "file": (io.BytesIO(b"WEBVTT\n"), "nl.vtt")}).status_code]

    assert statuses == [404, 404, 404]
    db.session.expire_all()
    assert (db.session.get(Recording, recording.id).state, probes) == (RecordingState.failed, [])


def test_status_page_shows_plain_failure_and_retry_restarts_step(client, db, logged_in, workshop_session, probes):
    recording = services.create_recording(workshop_session, source=RecordingSource.upload)
    recording.original_key, recording.original_size = "recordings/x/original/a.mp4", 10
    pipeline.fail(recording, pipeline.PROBE, "Dit bestand is geen video.")
    db.session.commit()

    page = client.get(f"/recordings/{recording.id}").get_data(as_text=True)
    retried = client.post(f"/recordings/{recording.id}/retry")

    assert "Dit bestand is geen video." in page
    assert "Opnieuw proberen" in page
    assert retried.headers["Location"] == f"/recordings/{recording.id}"
    db.session.expire_all()
    assert (db.session.get(Recording, recording.id).state, probes) == (RecordingState.received, [recording.id])


def test_status_page_of_busy_recording_refreshes_itself(client, db, logged_in, workshop_session):
    recording = services.create_recording(workshop_session, source=RecordingSource.upload)
    recording.state, recording.progress = RecordingState.transcoding, 0.42
    db.session.commit()

    response = client.get(f"/recordings/{recording.id}")

    assert response.headers["Refresh"] == "5"
    assert '<progress id="recording-progress" max="100" value="42">' in response.get_data(as_text=True)


FINALIZE = Path(__file__).resolve().parents[2] / "contrib" / "jibri" / "finalize.sh"


def run_finalize(folder, live_server, token):
    env = {"PATH": os.environ["PATH"], "OUDERKAMER_URL": live_server, "OUDERKAMER_TOKEN": token}
    return subprocess.run(["sh", str(FINALIZE), str(folder)], env=env, capture_output=True, text=True, timeout=60)


def jibri_folder(tmp_path, workshop_session):
    folder = tmp_path / "abcdefghijklmnop"
    folder.mkdir()
    (folder / "room_2026-11-28-19-00-00.mp4").write_bytes(DATA)
    (folder / "metadata.json").write_text(json.dumps({"meeting_url": f"https://meet.example.org/"
                                                                      f"{workshop_session.room_name}"}))
    return folder


def test_finalize_script_hands_recording_over_and_removes_folder(live_server, db, token, workshop_session, tmp_path,
                                                                 probes):
    folder = jibri_folder(tmp_path, workshop_session)

    done = run_finalize(folder, live_server, token)

    recording = only_recording(db)
    assert done.returncode == 0, done.stderr
    assert not folder.exists()
    assert recording.source_ref == f"jibri:{workshop_session.id}:abcdefghijklmnop"
    assert_received(recording, source=RecordingSource.jibri, name="room_2026-11-28-19-00-00.mp4")


def test_finalize_script_keeps_folder_when_app_refuses(live_server, db, workshop_session, tmp_path, probes):
    folder = jibri_folder(tmp_path, workshop_session)

    done = run_finalize(folder, live_server, "not-a-token")

    assert done.returncode == 1
    assert "HTTP 401" in done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "room_2026-11-28-19-00-00.mp4"]
    assert db.session.query(Recording).count() == 0


def test_upload_page_offers_resumable_upload_and_plain_form(client, db, logged_in, workshop_session):
    page = client.get(f"/sessions/{workshop_session.id}/recordings/upload").get_data(as_text=True)

    assert f'data-start-url="/sessions/{workshop_session.id}/recordings/uploads"' in page
    assert 'enctype="multipart/form-data"' in page
    assert '<input autocomplete="off" id="file" name="file" required type="file">' in page
    assert re.search(r'<script src="/static/js/upload\.js\?v=[0-9a-f]{12}" defer></script>', page)


@pytest.mark.e2e
def test_upload_in_browser_sends_chunks_and_lands_on_status_page(live_server, page, db, trainer, workshop_session,
                                                                 tmp_path, probes):
    video = tmp_path / "workshop.mp4"
    video.write_bytes(DATA * 3)  # 9.4 MB: two chunks
    page.goto(live_server + "/login")
    page.get_by_label("E-mailadres").fill(trainer.email)
    page.get_by_label("Wachtwoord").fill("correct horse battery")
    page.get_by_role("button", name="Inloggen").click()
    page.goto(f"{live_server}/sessions/{workshop_session.id}/recordings/upload")

    page.get_by_label("Videobestand").set_input_files(str(video))
    page.get_by_role("button", name="Uploaden").click()
    page.wait_for_url(f"{live_server}/recordings/*")

    recording = only_recording(db)
    assert page.url == f"{live_server}/recordings/{recording.id}"
    assert_received(recording, source=RecordingSource.upload, name="workshop.mp4", data=DATA * 3)
    assert uploads_left() == []
