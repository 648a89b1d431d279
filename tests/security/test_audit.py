"""The audit log (ASVS 7.1.3, 8.3.5): who did what to a parent's data and when, for coordinators only.

Rows are written in the action's own transaction, hold no secrets or personal free text, and lose the parent's
name when the parent is deleted.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from accounts import audit
from accounts import services as accounts
from accounts.audit import AuditEntry
from core.db import utcnow
from courses import links, services
from parents.privacy import GRACE, delete_parent
from parents.tasks import delete_requested_parents
from tests.activities.helpers import make_activity
from tests.fixtures.sql import statements

pytestmark = pytest.mark.unit

PARENT = {"name": "Fenna Uniek", "email": "fenna.uniek@example.org", "phone": "0687654321", "language": "nl"}


def _entries(db) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def _facts(db) -> list[tuple]:
    return [(e.action, e.actor_kind, e.actor_name, e.parent_name, e.course_id, e.details) for e in _entries(db)]


@pytest.fixture
def world(db, trainer, course, create_course, create_parent):
    """A trainer's course with one parent, a second course, and no audit rows yet."""
    second = create_course("Opvoeden")
    parent = create_parent("Sanne", course=course)
    db.session.execute(AuditEntry.__table__.delete())
    db.session.commit()
    return {"course": course, "second": second, "parent": parent}


def test_trainer_page_actions_are_recorded_with_who_what_and_where(client, auth, db, trainer, world):
    course, parent = world["course"], world["parent"]
    base = f"/courses/{course.id}/parents"
    auth.login(trainer.email)

    client.post(f"{base}/new", data=PARENT)
    client.get(f"{base}/{parent.id}/edit")
    client.post(f"{base}/{parent.id}/edit", data={"name": "Sanne", "email": "sanne.nieuw@example.org",
                                                  "language": "nl", "contact_email": "y"})
    client.post(f"{base}/{parent.id}/link")
    client.post(f"{base}/{parent.id}/link/revoke", data={"confirmed": "1"})
    client.post(f"{base}/{parent.id}/move", data={"course_id": str(world["second"].id)})

    who = ("staff", "Test Trainer")
    assert _facts(db) == [
        ("parent.enrolled", *who, "Fenna Uniek", course.id, {}),
        ("parent.viewed", *who, "Sanne", course.id, {}),
        ("parent.updated", *who, "Sanne", course.id, {"fields": ["email"]}),
        ("link.reissued", *who, "Sanne", course.id, {}),
        ("link.revoked", *who, "Sanne", course.id, {}),
        ("parent.removed", *who, "Sanne", course.id, {}),
        ("parent.enrolled", *who, "Sanne", world["second"].id, {}),
    ]
    assert {e.actor_id for e in _entries(db)} == {trainer.id}


def test_csv_import_records_each_enrolment_and_the_import(app, client, auth, db, trainer, world):
    course = world["course"]
    csv = "naam;e-mail\r\nElif;elif@example.org\r\nAmal;amal@example.org\r\n"
    payload = URLSafeTimedSerializer(app.secret_key, salt="courses.import-parents").dumps(
        {"course_id": course.id, "csv": csv})
    auth.login(trainer.email)

    client.post(f"/courses/{course.id}/import/confirm", data={"payload": payload})

    assert [(e.action, e.parent_name, e.details) for e in _entries(db)] == [
        ("parent.enrolled", "Elif", {}), ("parent.enrolled", "Amal", {}), ("parents.imported", None, {"count": 2})]


def test_a_refused_import_leaves_no_audit_row(app, client, auth, db, trainer, world):
    course = world["course"]
    csv = "naam;e-mail\r\nAmal;not-an-address\r\nElif;also-not\r\n"  # no good row: the import is refused
    payload = URLSafeTimedSerializer(app.secret_key, salt="courses.import-parents").dumps(
        {"course_id": course.id, "csv": csv})
    auth.login(trainer.email)

    client.post(f"/courses/{course.id}/import/confirm", data={"payload": payload})

    assert _entries(db) == []


def test_a_refused_edit_leaves_no_audit_row(client, auth, db, trainer, world, create_parent):
    create_parent("Elif", course=world["course"], email="elif@example.org")
    db.session.execute(AuditEntry.__table__.delete())
    db.session.commit()
    auth.login(trainer.email)

    response = client.post(f"/courses/{world['course'].id}/parents/{world['parent'].id}/edit",
                           data={**PARENT, "email": "elif@example.org"})

    assert response.status_code == 400
    assert _entries(db) == []


def test_an_audit_row_is_rolled_back_with_its_action(db, world):
    services.remove_from_course(world["course"], world["parent"])

    db.session.rollback()

    assert _entries(db) == []
    assert services.find_enrolment(world["course"], world["parent"].id) is not None


def test_api_actions_are_recorded_as_api(client, db, trainer, world):
    course, parent = world["course"], world["parent"]
    _row, token = accounts.create_api_token(trainer)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/courses/{course.id}/parents"

    client.post(base, json={"name": "Elif", "phone": "0612345678"}, headers=headers)
    client.patch(f"{base}/{parent.id}", json={"language": "en"}, headers=headers)
    client.post(f"{base}/{parent.id}/link", headers=headers)
    client.get(base, headers=headers)
    client.delete(f"{base}/{parent.id}", headers=headers)

    assert [(e.action, e.actor_kind, e.actor_id, e.parent_name, e.course_id, e.details) for e in _entries(db)] == [
        ("parent.enrolled", "api", trainer.id, "Elif", course.id, {}),
        ("parent.updated", "api", trainer.id, "Sanne", course.id, {"fields": ["language"]}),
        ("link.reissued", "api", trainer.id, "Sanne", course.id, {}),
        ("parents.exported", "api", trainer.id, None, course.id, {"count": 2}),
        ("parent.removed", "api", trainer.id, "Sanne", course.id, {}),
    ]


def test_the_parents_own_export_and_deletion_are_recorded_and_the_name_forgotten(client, db, world):
    parent = world["parent"]
    token = links.issue_personal_link(parent).rsplit("/", 1)[1]
    services.update_parent(parent, phone="0687654321")
    db.session.commit()
    parent_id = parent.id

    client.get(f"/p/{token}/export.json")
    client.post(f"/p/{token}/delete")  # a request, carried out by the periodic task after the grace period
    db.session.expire_all()
    parent.deletion_requested_at -= GRACE
    db.session.commit()
    delete_requested_parents.call_local()

    entries = _entries(db)
    assert [(e.action, e.actor_kind, e.parent_id, e.parent_name) for e in entries] == [
        ("parent.updated", "system", parent_id, None), ("parent.exported", "parent", parent_id, None),
        ("parent.deletion_requested", "parent", parent_id, None), ("parent.deleted", "system", parent_id, None)]


def test_audit_rows_hold_no_token_or_contact_details(client, auth, db, trainer, world):
    auth.login(trainer.email)
    course, parent = world["course"], world["parent"]

    client.post(f"/courses/{course.id}/parents/new", data=PARENT)
    page = client.post(f"/courses/{course.id}/parents/{parent.id}/link", follow_redirects=True)
    token = re.search(r"/p/([A-Za-z0-9_-]{43})", page.get_data(as_text=True))[1]

    text = repr([(e.actor_name, e.parent_name, e.details) for e in _entries(db)])
    assert token not in text
    assert PARENT["email"] not in text and "+31687654321" not in text


def test_record_refuses_unknown_actions_and_content_in_details(db):
    with pytest.raises(ValueError):
        audit.record("parent.teleported")
    with pytest.raises(ValueError):
        audit.record("parent.updated", note="Moeder belde over haar zoon die ziek is en niet kan komen")


# --- the coordinator's page --------------------------------------------------------------------------------


def test_trainers_and_strangers_do_not_see_the_audit_page(client, auth, trainer):
    anonymous = client.get("/audit")
    auth.login(trainer.email)

    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    assert client.get("/audit").status_code == 403


def test_coordinator_filters_by_parent_course_and_actor(client, auth, db, trainer, coordinator, world,
                                                        create_parent):
    other = create_parent("Elif", course=world["second"], email="elif@example.org")
    auth.login(trainer.email)
    client.get(f"/courses/{world['course'].id}/parents/{world['parent'].id}/edit")
    client.post("/logout")
    auth.login(coordinator.email)

    by_parent = client.get(f"/audit?parent={world['parent'].id}").get_data(as_text=True)
    by_course = client.get(f"/audit?course={world['second'].id}").get_data(as_text=True)
    by_actor = client.get(f"/audit?actor={trainer.id}").get_data(as_text=True)

    assert "Gegevens bekeken" in by_parent and "Elif" not in by_parent
    assert "Elif" in by_course and "Sanne" not in by_course
    assert "Test Trainer" in by_actor and "Elif" not in by_actor
    assert other.id != world["parent"].id


def test_coordinator_searches_by_parent_name_course_title_and_actor_name(client, auth, db, trainer, coordinator,
                                                                        world, create_parent):
    create_parent("Elif Yilmaz", course=world["second"], email="elif@example.org")
    auth.login(trainer.email)
    client.get(f"/courses/{world['course'].id}/parents/{world['parent'].id}/edit")
    client.post("/logout")
    auth.login(coordinator.email)

    by_parent = client.get("/audit?parent=yilmaz").get_data(as_text=True)
    by_course = client.get("/audit?course=opvoe").get_data(as_text=True)
    by_actor = client.get("/audit?actor=test+TRAINER").get_data(as_text=True)
    nobody = client.get("/audit?parent=Sanne&course=Opvoeden").get_data(as_text=True)

    assert _rows(by_parent) == _rows(by_course) == [("Ingeschreven in een cursus", "Elif Yilmaz")]
    assert _rows(by_actor) == [("Gegevens bekeken", "Sanne")]
    assert _rows(nobody) == [] and "Niets gevonden." in nobody


def test_search_stays_within_the_coordinators_organisation(client, auth, db, coordinator, world):
    elsewhere = accounts.create_organisation("Andere aanbieder")
    boss = accounts.create_user("baas@elders.example", name="Baas Elders", password="correct horse battery",
                                coordinator=True, organisation=elsewhere)
    course = services.create_course(title="Elders lezen", trainers=[boss])
    parent = services.add_parent(name="Sanne Elders", email="sanne@elders.example", organisation_id=elsewhere.id)
    services.enrol(course, parent)
    db.session.add(AuditEntry(organisation_id=elsewhere.id, action="parent.viewed", actor_kind="staff",
                              actor_id=boss.id, actor_name=boss.name, parent_id=parent.id, parent_name=parent.name))
    db.session.commit()
    queries = ("parent=Elders", f"parent={parent.id}", "course=Elders", f"course={course.id}", "actor=Baas",
               f"actor={boss.id}")
    auth.login(boss.email)
    theirs = [_rows(client.get(f"/audit?{query}").get_data(as_text=True)) for query in queries]
    client.post("/logout")
    auth.login(coordinator.email)

    ours = [_rows(client.get(f"/audit?{query}").get_data(as_text=True)) for query in queries]

    viewed, enrolled = ("Gegevens bekeken", "Sanne Elders"), ("Ingeschreven in een cursus", "Sanne Elders")
    assert theirs == [[viewed, enrolled], [viewed, enrolled], [enrolled], [enrolled], [viewed], [viewed]]
    assert ours == [[]] * 6


def test_audit_page_is_paginated(client, auth, db, coordinator, world):
    for _ in range(60):
        audit.record("parent.viewed", parent=world["parent"], course_id=world["course"].id)
    db.session.commit()
    auth.login(coordinator.email)

    first = client.get("/audit?course=Voorlezen").get_data(as_text=True)
    second = client.get(_link(first, "next")).get_data(as_text=True)
    back = client.get(_link(second, "prev")).get_data(as_text=True)

    assert first.count("Gegevens bekeken") == 50 and _link(first, "prev") is None
    assert second.count("Gegevens bekeken") == 10 and _link(second, "next") is None
    assert "course=Voorlezen" in _link(first, "next") and "page=" not in _link(first, "next")
    assert _rows(back) == _rows(first) and _link(back, "prev") is None


def test_paging_walks_every_entry_once_newest_first_and_back(db, world):
    org = world["parent"].organisation_id
    same_moment = utcnow()
    for i in range(23):
        entry = audit.record("parent.viewed", parent=world["parent"])
        entry.created_at = same_moment - timedelta(seconds=i // 4)  # ties, broken by id
    db.session.commit()
    expected = [e.id for e in sorted(_entries(db), key=lambda e: (e.created_at, e.id), reverse=True)]

    older = _walk(lambda cursor: audit.entries_page(org, [], before=cursor, per_page=5), "older")
    newer = _walk(lambda cursor: audit.entries_page(org, [], after=cursor, per_page=5), "newer",
                  start=audit.parse_cursor(audit.cursor_of(db.session.get(AuditEntry, expected[-1]))))

    assert [e.id for page in older for e in page] == expected
    assert [len(page) for page in older] == [5, 5, 5, 5, 3]
    assert [e.id for page in reversed(newer) for e in page] == expected[:-1]  # all but the start, newest first


def test_paging_is_stable_while_entries_are_added(db, world):
    org = world["parent"].organisation_id
    for _ in range(12):
        audit.record("parent.viewed", parent=world["parent"])
    db.session.commit()
    before = [e.id for e in _entries(db)]
    first = audit.entries_page(org, [], per_page=5)

    for _ in range(7):  # new rows arrive while the coordinator reads on
        audit.record("link.revoked", parent=world["parent"])
    db.session.commit()
    rest = _walk(lambda cursor: audit.entries_page(org, [], before=cursor, per_page=5), "older",
                 start=audit.parse_cursor(first.older))
    newest = audit.entries_page(org, [], after=audit.parse_cursor(audit.cursor_of(first.entries[0])), per_page=5)

    seen = [e.id for e in first.entries] + [e.id for page in rest for e in page]
    assert sorted(seen) == sorted(before) and len(seen) == len(set(seen))
    assert [e.action for e in newest.entries] == ["link.revoked"] * 5 and newest.newer is not None


@pytest.mark.parametrize("query", ["", "?parent=Sanne", "?course=Opvoeden&actor=Test", "?parent=%231"])
def test_audit_page_costs_the_same_statements_for_10_or_100_entries(client, auth, db, trainer, coordinator, world,
                                                                      query):
    auth.login(coordinator.email)
    counts = []
    for total in (10, 100):
        db.session.execute(AuditEntry.__table__.delete())
        for i in range(total):
            audit.record("parent.viewed", parent=world["parent"], course_id=world["course"].id)
            if i % 2:
                db.session.add(AuditEntry(organisation_id=trainer.organisation_id, action="parent.updated",
                                          actor_kind="staff", actor_id=trainer.id, actor_name=trainer.name,
                                          parent_id=world["parent"].id, parent_name="Sanne",
                                          course_id=world["second"].id, details={"fields": ["email"]}))
        db.session.commit()
        counts.append(_statements(db, lambda: client.get(f"/audit{query}")))

    assert counts[0] == counts[1]


def test_audit_page_speaks_dutch_and_english(client, auth, db, coordinator, world):
    audit.record("link.revoked", parent=world["parent"])
    db.session.commit()
    auth.login(coordinator.email)

    dutch = client.get("/audit").get_data(as_text=True)
    client.post("/language/en")
    english = client.get("/audit").get_data(as_text=True)

    assert "<h1>Logboek</h1>" in dutch and "Persoonlijke link ingetrokken" in dutch
    assert "<h1>Audit log</h1>" in english and "Personal link revoked" in english


def test_a_deleted_parent_shows_as_a_number_only(client, auth, db, coordinator, world):
    parent = world["parent"]
    audit.record("parent.viewed", parent=parent)
    parent_id = parent.id
    delete_parent(parent)
    db.session.commit()
    auth.login(coordinator.email)

    page = client.get(f"/audit?parent={parent_id}").get_data(as_text=True)

    assert f"gewiste ouder #{parent_id}" in page
    assert "Sanne" not in page


def test_a_bad_cursor_or_search_is_refused_plainly(client, auth, coordinator):
    auth.login(coordinator.email)

    statuses = [client.get(f"/audit?{query}").status_code
                for query in ("before=abc", "after=12", "before=1.2.3", "parent=" + "x" * 201, "parent=abc")]

    assert statuses == [400, 400, 400, 400, 200]


def test_a_trainer_opening_the_answers_to_an_activity_is_recorded(client, auth, db, trainer, world):
    activity = make_activity(world["course"])
    auth.login(trainer.email)

    client.get(f"/courses/{world['course'].id}/activities/{activity.id}")

    assert [(e.action, e.actor_id, e.course_id, e.details) for e in _entries(db)] == [
        ("responses.viewed", trainer.id, world["course"].id, {"activity": activity.id, "count": 0})]


# --- helpers of the page tests ------------------------------------------------------------------------------


def _rows(page: str) -> list[tuple[str, str]]:
    """(what, parent name) of each row of the log's table."""
    rows = re.findall(r"<tr>\s*<td>.*?</td>\s*<td>.*?</td>\s*<td>([^<]+).*?</td>\s*<td>(?:<a [^>]*>)?([^<#]*)",
                      page, re.S)
    return [(what.strip(), name.strip()) for what, name in rows]


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    return found[1].replace("&amp;", "&") if found else None


def _walk(fetch, direction: str, start=None) -> list[list[AuditEntry]]:
    pages, cursor = [], start
    while True:
        page = fetch(cursor)
        pages.append(page.entries)
        following = getattr(page, direction)
        if following is None:
            return pages
        cursor = audit.parse_cursor(following)


def _statements(db, fetch) -> int:
    with statements(db) as seen:
        assert fetch().status_code == 200
    return len(seen)
