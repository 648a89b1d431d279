"""The JaaS webhook under hostile deliveries: each gets a 401 (or a 400 for a signed non-JSON body) and changes
nothing: no recording, no download started, nothing queued.

tests/recordings/test_webhooks.py already covers a bad signature, a replayed (old) timestamp, a missing secret
and a duplicate event; tests/core/test_jitsi.py the header parser. These add random headers and bodies, a
timestamp from the future, a body changed after signing, and signed bodies that are not an event.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import queue
from core.jitsi import jaas_signature
from recordings.models import Recording

SECRET = "whsec-fuzz-secret"


@pytest.fixture
def jaas(app, monkeypatch):
    monkeypatch.setitem(app.config, "JAAS_WEBHOOK_SECRET", SECRET)


@pytest.fixture
def downloads(monkeypatch):
    """Every download the webhook would start (none should)."""
    started = []
    monkeypatch.setitem(queue.TASKS, "recordings.download", started.append)
    return started


@pytest.fixture
def workshop_session(create_workshop_session):
    return create_workshop_session(title="Samen spelen")


def _event(workshop_session) -> dict:
    return {"idempotencyKey": "7f1c2a9e-0000-4000-8000-00000000beef", "eventType": "RECORDING_UPLOADED",
            "timestamp": int(time.time() * 1000), "fqn": f"vpaas-magic-cookie-abc/{workshop_session.room_name}",
            "data": {"preAuthenticatedLink": "https://jaas.example/rec.mp4"}}


def _post(client, body: bytes, header: str | None):
    headers = {"Content-Type": "application/json"} | ({"X-Jaas-Signature": header} if header is not None else {})
    return client.post("/webhooks/jaas", data=body, headers=headers)


def _signed(body: bytes, at: float | None = None, secret: str = SECRET) -> str:
    t = int(time.time() if at is None else at)
    return f"t={t},v1={jaas_signature(secret, t, body)}"


def _nothing_changed(db, downloads) -> None:
    db.session.expire_all()
    assert db.session.query(Recording).count() == 0
    assert downloads == []


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(header=st.one_of(st.none(), st.text(st.characters(codec="latin-1", exclude_characters="\r\n\x00"),
                                             max_size=300)),
       body=st.one_of(st.binary(max_size=2000), st.just(b"")))
def test_random_signature_headers_and_bodies_get_401_and_change_nothing(client, db, jaas, downloads,
                                                                         workshop_session, header, body):
    response = _post(client, body, header)

    assert (response.status_code, response.get_json()) == (401, {"error": "invalid signature"})
    _nothing_changed(db, downloads)


@pytest.mark.parametrize("case", ["future", "old", "changed body", "other secret", "signature of another body",
                                  "two timestamps", "huge body"])
def test_hostile_delivery_of_a_real_event_gets_401_and_changes_nothing(client, db, jaas, downloads,
                                                                       workshop_session, case):
    body = json.dumps(_event(workshop_session)).encode()
    header = {
        "future": _signed(body, at=time.time() + 3600),
        "old": _signed(body, at=time.time() - 3600),  # a replay of a captured delivery
        "changed body": _signed(body),
        "other secret": _signed(body, secret="whsec-someone-else"),
        "signature of another body": _signed(b"{}"),
        "two timestamps": _signed(body).replace("t=", f"t={int(time.time())},t=", 1),
        "huge body": _signed(b"x"),
    }[case]
    if case == "changed body":
        body = body.replace(b"rec.mp4", b"evil.mp4")
    if case == "huge body":
        body = b" " * (8 * 1024 * 1024) + body

    response = _post(client, body, header)

    assert response.status_code == 401
    _nothing_changed(db, downloads)


@pytest.mark.parametrize(("body", "status", "outcome"), [
    (b"not json", 400, None),
    (b"[1, 2, 3]", 200, "ignored"),
    (b'"RECORDING_UPLOADED"', 200, "ignored"),
    (b'{"eventType": "RECORDING_UPLOADED"}', 200, "ignored"),
    (b'{"eventType": "RECORDING_UPLOADED", "idempotencyKey": "k", "data": "x"}', 200, "ignored"),
    (b'{"eventType": "RECORDING_UPLOADED", "idempotencyKey": "k", "data": {"preAuthenticatedLink": "file:///etc/pa'
     b'sswd"}, "fqn": "x"}', 200, "ignored"),
])
def test_signed_body_that_is_no_usable_event_changes_nothing(client, db, jaas, downloads, body, status, outcome):
    response = _post(client, body, _signed(body))

    assert response.status_code == status
    assert outcome is None or response.get_json() == {"status": outcome}
    _nothing_changed(db, downloads)


def test_webhook_refuses_other_methods(client, db, jaas):
    assert client.get("/webhooks/jaas").status_code == 405
