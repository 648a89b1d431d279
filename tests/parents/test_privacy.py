"""A parent's own data: the JSON export and deletion everywhere (database and storage)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import String, Text, select

from core.storage import get_storage
from courses.models import Enrolment, Parent
from parents import privacy

pytestmark = pytest.mark.unit

NAME, EMAIL, PHONE = "Fenna Uniek-Achternaam", "fenna.uniek@example.org", "+31687654321"


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


def test_export_parent_contains_own_data_without_the_token_hash(db, stored_parent):
    data = privacy.export_parent(stored_parent)

    assert data["parent"]["name"] == NAME
    assert data["parent"]["email"] == EMAIL
    assert data["parent"]["phone"] == PHONE
    assert "link_token_hash" not in data["parent"]
    assert [e["course_title"] for e in data["enrolments"]] == ["Voorlezen", "Opvoeden"]
    assert data["stored_files"] == [f"parents/{stored_parent.id}/audio/2.ogg",
                                    f"parents/{stored_parent.id}/responses/1.txt"]


def test_export_view_downloads_json(client, stored_parent, create_link):
    token, _ = create_link(stored_parent)

    response = client.get(f"/p/{token}/export.json")

    assert response.headers["Content-Disposition"] == 'attachment; filename="ouderkamer-mijn-gegevens.json"'
    assert response.headers["Cache-Control"] == "no-store"
    assert json.loads(response.data)["parent"]["email"] == EMAIL


def test_delete_parent_leaves_no_row_or_object_naming_them(db, stored_parent):
    parent_id = stored_parent.id

    privacy.delete_parent(stored_parent)
    db.session.commit()

    assert _rows_naming(db, NAME, EMAIL, PHONE) == []
    assert db.session.scalars(select(Enrolment).where(Enrolment.parent_id == parent_id)).all() == []
    assert db.session.get(Parent, parent_id) is None
    assert get_storage().list(f"parents/{parent_id}/") == []
    assert get_storage().list("parents/") == [f"parents/{parent_id + 1000}/keep.txt"]


def test_delete_view_get_asks_for_confirmation_and_keeps_the_parent(client, db, stored_parent, create_link):
    token, _ = create_link(stored_parent)

    html = client.get(f"/p/{token}/delete").get_data(as_text=True)

    assert f'<form method="post" action="/p/{token}/delete">' in html
    assert db.session.get(Parent, stored_parent.id) is not None


def test_delete_view_post_deletes_and_says_goodbye(client, db, stored_parent, create_link):
    token, _ = create_link(stored_parent)
    parent_id = stored_parent.id

    response = client.post(f"/p/{token}/delete")
    db.session.expire_all()

    assert "<h1>Je gegevens zijn verwijderd</h1>" in response.get_data(as_text=True)
    assert db.session.get(Parent, parent_id) is None
    assert _rows_naming(db, NAME, EMAIL, PHONE) == []
    assert get_storage().list(f"parents/{parent_id}/") == []
    assert client.get(f"/p/{token}").status_code == 404


def test_delete_view_post_without_csrf_token_is_refused(app, client, db, stored_parent, create_link, monkeypatch):
    token, _ = create_link(stored_parent)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)

    response = client.post(f"/p/{token}/delete")
    db.session.expire_all()

    assert response.status_code == 400
    assert db.session.get(Parent, stored_parent.id) is not None


def test_export_and_delete_with_unknown_token_are_404(client, db, stored_parent):
    responses = [client.get("/p/nope/export.json"), client.get("/p/nope/delete"), client.post("/p/nope/delete")]

    assert [r.status_code for r in responses] == [404, 404, 404]
