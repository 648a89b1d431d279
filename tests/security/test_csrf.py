"""CSRF (ASVS 4.2.2, 13.2.3): every state-changing route refuses a request without a token.

Routes are enumerated from the app's URL map, so a new POST/PUT/PATCH/DELETE route is covered the day it is
added; a new exemption fails test_exemptions_are_exactly_the_documented_ones until docs/security.md says why.
"""

from __future__ import annotations

import io
import json

import pytest
from werkzeug.routing.converters import AnyConverter, NumberConverter

from core.extensions import csrf
from recordings import services
from recordings.models import Recording

pytestmark = pytest.mark.unit

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
#: Exempt by design, each with the credential that replaces the cookie (docs/security.md, V4/V13).
EXEMPT_BLUEPRINTS = {"api": "bearer token in the Authorization header; no cookie is read"}
EXEMPT_VIEWS = {
    "recordings.jaas_webhook": "HMAC signature (X-Jaas-Signature) with a timestamp; no cookie",
    "watch.parent_progress": "the parent's secret link is in the URL (a capability); no cookie is read",
    "recordings.upload": "checks its own FlaskForm token (CSRFProtect would parse a huge body first)",
    "rsvp.record": "the parent's HMAC code is in the URL (a capability); in-app browsers drop cookies",
    "responses.respond": "the parent's secret link is in the URL; a retried upload must not hit an expired token",
    "responses.delete_response": "the parent's secret link is in the URL (a capability); no cookie is read",
}


def _dummy_url(app, rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, NumberConverter):
            values[name] = 1
        elif isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        else:
            values[name] = "x" * 43
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def _state_changing_routes(app) -> list[tuple[str, str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & STATE_CHANGING):
            routes.append((rule.endpoint, method, _dummy_url(app, rule)))
    return sorted(routes)


def _is_exempt(app, endpoint: str) -> bool:
    view = app.view_functions[endpoint]
    blueprint = endpoint.rpartition(".")[0]
    return (f"{view.__module__}.{view.__name__}" in csrf._exempt_views
            or blueprint in {bp.name for bp in csrf._exempt_blueprints})


def test_exemptions_are_exactly_the_documented_ones(app):
    exempt = {endpoint for endpoint, _method, _url in _state_changing_routes(app) if _is_exempt(app, endpoint)}

    assert {e for e in exempt if not e.startswith("api.")} == set(EXEMPT_VIEWS)
    assert {e.partition(".")[0] for e in exempt if e.startswith("api.")} == set(EXEMPT_BLUEPRINTS)


def test_every_state_changing_route_refuses_a_request_without_token(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    routes = [(e, m, u) for e, m, u in _state_changing_routes(app) if not _is_exempt(app, e)]

    answers = {(endpoint, method): client.open(url, method=method, data={"x": "1"}) for endpoint, method, url in routes}

    assert len(routes) > 30
    assert {k: r.status_code for k, r in answers.items() if r.status_code != 400} == {}
    assert all(b"The CSRF token is missing." in r.data for r in answers.values())


def test_a_wrong_token_is_refused_too(app, client, trainer, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    client.get("/login")  # the session now holds a real token

    response = client.post("/login", data={"email": trainer.email, "password": "correct horse battery",
                                           "csrf_token": "forged"})

    assert response.status_code == 400
    assert b"The CSRF token is invalid." in response.data


def test_json_posts_need_the_header_token(app, client, auth, trainer, create_workshop_session, monkeypatch):
    workshop_session = create_workshop_session()
    auth.login(trainer.email)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)

    response = client.post(f"/sessions/{workshop_session.id}/recordings/uploads",
                           json={"filename": "a.mp4", "size": 10})

    assert response.status_code == 400
    assert not (services.work_root() / "uploads").exists() or not any((services.work_root() / "uploads").iterdir())


def test_exempt_upload_form_checks_its_own_token(app, client, auth, trainer, db, create_workshop_session,
                                                 monkeypatch):
    workshop_session = create_workshop_session()
    auth.login(trainer.email)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)

    response = client.post(f"/sessions/{workshop_session.id}/recordings/upload",
                           data={"file": (io.BytesIO(b"\x00" * 1024), "opname.mp4")},
                           content_type="multipart/form-data")

    assert response.status_code == 400
    assert db.session.query(Recording).count() == 0


def test_exempt_routes_refuse_requests_without_their_own_credential(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    monkeypatch.setitem(app.config, "JAAS_WEBHOOK_SECRET", "webhook-secret-" + "w" * 20)
    api_routes = [(m, u) for e, m, u in _state_changing_routes(app) if e.startswith("api.")]

    api = {client.open(url, method=method, json={}).status_code for method, url in api_routes}
    webhook = client.post("/webhooks/jaas", data=json.dumps({"eventType": "RECORDING_UPLOADED"}),
                          content_type="application/json")
    unknown_link = "/p/" + "x" * 43
    progress = client.post(f"{unknown_link}/watch/nope/progress", json={"position": 1, "duration": 2})
    respond = client.post(f"{unknown_link}/activities/1", data={"text": "hallo"})
    delete = client.post(f"{unknown_link}/activities/1/responses/1/delete")
    rsvp = client.post("/r/1/1/" + "x" * 16 + "/yes")

    assert api == {401}
    assert webhook.status_code == 401
    assert [progress.status_code, respond.status_code, delete.status_code, rsvp.status_code] == [404] * 4
