"""Organisations as tenants: nothing of one organisation reaches another's trainers, coordinators or API tokens.

Every route that takes an id is read from the URL map, so a new route without an entry in ID_ROUTES' values fails
test_every_id_route_is_checked. Runs on SQLite and PostgreSQL (the `db` fixture).
"""

from __future__ import annotations

import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import select

from accounts import services as accounts
from accounts.models import User
from activities import answers
from activities import services as activities
from activities.models import MediaKind
from core import tenancy
from core.db import utcnow
from core.extensions import db as _db
from courses import imports, links
from courses import services as courses
from courses.models import Course, Parent
from sessions import scheduling as sessions
from sessions.calendar_models import InviteDelivery, insert_once
from tests.activities.helpers import make_activity, post_answer
from tests.fixtures.factories import PASSWORD

#: Routes with an id that are not about tenant data (static files, signed media keys, the language switch).
NOT_TENANT = {"static", "core.set_language", "playback.media"}
#: Resumable uploads are named by a random id that only their owner's browser knows (tests/recordings).
UPLOADS = {"recordings.upload_offset", "recordings.upload_chunk", "recordings.cancel_upload"}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def home(app, client, db, trainer, coordinator, course, create_workshop_session, local_storage, published):
    """Organisation A (the first): a course with a parent, a session and series, an activity, a response and a
    published recording; every id a route can take."""
    parent = courses.add_parent(name="Sanne", email="sanne@example.org", phone="0612345678")
    courses.enrol(course, parent)
    personal = links.issue_personal_link(parent).rsplit("/", 1)[1]
    db.session.commit()
    workshop_session = create_workshop_session(starts_at=utcnow() + timedelta(minutes=5))
    first = (utcnow() + timedelta(days=2)).astimezone(ZoneInfo("Europe/Amsterdam"))
    series = sessions.schedule_series(course, title="Reeks", first_local=first, timezone="Europe/Amsterdam", count=2)
    activity = make_activity(course, kinds=("photo", "text"))
    media = activities.add_media(activity, io.BytesIO(_png()), kind=MediaKind.image)
    db.session.commit()
    assert post_answer(client, personal, activity, data=_png(), filename="f.png").status_code in (200, 302, 303)
    response = answers.responses_of(activity, parent)[0]
    recording = published(local_storage)
    delivery_id = db.session.scalar(select(InviteDelivery.id).limit(1)) or insert_once(
        InviteDelivery, session_id=workshop_session.id, parent_id=parent.id, sequence=0, method="REQUEST")
    api_row, _token = accounts.create_api_token(trainer, name="home")
    db.session.commit()
    return {"course_id": course.id, "parent_id": parent.id, "session_id": workshop_session.id,
            "series_id": series.id, "activity_id": activity.id, "media_id": media.id, "response_id": response.id,
            "recording_id": recording.id, "recording_uuid": recording.uuid, "name": "master.m3u8",
            "user_id": trainer.id, "token_id": api_row.id, "delivery_id": delivery_id, "kind": "invite",
            "part": "file", "personal": personal, "parent_email": parent.email, "course_title": course.title}


@pytest.fixture
def away(db):
    """Organisation B: a coordinator and a trainer with a course, and a parent with the same e-mail as A's."""
    organisation = accounts.create_organisation("Andere aanbieder", language="tr", retention_days=30)
    boss = accounts.create_user("baas@elders.example", name="Baas Elders", password=PASSWORD, coordinator=True,
                                organisation=organisation)
    trainer = accounts.create_user("trainer@elders.example", name="Trainer Elders", password=PASSWORD,
                                   organisation=organisation)
    course = courses.create_course(title="Elders lezen", trainers=[trainer])
    db.session.commit()
    return {"organisation": organisation.id, "coordinator": boss, "trainer": trainer, "course": course.id}


def _id_routes(app) -> list[tuple[str, str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.arguments or {"token", "feed_id"} & set(rule.arguments) or rule.endpoint in NOT_TENANT:
            continue
        if rule.endpoint.startswith("accounts.reset_password") or rule.endpoint in UPLOADS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule.rule))
    return sorted(found)


def _url(rule: str, values: dict) -> str:
    out = rule
    for name, value in values.items():
        for converter in ("", "int:", "path:", "any(file, poster):", "any(invite, reminder):"):
            out = out.replace(f"<{converter}{name}>", str(value))
    assert "<" not in out, f"no value for {out}"
    return out


def _bearer(db, user: User) -> dict:
    _row, token = accounts.create_api_token(user, name="test")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_every_id_route_is_checked(app):
    rules = {rule for _e, _m, rule in _id_routes(app)}
    assert rules and all("<" not in _url(rule, {k: 1 for k in (
        "course_id", "parent_id", "session_id", "series_id", "activity_id", "media_id", "response_id",
        "recording_id", "recording_uuid", "name", "user_id", "token_id", "delivery_id", "kind", "part")})
        for rule in rules)


def test_every_route_with_an_id_answers_404_to_another_organisation(app, client, auth, db, home, away):
    routes = _id_routes(app)
    auth.login(away["coordinator"].email)
    headers = _bearer(db, away["coordinator"])

    answers = {}
    for endpoint, method, rule in routes:
        api = rule.startswith("/api/")
        response = client.open(_url(rule, home), method=method, headers=headers if api else None,
                               json={} if api and method != "GET" else None)
        answers[(endpoint, method)] = response.status_code

    assert {route: status for route, status in answers.items() if status != 404} == {}
    course = db.session.get(Course, home["course_id"])
    assert (course.title, course.archived_at) == (home["course_title"], None)
    assert [p.id for p in courses.course_parents(course)] == [home["parent_id"]]


def test_the_owner_reaches_the_same_routes(app, client, auth, db, home):
    auth.login("trainer@example.org")
    gets = [(e, rule) for e, m, rule in _id_routes(app) if m == "GET" and not rule.startswith("/api/")
            and e not in {"accounts.revoke_token"}]

    missing = [e for e, rule in gets if client.get(_url(rule, home)).status_code == 404]

    assert missing == []


def test_lists_show_nothing_of_another_organisation(client, auth, db, home, away):
    auth.login(away["coordinator"].email)
    headers = _bearer(db, away["coordinator"])

    pages = [client.get(url).get_data(as_text=True) for url in ("/courses", "/trainers", "/audit", "/")]
    api = client.get("/api/v1/courses", headers=headers).get_data(as_text=True)

    for body in [*pages, api]:
        assert home["course_title"] not in body
        assert "trainer@example.org" not in body and "Sanne" not in body
    assert "Elders lezen" in pages[0]


def test_enrolling_the_same_email_elsewhere_makes_another_parent(client, db, home, away):
    headers = _bearer(db, away["trainer"])

    response = client.post(f"/api/v1/courses/{away['course']}/parents", headers=headers,
                           json={"name": "Iemand", "email": home["parent_email"]})

    body = response.get_json()
    assert response.status_code == 201
    assert body["id"] != home["parent_id"] and body["name"] == "Iemand"
    assert home["personal"] not in str(body)
    original = db.session.get(Parent, home["parent_id"])
    assert (original.name, original.organisation_id) == ("Sanne", accounts.default_organisation().id)
    assert [e.course_id for e in original.enrolments] == [home["course_id"]]


def test_the_import_preview_gives_no_hint_of_another_organisations_parent(client, auth, db, home, away):
    auth.login(away["trainer"].email)
    csv = "naam;e-mail;telefoon\r\nIemand;;0612345678\r\nAnder;sanne@example.org;\r\n"

    preview = client.post(f"/courses/{away['course']}/import",
                          data={"file": (io.BytesIO(csv.encode()), "ouders.csv")}, content_type="multipart/form-data")

    course = db.session.get(Course, away["course"])
    rows = imports.check_import(course, csv.encode())
    assert preview.status_code == 200
    assert [r.status for r in rows] == ["new", "new"]
    assert "Sanne" not in preview.get_data(as_text=True)


def test_changing_contact_details_to_another_organisations_address_is_no_conflict(client, db, home, away):
    headers = _bearer(db, away["trainer"])
    created = client.post(f"/api/v1/courses/{away['course']}/parents", headers=headers,
                          json={"name": "Iemand", "email": "iemand@elders.example"}).get_json()

    response = client.patch(f"/api/v1/courses/{away['course']}/parents/{created['id']}", headers=headers,
                            json={"email": home["parent_email"]})

    assert response.status_code == 200
    assert db.session.get(Parent, home["parent_id"]).email == home["parent_email"]


def test_a_parent_of_one_organisation_cannot_be_enrolled_in_another(db, home, away):
    parent = db.session.get(Parent, home["parent_id"])
    course = db.session.get(Course, away["course"])

    with pytest.raises(courses.CourseError):
        courses.enrol(course, parent)


def test_a_course_cannot_get_a_trainer_of_another_organisation(db, home, away):
    trainer = db.session.get(User, home["user_id"])

    with pytest.raises(courses.CourseError):
        courses.create_course(title="Gemengd", trainers=[away["trainer"], trainer])


def test_a_parent_link_of_one_organisation_opens_nothing_of_another(client, db, home, away, create_workshop_session):
    course = db.session.get(Course, away["course"])
    parent, _created = courses.enrol_parent(course, name="Elif", email="elif@elders.example", language="tr")
    token = links.issue_personal_link(parent).rsplit("/", 1)[1]
    db.session.commit()

    for url in (f"/p/{token}/s/{home['session_id']}", f"/p/{token}/activities/{home['activity_id']}",
                f"/p/{token}/watch/{home['recording_uuid']}"):
        assert client.get(url).status_code == 404, url
    assert client.get(f"/p/{token}").status_code == 200


def test_the_scope_filters_lookups_by_id(app, db, home, away):
    with app.test_request_context():
        tenancy.enter(away["organisation"])
        _db.session.expunge_all()  # a fresh request starts with an empty identity map

        assert _db.session.get(Course, home["course_id"]) is None
        assert _db.session.get(Parent, home["parent_id"]) is None
        assert _db.session.scalars(select(Course)).all() == [_db.session.get(Course, away["course"])]


def test_every_model_is_scoped():
    mapped = {mapper.class_ for mapper in _db.Model.registry.mappers}

    assert mapped - set(tenancy.registered()) == set()


def test_new_storage_keys_are_prefixed_per_organisation(db, home, away):
    from recordings.models import Recording, RecordingSource
    from recordings.services import original_key

    course = db.session.get(Course, away["course"])
    recording = Recording(course=course, source=RecordingSource.upload)
    db.session.add(recording)
    db.session.flush()

    assert original_key(recording, "w.mp4").startswith(f"orgs/{away['organisation']}/recordings/{recording.uuid}/")


def test_a_new_course_starts_from_its_organisations_defaults(client, db, away):
    headers = _bearer(db, away["trainer"])

    body = client.post("/api/v1/courses", headers=headers, json={"title": "Nieuw"}).get_json()

    assert (body["language"], body["retention_days"]) == ("tr", 30)


def test_mail_to_a_parent_carries_their_organisations_sender_name(app, db, away):
    from core import mail
    from courses.tasks import send_welcome

    organisation = db.session.get(accounts.Organisation, away["organisation"])
    organisation.sender_name = "VVE Elders"
    course = db.session.get(Course, away["course"])
    parent, _created = courses.enrol_parent(course, name="Elif", email="elif@elders.example", language="nl")
    db.session.commit()
    outbox = mail.get_mail_transport()

    send_welcome(parent.id, "http://ouderkamer.test/p/x", "email")

    assert str(outbox.outbox[-1]["From"]).startswith("VVE Elders <")
