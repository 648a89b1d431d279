"""Security headers on every response (ASVS 14.4): CSP, nosniff, Referrer-Policy, framing, Permissions-Policy, HSTS.

The Jitsi host and the S3 endpoint are allowed explicitly; the S3 origin is checked against URLs our storage
adapter really presigns, for path-style, virtual-hosted and AWS addressing.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from flask import url_for
from werkzeug.routing.converters import AnyConverter, NumberConverter

from accounts import services as accounts
from core.app import content_security_policy, permissions_policy
from core.config import load_config
from core.storage import settings_from_config

pytestmark = pytest.mark.unit

REQUIRED = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options",
            "Permissions-Policy")


def _directives(csp: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in csp.split(";")) if part}


def _every_get_url(app) -> list[str]:
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods:
                continue
            values = {}
            for name, converter in rule._converters.items():
                if isinstance(converter, NumberConverter):
                    values[name] = 1
                elif isinstance(converter, AnyConverter):
                    values[name] = sorted(converter.items)[0]
                else:
                    values[name] = "css/app.css" if rule.endpoint == "static" else "x" * 43
            urls.append(url_for(rule.endpoint, **values))
    return sorted(set(urls))


def _assert_headers(response) -> None:
    missing = [h for h in REQUIRED if h not in response.headers]
    assert missing == [], f"{response.request.path} ({response.status_code}) lacks {missing}"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_every_get_route_answers_with_the_security_headers(app, client):
    urls = _every_get_url(app)

    responses = [client.get(url) for url in urls]

    assert len(urls) > 40
    for response in responses:
        _assert_headers(response)
        response.close()


def test_error_static_and_refused_responses_carry_the_headers_too(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)

    responses = [client.get("/no/such/page"), client.post("/login"), client.delete("/healthz"),
                 client.get("/static/css/app.css"), client.get("/api/v1/courses")]

    assert [r.status_code for r in responses] == [404, 400, 405, 200, 401]
    for response in responses:
        _assert_headers(response)
        response.close()


def test_csp_allows_only_our_origin_and_the_jitsi_host_for_scripts_and_frames(app):
    csp = _directives(content_security_policy(app.config))

    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'", "https://meet.jit.si"]
    assert csp["frame-src"] == ["https://meet.jit.si"]
    assert csp["style-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    assert not [v for values in csp.values() for v in values if "unsafe" in v]


def test_csp_names_the_jaas_host_when_jaas_is_configured(app):
    csp = _directives(content_security_policy({**app.config, "JAAS_APP_ID": "vpaas-magic-cookie-x"}))

    assert csp["script-src"] == ["'self'", "https://8x8.vc"]
    assert csp["frame-src"] == ["https://8x8.vc"]


def _allows(sources: list[str], origin: str) -> bool:
    for source in sources:
        if source == origin:
            return True
        if "*." in source:
            scheme, _, host_pattern = source.partition("://*.")
            parts = urlsplit(origin)
            if parts.scheme == scheme and parts.hostname.endswith("." + host_pattern):
                return True
    return False


@pytest.mark.parametrize("s3", [
    {"S3_ENDPOINT_URL": "https://media.example.nl", "S3_ADDRESSING_STYLE": "path"},
    {"S3_ENDPOINT_URL": "https://s3.example.nl:9000", "S3_ADDRESSING_STYLE": "virtual"},
    {"S3_ENDPOINT_URL": None, "S3_ADDRESSING_STYLE": "virtual", "S3_REGION": "eu-central-1"},
])
def test_csp_allows_the_origin_of_real_presigned_urls(app, s3):
    config = {**app.config, "S3_BUCKET": "ouderkamer-media", "S3_REGION": "eu-west-1",
              "S3_ACCESS_KEY_ID": "AKIAEXAMPLE", "S3_SECRET_ACCESS_KEY": "secret-example", **s3}
    url = settings_from_config(config).url("recordings/x/hls/master.m3u8", expires_in=300)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))

    csp = _directives(content_security_policy(config))

    assert _allows(csp["media-src"], origin), (origin, csp["media-src"])
    assert _allows(csp["connect-src"], origin)
    assert _allows(csp["img-src"], origin)
    assert not _allows(csp["script-src"], origin)


def test_permissions_policy_allows_camera_and_microphone_for_us_and_the_jitsi_host_only(app, client):
    policy = client.get("/").headers["Permissions-Policy"]
    features = dict(re.findall(r"([a-z-]+)=(\([^)]*\))", policy))

    assert features["camera"] == '(self "https://meet.jit.si")'
    assert features["microphone"] == '(self "https://meet.jit.si")'
    assert features["geolocation"] == "()"
    assert permissions_policy({"JITSI_BASE_URL": "https://meet.example.org/"}).startswith(
        'camera=(self "https://meet.example.org")')


@pytest.mark.parametrize(("env", "hsts"), [
    ({"OUDERKAMER_ENV": "production", "PUBLIC_BASE_URL": "https://ouders.example.nl"}, True),
    ({"OUDERKAMER_ENV": "production", "PUBLIC_BASE_URL": "http://127.0.0.1:8000"}, False),
    ({"OUDERKAMER_ENV": "development", "PUBLIC_BASE_URL": "https://ouders.example.nl"}, False),
])
def test_hsts_is_on_in_production_behind_https(tmp_path, env, hsts):
    config = load_config(env={"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "s" * 40, **env})

    assert config["HSTS"] is hsts


def test_hsts_header_is_sent_when_on_and_only_then(app, client, monkeypatch):
    off = client.get("/")
    monkeypatch.setitem(app.config, "HSTS", True)

    on = client.get("/")

    assert "Strict-Transport-Security" not in off.headers
    assert on.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_staff_pages_and_api_answers_are_not_cached(client, auth, db, trainer, course):
    anonymous = client.get("/login")
    auth.login(trainer.email)
    page = client.get(f"/courses/{course.id}")
    static = client.get("/static/css/app.css")
    static.close()
    _row, token = accounts.create_api_token(trainer)
    db.session.commit()
    api = client.get("/api/v1/courses", headers={"Authorization": f"Bearer {token}"})

    assert "Cache-Control" not in anonymous.headers
    assert page.headers["Cache-Control"] == "no-store"
    assert api.headers["Cache-Control"] == "no-store"
    assert "no-store" not in static.headers.get("Cache-Control", "")


def test_no_cross_origin_reads_are_allowed(client, db, trainer):
    _row, token = accounts.create_api_token(trainer)
    db.session.commit()

    response = client.get("/api/v1/courses", headers={"Authorization": f"Bearer {token}",
                                                      "Origin": "https://evil.example"})
    preflight = client.options("/api/v1/courses", headers={"Origin": "https://evil.example",
                                                           "Access-Control-Request-Method": "GET"})

    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_api_answers_are_downloads_not_pages(client, db, trainer):
    _row, token = accounts.create_api_token(trainer)
    db.session.commit()

    answers = [client.get("/api/v1/courses", headers={"Authorization": f"Bearer {token}"}),
               client.get("/api/v1/courses"), client.get("/api/v1/openapi.json")]

    assert {r.headers["Content-Disposition"] for r in answers} == {'attachment; filename="api.json"'}
