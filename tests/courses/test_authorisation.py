"""The authorisation matrix for every route of the courses pages and the courses API, and CSRF on every form.

Routes are enumerated from the app's URL map, so a new route without an entry below fails
test_matrix_covers_every_courses_route.
"""

import io

import pytest
from itsdangerous import URLSafeTimedSerializer

from accounts import services as accounts
from courses import services
from tests.fixtures.factories import PASSWORD

CSV = "naam;e-mail;telefoon;taal\r\nElif;elif@example.org;;tr\r\n"


def _csv_upload(w) -> dict:
    return {"file": (io.BytesIO(CSV.encode()), "ouders.csv")}


def _payload(w) -> dict:
    signer = URLSafeTimedSerializer(w["secret"], salt="courses.import-parents")
    return {"payload": signer.dumps({"course_id": w["course"], "csv": CSV})}


COURSE_FORM = {"title": "Cursus", "description": "", "language": "nl", "timezone": "Europe/Amsterdam",
               "retention_days": "60"}
PARENT_FORM = {"name": "Elif", "email": "elif@example.org", "phone": "", "language": "tr"}

#: (endpoint, method) -> (url template, request data or a function of the world, status for owner and coordinator,
#: whether the route is scoped to one course, so that another trainer is refused)
PAGES = {
    ("courses.index", "GET"): ("/courses", None, 200, False),
    ("courses.create", "GET"): ("/courses/new", None, 200, False),
    ("courses.create", "POST"): ("/courses/new", lambda w: {**COURSE_FORM, "trainers": [str(w["owner"])]}, 302,
                                 False),
    ("dashboard.course", "GET"): ("/courses/{course}", None, 200, True),
    ("courses.edit", "GET"): ("/courses/{course}/edit", None, 200, True),
    ("courses.edit", "POST"): ("/courses/{course}/edit", lambda w: {**COURSE_FORM, "trainers": [str(w["owner"])]},
                               302, True),
    ("courses.archive", "GET"): ("/courses/{course}/archive", None, 200, True),
    ("courses.archive", "POST"): ("/courses/{course}/archive", lambda w: {"confirmed": "1"}, 302, True),
    ("courses.add_parent", "GET"): ("/courses/{course}/parents/new", None, 200, True),
    ("courses.add_parent", "POST"): ("/courses/{course}/parents/new", lambda w: PARENT_FORM, 302, True),
    ("courses.edit_parent", "GET"): ("/courses/{course}/parents/{parent}/edit", None, 200, True),
    ("courses.edit_parent", "POST"): ("/courses/{course}/parents/{parent}/edit", lambda w: PARENT_FORM, 302, True),
    ("courses.remove_parent", "GET"): ("/courses/{course}/parents/{parent}/remove", None, 200, True),
    ("courses.remove_parent", "POST"): ("/courses/{course}/parents/{parent}/remove", lambda w: {"confirmed": "1"}, 302,
                                        True),
    ("courses.move_parent", "GET"): ("/courses/{course}/parents/{parent}/move", None, 200, True),
    ("courses.move_parent", "POST"): ("/courses/{course}/parents/{parent}/move",
                                      lambda w: {"course_id": str(w["second"])}, 302, True),
    ("courses.reissue_link", "POST"): ("/courses/{course}/parents/{parent}/link", None, 302, True),
    ("courses.revoke_link", "GET"): ("/courses/{course}/parents/{parent}/link/revoke", None, 200, True),
    ("courses.revoke_link", "POST"): ("/courses/{course}/parents/{parent}/link/revoke", lambda w: {"confirmed": "1"},
                                      302, True),
    ("courses.import_parents", "GET"): ("/courses/{course}/import", None, 200, True),
    ("courses.import_parents", "POST"): ("/courses/{course}/import", _csv_upload, 200, True),
    ("courses.confirm_import", "POST"): ("/courses/{course}/import/confirm", _payload, 302, True),
    ("courses.import_template", "GET"): ("/courses/{course}/import/template.csv", None, 200, True),
}
API = {
    ("api.list_courses", "GET"): ("/api/v1/courses", None, 200, False),
    ("api.create_course", "POST"): ("/api/v1/courses", lambda w: {"title": "Cursus"}, 201, False),
    ("api.get_course", "GET"): ("/api/v1/courses/{course}", None, 200, True),
    ("api.update_course", "PATCH"): ("/api/v1/courses/{course}", lambda w: {"title": "Nieuw"}, 200, True),
    ("api.archive_course", "POST"): ("/api/v1/courses/{course}/archive", None, 200, True),
    ("api.list_parents", "GET"): ("/api/v1/courses/{course}/parents", None, 200, True),
    ("api.enrol_parent", "POST"): ("/api/v1/courses/{course}/parents", lambda w: {"name": "Elif", "phone": "0612345678"},
                                   201, True),
    ("api.update_parent", "PATCH"): ("/api/v1/courses/{course}/parents/{parent}", lambda w: {"language": "en"}, 200,
                                     True),
    ("api.reissue_link", "POST"): ("/api/v1/courses/{course}/parents/{parent}/link", None, 200, True),
    ("api.revoke_link", "DELETE"): ("/api/v1/courses/{course}/parents/{parent}/link", None, 204, True),
    ("api.remove_parent", "DELETE"): ("/api/v1/courses/{course}/parents/{parent}", None, 204, True),
}
#: "foreign": the coordinator of another organisation on the same installation.
ROLES = ["anonymous", "other", "owner", "coordinator", "foreign"]


@pytest.fixture
def world(app, db, trainer, coordinator, create_user, create_course, create_parent):
    other = create_user("other@example.org", name="Other Trainer")
    elsewhere = accounts.create_organisation("Andere aanbieder")
    foreign = accounts.create_user("foreign@example.org", name="Foreign Coordinator", password=PASSWORD,
                                   coordinator=True, organisation=elsewhere)
    db.session.commit()
    course = create_course("Eigen cursus")
    second = create_course("Tweede cursus")
    parent = create_parent("Sanne", course=course)
    return {"owner": trainer.id, "other": other.id, "coordinator": coordinator.id, "foreign": foreign.id,
            "course": course.id, "second": second.id, "parent": parent.id, "secret": app.secret_key,
            "emails": {"owner": trainer.email, "other": other.email, "coordinator": coordinator.email,
                       "foreign": foreign.email}}


def _request(client, method: str, url: str, data, *, api: bool, headers=None):
    if api:
        return client.open(url, method=method, json=data, headers=headers)
    kwargs = {"content_type": "multipart/form-data"} if data and "file" in data else {}
    return client.open(url, method=method, data=data, **kwargs)


def _expected(role: str, status: int, scoped: bool, *, api: bool, route=None):
    if role == "anonymous":
        return 401 if api else 302
    if role == "other" and scoped:
        return 404 if api else 403
    if role == "foreign" and scoped:
        return 404  # another organisation's course does not exist for them
    if role == "foreign" and route == ("courses.create", "POST"):
        return 400  # the form names a trainer of another organisation: unknown there
    return status


def test_matrix_covers_every_courses_route(app):
    routes = set()
    for rule in app.url_map.iter_rules():
        module = app.view_functions[rule.endpoint].__module__
        if rule.endpoint.startswith("courses.") or rule.endpoint == "dashboard.course" or module == "courses.api":
            routes |= {(rule.endpoint, m) for m in rule.methods - {"HEAD", "OPTIONS"}}

    assert routes == set(PAGES) | set(API)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(PAGES))
def test_page_route_authorisation(client, auth, world, route, role):
    url, data, status, scoped = PAGES[route]
    if role != "anonymous":
        auth.login(world["emails"][role])

    response = _request(client, route[1], url.format(**world), data(world) if data else None, api=False)

    assert response.status_code == _expected(role, status, scoped, api=False, route=route)
    if role == "anonymous":
        assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(API))
def test_api_route_authorisation(client, db, world, route, role):
    url, data, status, scoped = API[route]
    headers = None
    if role != "anonymous":
        user = db.session.get(accounts.User, world[role])
        _row, token = accounts.create_api_token(user)
        db.session.commit()
        headers = {"Authorization": f"Bearer {token}"}

    response = _request(client, route[1], url.format(**world), data(world) if data else None, api=True,
                        headers=headers)

    assert response.status_code == _expected(role, status, scoped, api=True)


@pytest.mark.parametrize("role", ["other", "foreign"])
def test_other_trainer_changes_nothing(client, auth, db, world, role):
    auth.login(world["emails"][role])

    for (endpoint, method), (url, data, _status, scoped) in PAGES.items():
        if scoped and method == "POST":
            _request(client, method, url.format(**world), data(world) if data else None, api=False)

    course = db.session.get(services.Course, world["course"])
    assert (course.title, course.archived_at) == ("Eigen cursus", None)
    assert [p.name for p in services.course_parents(course)] == ["Sanne"]


@pytest.mark.parametrize("route", sorted(r for r in PAGES if r[1] == "POST"))
def test_page_form_without_csrf_token_is_refused(app, client, auth, world, monkeypatch, route):
    auth.login(world["emails"]["owner"])
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    url, data, _status, _scoped = PAGES[route]

    response = _request(client, "POST", url.format(**world), data(world) if data else None, api=False)

    assert response.status_code == 400
    assert "The CSRF token is missing." in response.get_data(as_text=True)
