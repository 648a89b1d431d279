"""The JSON API skeleton: bearer auth, one error shape, an OpenAPI 3.1 document in step with the routes."""

import re

from openapi_spec_validator import validate

from accounts import services


def _bearer(db, user) -> dict:
    _row, token = services.create_api_token(user)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_openapi_document_is_valid_openapi_3_1(client, db):
    document = client.get("/api/v1/openapi.json").get_json()

    validate(document)
    assert document["openapi"] == "3.1.0"


def test_openapi_document_lists_exactly_the_registered_api_routes(app, client, db):
    document = client.get("/api/v1/openapi.json").get_json()

    registered = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).removeprefix("/api/v1").lstrip("/")
            registered |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(p.removeprefix("/api/v1") or "/", m) for p, ops in document["paths"].items() for m in ops}
    assert documented == registered


def test_me_returns_the_token_owner(client, db, trainer):
    response = client.get("/api/v1/me", headers=_bearer(db, trainer))

    assert response.status_code == 200
    assert response.get_json() == {"id": trainer.id, "email": "trainer@example.org", "name": "Test Trainer",
                                   "role": "trainer"}


def test_missing_token_gets_401_in_the_error_shape(client, db):
    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="ouderkamer"'
    assert response.get_json() == {"error": {"code": "unauthorized", "field": None,
                                             "message": "Send an API token as 'Authorization: Bearer <token>'."}}


def test_unknown_token_gets_401(client, db):
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer ok_not-a-real-token"})

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_unknown_api_path_gets_404_in_the_error_shape(client, db):
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert set(response.get_json()["error"]) == {"code", "message", "field"}
    assert response.get_json()["error"]["code"] == "not_found"


def test_courses_lists_only_the_trainers_own_courses(client, db, trainer, create_user, create_course):
    other = create_user("other@example.org", name="Other")
    create_course("Mijn cursus")
    create_course("Andere cursus", trainers=[other])

    response = client.get("/api/v1/courses", headers=_bearer(db, trainer))

    assert [c["title"] for c in response.get_json()["courses"]] == ["Mijn cursus"]


def test_a_sort_key_without_a_python_type_takes_plain_cursor_values():
    from sqlalchemy import Integer, literal_column

    from core.api import _python_type

    assert _python_type(literal_column("x")) is None  # NullType: no python_type; the cursor checks str/int then
    assert _python_type(literal_column("n", Integer)) is int
