"""No secret in the logs (ASVS 7.1.1, 7.1.2): passwords, personal/calendar/reset/API tokens, JWTs, signed URLs.

Every log record of the process is captured while real flows run with mail and SMS printed to the log; the
redaction (core.logs) is a log-record factory, so it also covers werkzeug's request lines and Flask-Limiter.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import requests

from accounts import services as accounts
from core import jitsi, logs, tokens
from core.db import utcnow
from core.storage import LocalStorage, settings_from_config
from courses.links import parent_feed_token

pytestmark = pytest.mark.unit

PASSWORD = "correct horse battery"


@pytest.fixture
def issued(monkeypatch):
    """Every random token the app makes during the test (personal links, reset links, API tokens, nonces)."""
    made = []
    real = tokens.secrets.token_urlsafe

    def spy(nbytes=None):
        value = real(nbytes)
        made.append(value)
        return value

    monkeypatch.setattr(tokens.secrets, "token_urlsafe", spy)
    return made


@pytest.fixture
def log_transports(app, monkeypatch):
    """Mail and SMS printed to the log, as on a machine without SMTP or an SMS gateway."""
    monkeypatch.setitem(app.config, "MAIL_TRANSPORT", "log")
    monkeypatch.setitem(app.config, "SMS_TRANSPORT", "log")
    for key in ("ouderkamer.mail", "ouderkamer.sms"):
        app.extensions.pop(key, None)
    yield
    for key in ("ouderkamer.mail", "ouderkamer.sms"):
        app.extensions.pop(key, None)


def _leaks(records: list[logging.LogRecord], secrets: list[str]) -> list[tuple[str, str]]:
    found = []
    for record in records:
        text = record.getMessage() + (record.exc_text or "")
        found += [(record.name, s[:8] + "…") for s in secrets if s in text]
    return found


def test_a_day_of_work_logs_no_secret(app, client, auth, db, trainer, course, caplog, issued, log_transports,
                                      rate_limits):
    caplog.set_level(logging.DEBUG)
    rate_limits(RATELIMIT_PERSONAL_LINK="2 per minute")
    auth.login(trainer.email, PASSWORD)
    client.post(f"/courses/{course.id}/parents/new", data={"name": "Sanne", "email": "sanne@example.org",
                                                            "phone": "0612345678", "language": "nl",
                                                            "contact_sms": "y"})
    client.post("/logout")
    client.post("/password/reset", data={"email": trainer.email})
    _row, api_token = accounts.create_api_token(trainer)
    db.session.commit()
    client.get(f"/api/v1/courses/{course.id}/parents", headers={"Authorization": f"Bearer {api_token}"})
    parent = course.enrolments[0].parent
    calendar = parent_feed_token(parent)
    db.session.commit()
    personal = [t for t in issued if client.get(f"/p/{t}").status_code == 200]
    for _ in range(3):  # the third is refused, and Flask-Limiter logs the breach with its key
        client.get(f"/p/{personal[0]}")
    client.get(f"/c/{calendar}.ics")

    secrets = [PASSWORD, api_token, calendar, *(t for t in issued if len(t) >= 16)]
    assert len(personal) == 1
    assert any("ouderkamer.mail" == r.name for r in caplog.records)  # the welcome and reset mails were logged
    assert any("ouderkamer.sms" == r.name for r in caplog.records)
    assert any("exceeded" in r.getMessage() for r in caplog.records)
    assert _leaks(caplog.records, secrets) == []
    assert any(f"/p/{logs.REDACTED}" in r.getMessage() for r in caplog.records)


def test_request_lines_of_the_web_server_carry_no_token(live_server, db, linked_parent, caplog):
    caplog.set_level(logging.INFO)
    _parent, token = linked_parent()

    requests.get(f"{live_server}/p/{token}", timeout=10)
    requests.get(f"{live_server}/password/reset/{token}", timeout=10)

    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert len([line for line in lines if "GET /p/" in line or "GET /password/reset/" in line]) == 2
    assert [line for line in lines if token in line] == []


def test_redaction_covers_every_secret_our_adapters_make(app, tmp_path):
    settings = jitsi.settings_from_config({"JITSI_BASE_URL": "https://meet.example.org", "JITSI_APP_ID": "ok",
                                           "JITSI_APP_SECRET": "s" * 40})
    jwt = jitsi.mint_token(settings, room="abcdefghijkl", user_id=1, name="Sanne", email=None, moderator=False,
                           opens_at=utcnow(), ends_at=utcnow() + timedelta(hours=1))
    s3 = settings_from_config({"S3_BUCKET": "media", "S3_ENDPOINT_URL": "http://127.0.0.1:9",
                               "S3_REGION": "eu-west-1", "S3_ACCESS_KEY_ID": "AKIAEXAMPLEKEY",
                               "S3_SECRET_ACCESS_KEY": "s3-secret", "S3_ADDRESSING_STYLE": "path"})
    presigned = s3.url("recordings/x/original/a.mp4", expires_in=300)
    local = LocalStorage(tmp_path, secret="local-secret").url("recordings/x/poster.jpg", expires_in=300)
    samples = {
        "room url": jitsi.room_url(settings, "abcdefghijkl", token=jwt),
        "presigned": presigned,
        "local": local,
        "bearer": "Authorization: Bearer ok_abcdefghijklmnopqrstuvwxyz012345",
        "redis": "Error connecting to redis://:hunter2-password@redis:6379/0",
        "rsvp": "GET /r/12/34/AbCdEfGhIjKlMnOp/yes HTTP/1.1",
    }
    secret_parts = {"room url": jwt, "presigned": presigned.split("X-Amz-Signature=")[1],
                    "local": local.split("sig=")[1], "bearer": "ok_abcdefghijklmnopqrstuvwxyz012345",
                    "redis": "hunter2-password", "rsvp": "AbCdEfGhIjKlMnOp"}

    redacted = {name: logs.redact(text) for name, text in samples.items()}

    assert {name for name, text in redacted.items() if secret_parts[name] in text} == set()
    assert all(logs.REDACTED in text for text in redacted.values())


def test_an_exception_message_with_a_signed_url_is_redacted(caplog):
    caplog.set_level(logging.INFO)
    url = "http://127.0.0.1:9/media/rec.mp4?X-Amz-Credential=AKIA%2Fx&X-Amz-Signature=deadbeefcafe1234"
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        logging.getLogger("recordings.tasks").exception("download failed")

    (record,) = [r for r in caplog.records if r.name == "recordings.tasks"]
    assert "deadbeefcafe1234" not in (record.exc_text or "")
    assert "deadbeefcafe1234" not in caplog.text
