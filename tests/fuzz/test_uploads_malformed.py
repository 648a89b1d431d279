"""Upload endpoints under bad input: malformed multipart, wrong content types, huge headers, huge and odd names.

Every refusal is a clean 4xx and stores nothing: no recording row, no object in storage, no file left in the
work folder. Odd names that come with a real file are accepted but stored under a safe key.
"""

from __future__ import annotations

import gc
import io
import shutil
import socket
import warnings
from pathlib import Path

import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from accounts import services as accounts
from activities.models import ActivityResponse
from recordings import services
from recordings.models import Recording
from tests.activities.helpers import all_objects, make_activity, make_family

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64
ODD_NAMES = ["../../../etc/passwd", "..\\..\\boot.ini", "con.mp4", "a" * 70_000 + ".mp4", "naïve vidéo 📹.mp4",
             "video.mp4\r\nX-Injected: 1", "/absolute/path.mp4", ".", ""]


@pytest.fixture
def workshop_session(create_workshop_session):
    return create_workshop_session(title="Grenzen stellen")


@pytest.fixture
def bearer(db, trainer):
    _row, token = accounts.create_api_token(trainer)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def logged_in(auth, trainer):
    auth.login(trainer.email)
    return trainer


@pytest.fixture(autouse=True)
def empty_work_folders(app):
    """Uploads other tests left unfinished would look like something this test stored."""
    for folder in ("incoming", "uploads"):
        shutil.rmtree(Path(app.config["INSTANCE_PATH"]) / "work" / folder, ignore_errors=True)


def _nothing_stored(db, storage) -> None:
    db.session.expire_all()
    assert db.session.query(Recording).count() == 0
    assert storage.list("") == []
    for folder in ("incoming", "uploads"):
        path = services.work_root() / folder
        assert not path.exists() or list(path.iterdir()) == [], folder


def _multipart(fields: dict) -> tuple[str, bytes]:
    boundary, body = encode_multipart(MultiDict(fields))
    return f"multipart/form-data; boundary={boundary}", body


BROKEN_MULTIPART = [
    ("multipart/form-data", b"--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc"),  # no boundary
    ("multipart/form-data; boundary=xyz", b"this is not multipart at all"),
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; "
                                          b"filename=\"a.mp4\"\r\n\r\n" + VIDEO),  # never closed
    ("multipart/form-data; boundary=xyz", b"--xyz\r\n\r\n\r\n--xyz--\r\n"),  # a part without headers
    ("multipart/form-data; boundary=" + "b" * 5000, b"--" + b"b" * 5000 + b"--\r\n"),
    ("text/plain", VIDEO),
    ("application/json", b'{"file": "AAAA"}'),
    ("application/x-www-form-urlencoded", b"file=%00%01%02&" * 1000),
]


def _quietly(call):
    """Werkzeug leaves the temporary file of a multipart part unclosed when the body ends early (a ResourceWarning,
    harmless in production); collect it here, or the warning lands in whichever later test the GC runs in."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        response = call()
        gc.collect()
    return response


# --- the browser's resumable upload -------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"not json", "text/plain", 422),
    (b'{"filename": "a.mp4", "size": "abc"}', "application/json", 422),
    (b'{"filename": "a.mp4", "size": -5}', "application/json", 422),
    (b'{"filename": "a.mp4", "size": 1e400}', "application/json", 422),  # was a 500 (OverflowError)
    (b'{"filename": "a.mp4", "size": Infinity}', "application/json", 422),
    (b'{"filename": "a.mp4", "size": NaN}', "application/json", 422),
    (b'{"filename": "a.mp4", "size": 100000000000000000000000}', "application/json", 413),
    (b'{"filename": ["a"], "size": [1]}', "application/json", 422),
    (b"[1, 2, 3]", "application/json", 422),  # was a 500 (a list has no .get)
])
def test_start_upload_with_bad_json_is_refused_and_reserves_nothing(client, db, logged_in, workshop_session,
                                                                     local_storage, body, content_type, status):
    response = client.post(f"/sessions/{workshop_session.id}/recordings/uploads", data=body,
                           content_type=content_type)

    assert response.status_code == status
    assert set(response.get_json()) == {"error"}
    _nothing_stored(db, local_storage)


@pytest.mark.parametrize("name", ODD_NAMES)
def test_resumable_upload_with_an_odd_name_is_stored_under_a_safe_key(client, db, logged_in, workshop_session,
                                                                      local_storage, probes, name):
    started = client.post(f"/sessions/{workshop_session.id}/recordings/uploads",
                          json={"filename": name, "size": len(VIDEO)}).get_json()

    done = client.put(started["url"], data=VIDEO, headers={"Content-Range": f"bytes 0-{len(VIDEO) - 1}/{len(VIDEO)}"})

    assert done.status_code == 201
    recording = db.session.get(Recording, done.get_json()["recording_id"])
    prefix = f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/original/"
    assert recording.original_key.startswith(prefix)
    assert "/" not in recording.original_key.removeprefix(prefix) and ".." not in recording.original_key
    assert local_storage.list("") == [recording.original_key]


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 400),
    ({"Content-Range": "bytes=0-10/20"}, 400),
    ({"Content-Range": "bytes 0-10"}, 400),
    ({"Content-Range": "bytes -1-10/20"}, 400),
    ({"Content-Range": "bytes 5-1/" + str(len(VIDEO))}, 409),
    ({"Content-Range": "bytes 0-9/99999999999999999999999999"}, 400),
    ({"Content-Range": "bytes 0-9/" + "9" * 5000}, 400),  # was a 500 (int() refuses 5000 digits)
    ({"Content-Range": "bytes 0-9/1"}, 409),
])
def test_upload_chunk_with_a_bad_content_range_changes_nothing(client, db, logged_in, workshop_session,
                                                               local_storage, headers, status):
    started = client.post(f"/sessions/{workshop_session.id}/recordings/uploads",
                          json={"filename": "a.mp4", "size": len(VIDEO)}).get_json()

    response = client.put(started["url"], data=VIDEO[:10], headers=headers)

    assert response.status_code == status
    assert client.get(started["url"]).get_json() == {"offset": 0, "total": len(VIDEO)}


def test_upload_chunk_longer_than_the_file_is_refused_and_cut_back(client, db, logged_in, workshop_session,
                                                                 local_storage):
    started = client.post(f"/sessions/{workshop_session.id}/recordings/uploads",
                          json={"filename": "a.mp4", "size": 10}).get_json()

    response = client.put(started["url"], data=VIDEO, headers={"Content-Range": "bytes 0-9/10"})

    assert response.status_code == 416
    assert client.get(started["url"]).get_json() == {"offset": 0, "total": 10}
    assert db.session.query(Recording).count() == 0


@pytest.mark.parametrize("upload_id", ["Z" * 32, "a" * 33, "..%2F..%2Fetc", "%00" * 32, "x" * 5000])
def test_upload_chunk_for_an_unknown_or_bent_id_is_not_found(client, db, logged_in, local_storage, upload_id):
    response = client.put(f"/recordings/uploads/{upload_id}", data=b"abc", headers={"Content-Range": "bytes 0-2/3"})

    assert response.status_code == 404
    _nothing_stored(db, local_storage)


# --- the form without JavaScript ----------------------------------------------------------------------------


@pytest.mark.parametrize(("content_type", "body"), BROKEN_MULTIPART)
def test_form_upload_with_a_broken_body_gets_the_form_again_and_stores_nothing(client, db, logged_in,
                                                                                workshop_session, local_storage,
                                                                                content_type, body):
    response = _quietly(lambda: client.post(f"/sessions/{workshop_session.id}/recordings/upload", data=body,
                                            content_type=content_type))

    assert response.status_code == 400
    assert "Kies een videobestand." in response.get_data(as_text=True)
    _nothing_stored(db, local_storage)


def test_form_upload_of_an_empty_file_is_refused(client, db, logged_in, workshop_session, local_storage):
    content_type, body = _multipart({"file": FileStorage(io.BytesIO(b""), filename="leeg.mp4")})

    response = client.post(f"/sessions/{workshop_session.id}/recordings/upload", data=body,
                           content_type=content_type)

    assert response.status_code == 400
    assert "Dit bestand is leeg." in response.get_data(as_text=True)
    _nothing_stored(db, local_storage)


# --- the API: raw body and the Jibri hand-off ---------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/octet-stream", "application/x-www-form-urlencoded",
                                          "text/plain; charset=utf-8", "video/mp4"])
def test_api_upload_of_an_empty_body_is_refused_whatever_its_type(client, db, bearer, workshop_session,
                                                                  local_storage, content_type):
    response = client.post(f"/api/v1/sessions/{workshop_session.id}/recordings", data=b"",
                           headers={**bearer, "Content-Type": content_type})

    assert (response.status_code, response.get_json()["error"]["field"]) == (422, "file")
    _nothing_stored(db, local_storage)


@pytest.mark.parametrize("header", ["X-Filename", "Content-Disposition"])
@pytest.mark.parametrize("name", ODD_NAMES)
def test_api_upload_with_an_odd_name_is_stored_under_a_safe_key(client, db, bearer, workshop_session,
                                                                local_storage, probes, header, name):
    value = name if header == "X-Filename" else f'attachment; filename="{name}"'

    response = client.post(f"/api/v1/sessions/{workshop_session.id}/recordings", data=VIDEO,
                           headers={**bearer, header: value.replace("\r\n", " ")})

    assert response.status_code == 201
    recording = db.session.get(Recording, response.get_json()["id"])
    prefix = f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/original/"
    assert recording.original_key.startswith(prefix)
    assert "/" not in recording.original_key.removeprefix(prefix) and ".." not in recording.original_key
    assert len(recording.original_key) <= 512


def test_api_upload_with_a_wrong_checksum_keeps_nothing(client, db, bearer, workshop_session, local_storage):
    response = client.post(f"/api/v1/sessions/{workshop_session.id}/recordings", data=VIDEO,
                           headers={**bearer, "X-Content-SHA256": "0" * 64})

    assert response.status_code == 422
    _nothing_stored(db, local_storage)


@pytest.mark.parametrize(("content_type", "body"), BROKEN_MULTIPART)
def test_jibri_handoff_with_a_broken_body_is_refused_and_stores_nothing(client, db, bearer, workshop_session,
                                                                        local_storage, content_type, body):
    response = _quietly(lambda: client.post("/api/v1/jibri/recordings", data=body,
                                            headers={**bearer, "Content-Type": content_type}))

    assert response.status_code in (404, 422)
    assert set(response.get_json()) == {"error"}
    _nothing_stored(db, local_storage)


@pytest.mark.parametrize("metadata", [b"not json", b"[1, 2]", b'"room"', b"{" * 100_000, b'{"room": 5}',
                                      b'{"meeting_url": null}', b'{"room": "' + b"a" * 2_000_000 + b'"}'])
def test_jibri_handoff_with_bad_metadata_is_refused_and_stores_nothing(client, db, bearer, workshop_session,
                                                                       local_storage, metadata):
    content_type, body = _multipart({"metadata": FileStorage(io.BytesIO(metadata), filename="metadata.json"),
                                     "file": FileStorage(io.BytesIO(VIDEO), filename="rec.mp4")})

    response = client.post("/api/v1/jibri/recordings", data=body, headers={**bearer, "Content-Type": content_type})

    assert response.status_code == 404
    _nothing_stored(db, local_storage)


def test_jibri_handoff_without_the_file_part_is_refused(client, db, bearer, workshop_session, local_storage):
    metadata = f'{{"meeting_url": "https://meet.example/{workshop_session.room_name}"}}'.encode()
    content_type, body = _multipart({"metadata": FileStorage(io.BytesIO(metadata), filename="metadata.json"),
                                     "ref": "r" * 10_000})

    response = client.post("/api/v1/jibri/recordings", data=body, headers={**bearer, "Content-Type": content_type})

    assert (response.status_code, response.get_json()["error"]["field"]) == (422, "file")
    _nothing_stored(db, local_storage)


# --- huge headers, over a real socket -----------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    [("X-Filename", "a" * 100_000)],
    [(f"X-Extra-{i}", "x") for i in range(500)],
])
def test_request_with_huge_headers_is_refused_by_the_server_and_stores_nothing(live_server, db, bearer,
                                                                               workshop_session, local_storage,
                                                                               headers):
    host, port = live_server.removeprefix("http://").split(":")
    lines = [f"POST /api/v1/sessions/{workshop_session.id}/recordings HTTP/1.1", f"Host: {host}",
             f"Authorization: {bearer['Authorization']}", f"Content-Length: {len(VIDEO)}", "Connection: close",
             *(f"{name}: {value}" for name, value in headers)]
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + VIDEO)
        status_line = conn.makefile("rb").readline().decode()

    assert status_line.split()[1] in ("400", "431")
    _nothing_stored(db, local_storage)


# --- a parent's answer to a home activity -------------------------------------------------------------------


@pytest.fixture
def family(db, course):
    return make_family(course)


@pytest.fixture
def activity(db, course):
    return make_activity(course)


@pytest.mark.parametrize(("content_type", "body"), BROKEN_MULTIPART)
def test_answer_with_a_broken_body_is_refused_and_stores_nothing(client, db, local_storage, family, activity,
                                                                 content_type, body):
    _parent, token = family["Sanne"]

    response = _quietly(lambda: client.post(f"/p/{token}/activities/{activity.id}", data=body,
                                            content_type=content_type, headers={"Accept": "application/json"}))

    assert 400 <= response.status_code < 500
    assert db.session.query(ActivityResponse).count() == 0
    assert all_objects(local_storage) == []


@pytest.mark.parametrize("name", ODD_NAMES[:4])
def test_answer_file_that_is_no_photo_whatever_its_name_is_refused_and_stores_nothing(
        client, db, local_storage, family, activity, name):
    _parent, token = family["Sanne"]
    content_type, body = _multipart({"client_key": "k" * 30, "text": "",
                                     "file": FileStorage(io.BytesIO(b"MZ\x90\x00 not a photo"), filename=name)})

    response = client.post(f"/p/{token}/activities/{activity.id}", data=body, content_type=content_type,
                           headers={"Accept": "application/json"})

    assert (response.status_code, set(response.get_json())) == (400, {"error"})
    assert db.session.query(ActivityResponse).count() == 0
    assert all_objects(local_storage) == []
