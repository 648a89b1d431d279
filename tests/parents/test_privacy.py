"""A parent's own data: the page, the JSON and the ZIP; deletion after a grace period, everywhere."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import String, Text, select

from activities.models import ActivityResponse, MediaState, ResponseKind, new_uuid
from activities.services import response_folder
from core.db import utcnow
from core.mail import get_mail_transport
from core.storage import get_storage
from courses.models import Enrolment, Parent
from parents import privacy, tasks
from tests.activities.helpers import make_activity

pytestmark = pytest.mark.unit

NAME, EMAIL, PHONE = "Fenna Uniek-Achternaam", "fenna.uniek@example.org", "+31687654321"
PHOTO = b"\xff\xd8\xff not really a jpeg, but the parent's own bytes"


@pytest.fixture
def stored_parent(db, create_parent, course, create_course):
    """A parent in two courses with a phone number and two stored objects, plus an unrelated object."""
    parent = create_parent(NAME, course=course, email=EMAIL)
    parent.phone = PHONE
    enrol_second = create_course("Opvoeden")
    parent.enrolments.append(Enrolment(course=enrol_second))
    db.session.commit()
    storage = get_storage()
    for key in (f"parents/{parent.id}/responses/1.txt", f"parents/{parent.id}/audio/2.ogg"):
        storage.put_bytes(key, NAME.encode(), content_type="text/plain")
    storage.put_bytes(f"parents/{parent.id + 1000}/keep.txt", b"someone else", content_type="text/plain")
    activity = make_activity(course)
    photo = ActivityResponse(activity_id=activity.id, parent_id=parent.id, kind=ResponseKind.photo,
                             client_key="photo-" + "p" * 20, state=MediaState.ready, uuid=new_uuid(), text="Leeshoek")
    photo.media_key = storage.put_bytes(response_folder(activity, parent, photo.uuid) + "photo.jpg", PHOTO,
                                        content_type="image/jpeg").key
    db.session.add(photo)
    db.session.commit()
    yield parent
    storage.delete_prefix("parents/")  # storage outlives the per-test database


def _rows_naming(db, *needles: str) -> list[tuple[str, str]]:
    """(table, value) for every text cell in every table that contains one of the needles."""
    found = []
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text)]
        for row in db.session.execute(select(*columns)) if columns else []:
            found += [(table.name, v) for v in row if isinstance(v, str) and any(n in v for n in needles)]
    return found


def test_export_parent_contains_own_data_without_the_token_hash_or_storage_paths(db, stored_parent):
    data = privacy.export_parent(stored_parent)
    photo = db.session.scalars(select(ActivityResponse)).one()

    assert data["parent"]["name"] == NAME
    assert data["parent"]["email"] == EMAIL
    assert data["parent"]["phone"] == PHONE
    assert "link_token_hash" not in data["parent"]
    assert [e["course_title"] for e in data["enrolments"]] == ["Voorlezen", "Opvoeden"]
    assert data["files"] == [f"antwoorden/{photo.id}-photo.jpg", "bestanden/2.ogg", "bestanden/1.txt"]
    assert [(r["kind"], r["text"], r["file"]) for r in data["home_activity_responses"]] == [
        ("photo", "Leeshoek", f"antwoorden/{photo.id}-photo.jpg")]
    assert "parents/" not in json.dumps(data) and "courses/" not in json.dumps(data)


def test_export_view_downloads_json(client, stored_parent, create_link):
    token, _ = create_link(stored_parent)

    response = client.get(f"/p/{token}/export.json")

    assert response.headers["Content-Disposition"] == 'attachment; filename="ouderkamer-mijn-gegevens.json"'
    assert response.headers["Cache-Control"] == "no-store"
    assert json.loads(response.data)["parent"]["email"] == EMAIL


def test_export_zip_holds_the_parents_own_files_and_the_json_without_storage_paths(client, db, stored_parent,
                                                                                    create_link):
    token, _ = create_link(stored_parent)
    photo = db.session.scalars(select(ActivityResponse)).one()

    response = client.get(f"/p/{token}/export.zip")
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    response.close()  # closes the spooled ZIP, as the server does after sending it
    names = archive.namelist()

    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    assert sorted(names) == sorted(["gegevens.json", f"antwoorden/{photo.id}-photo.jpg", "bestanden/2.ogg",
                                    "bestanden/1.txt"])
    assert archive.read(f"antwoorden/{photo.id}-photo.jpg") == PHOTO
    assert archive.read("bestanden/1.txt") == NAME.encode()
    data = archive.read("gegevens.json").decode()
    assert json.loads(data)["parent"]["email"] == EMAIL
    assert "parents/" not in data and "courses/" not in data and "someone else" not in str(names)


def test_my_data_page_is_readable_and_offers_the_zip(client, stored_parent, create_link):
    token, _ = create_link(stored_parent)

    html = client.get(f"/p/{token}/data").get_data(as_text=True)

    assert f"<dd><bdi>{NAME}</bdi></dd>" in html
    assert f'href="/p/{token}/export.zip"' in html
    assert "parents/" not in html


def test_delete_parent_leaves_no_row_or_object_naming_them(db, stored_parent):
    parent_id = stored_parent.id

    privacy.delete_parent(stored_parent)
    db.session.commit()

    assert _rows_naming(db, NAME, EMAIL, PHONE) == []
    assert db.session.scalars(select(Enrolment).where(Enrolment.parent_id == parent_id)).all() == []
    assert db.session.get(Parent, parent_id) is None
    assert get_storage().list(f"parents/{parent_id}/") == []
    assert get_storage().list("parents/") == [f"parents/{parent_id + 1000}/keep.txt"]


def test_delete_view_get_asks_with_the_grace_period_and_keeps_the_parent(client, db, stored_parent, create_link):
    token, _ = create_link(stored_parent)

    html = client.get(f"/p/{token}/delete").get_data(as_text=True)

    assert f'<form method="post" action="/p/{token}/delete">' in html
    assert "Dat gebeurt pas na 7 dagen." in html
    # The confirmation is a plain link-style button; "no, back" is the prominent one.
    assert '<button type="submit" class="link-button danger">Ja, verwijder mijn gegevens</button>' in html
    assert f'<a class="button" href="/p/{token}">Nee, terug naar mijn cursus</a>' in html
    assert db.session.get(Parent, stored_parent.id).deletion_requested_at is None


def test_delete_request_waits_tells_the_trainer_and_can_be_cancelled(client, db, stored_parent, create_link, trainer):
    token, _ = create_link(stored_parent)
    outbox = get_mail_transport()
    outbox.clear()

    html = client.post(f"/p/{token}/delete").get_data(as_text=True)
    db.session.expire_all()
    requested = db.session.get(Parent, stored_parent.id).deletion_requested_at
    route_map = client.get(f"/p/{token}").get_data(as_text=True)
    client.post(f"/p/{token}/delete/cancel")
    db.session.expire_all()

    assert requested is not None
    assert "Toch niet verwijderen" in html and "Toch niet verwijderen" in route_map
    assert db.session.get(Parent, stored_parent.id).deletion_requested_at is None
    assert [(m["To"], m["Subject"]) for m in outbox.outbox] == [
        (trainer.email, f"{NAME} vraagt om verwijdering van de gegevens"),
        (trainer.email, f"{NAME} wil toch niet dat de gegevens worden verwijderd")]
    assert get_storage().list(f"parents/{stored_parent.id}/") != []


def test_delete_requested_parents_deletes_rows_and_storage_only_after_seven_days(db, stored_parent):
    parent_id = stored_parent.id
    photo_key = db.session.scalars(select(ActivityResponse)).one().media_key
    privacy.request_deletion(stored_parent, now=utcnow() - timedelta(days=6, hours=23))
    db.session.commit()

    tasks.delete_requested_parents.call_local()
    kept = db.session.get(Parent, parent_id) is not None
    stored_parent.deletion_requested_at = utcnow() - privacy.GRACE - timedelta(minutes=1)
    db.session.commit()
    tasks.delete_requested_parents.call_local()
    db.session.expire_all()

    assert kept is True
    assert db.session.get(Parent, parent_id) is None
    assert _rows_naming(db, NAME, EMAIL, PHONE) == []
    assert get_storage().list(f"parents/{parent_id}/") == []
    assert get_storage().exists(photo_key) is False
    assert get_storage().list("parents/") == [f"parents/{parent_id + 1000}/keep.txt"]


def test_delete_view_post_without_csrf_token_is_refused(app, client, db, stored_parent, create_link, monkeypatch):
    token, _ = create_link(stored_parent)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)

    response = client.post(f"/p/{token}/delete")
    db.session.expire_all()

    assert response.status_code == 400
    assert db.session.get(Parent, stored_parent.id).deletion_requested_at is None


def test_export_and_delete_with_unknown_token_are_404(client, db, stored_parent):
    responses = [client.get("/p/nope/export.json"), client.get("/p/nope/export.zip"), client.get("/p/nope/data"),
                 client.get("/p/nope/delete"), client.post("/p/nope/delete"), client.post("/p/nope/delete/cancel")]

    assert [r.status_code for r in responses] == [404] * 6


@pytest.mark.adapter
def test_export_zip_reads_the_parents_files_from_s3(client, db, s3_storage, use_storage, course, create_parent,
                                                    create_link):
    use_storage(s3_storage)
    parent = create_parent(NAME, course=course, email=EMAIL)
    token, _ = create_link(parent)
    activity = make_activity(course)
    voice = ActivityResponse(activity_id=activity.id, parent_id=parent.id, kind=ResponseKind.voice,
                             client_key="voice-" + "v" * 20, state=MediaState.ready, uuid=new_uuid())
    voice.media_key = s3_storage.put_bytes(response_folder(activity, parent, voice.uuid) + "voice.m4a", b"m4a" * 1000,
                                           content_type="audio/mp4").key
    db.session.add(voice)
    db.session.commit()

    response = client.get(f"/p/{token}/export.zip")
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    response.close()

    assert archive.namelist() == ["gegevens.json", f"antwoorden/{voice.id}-voice.m4a"]
    assert archive.read(f"antwoorden/{voice.id}-voice.m4a") == b"m4a" * 1000
