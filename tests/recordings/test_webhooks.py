"""The JaaS webhook: signature and timestamp checks, duplicates, and the download of the recording link."""

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.jitsi import jaas_signature
from core.storage import get_storage
from recordings import services, tasks
from recordings.models import Recording, RecordingSource, RecordingState

SECRET = "whsec-test-secret"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 400
EXPIRED_MESSAGE = ("De downloadlink van JaaS is verlopen (JaaS bewaart opnames 24 uur). "
                   "Download de opname zelf en upload hem hier.")


class LinkServer(ThreadingHTTPServer):
    """A loopback stand-in for JaaS's pre-authenticated links: /ok.mp4 serves VIDEO, /expired.mp4 says 403."""

    hits: list[str]


class LinkHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.server.hits.append(self.path)
        if self.path == "/ok.mp4":
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(VIDEO)))
            self.end_headers()
            self.wfile.write(VIDEO)
        else:
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def link_server():
    server = LinkServer(("127.0.0.1", 0), LinkHandler)
    server.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def loopback_links(app, monkeypatch):
    """These tests download from a loopback http server: allow it explicitly (test_jaas_download.py covers the guard)."""
    monkeypatch.setitem(app.config, "JAAS_DOWNLOAD_HOSTS", "127.0.0.1")
    monkeypatch.setitem(app.config, "JAAS_DOWNLOAD_ALLOW_PRIVATE", True)


@pytest.fixture
def jaas(app, monkeypatch):
    monkeypatch.setitem(app.config, "JAAS_WEBHOOK_SECRET", SECRET)


@pytest.fixture
def workshop_session(create_workshop_session):
    return create_workshop_session(title="Samen spelen")


def event(workshop_session, link, *, key="7f1c2a9e-0000-4000-8000-000000000001", kind="RECORDING_UPLOADED"):
    return {"idempotencyKey": key, "customerId": "c1", "appId": "vpaas-magic-cookie-abc", "eventType": kind,
            "sessionId": "s1", "timestamp": int(time.time() * 1000),
            "fqn": f"vpaas-magic-cookie-abc/{workshop_session.room_name}",
            "data": {"preAuthenticatedLink": link, "durationSec": 60, "participants": []}}


def deliver(client, payload, *, secret=SECRET, at=None):
    body = json.dumps(payload).encode()
    t = int(time.time() if at is None else at)
    header = f"t={t},v1={jaas_signature(secret, t, body)}"
    return client.post("/webhooks/jaas", data=body, headers={"Content-Type": "application/json",
                                                             "X-Jaas-Signature": header})


def url(server, path):
    return f"http://127.0.0.1:{server.server_port}{path}"


def recordings(db) -> list[Recording]:
    db.session.expire_all()
    return db.session.query(Recording).all()


def test_webhook_recording_uploaded_downloads_into_received(client, db, jaas, workshop_session, link_server, probes):
    payload = event(workshop_session, url(link_server, "/ok.mp4"))

    response = deliver(client, payload)

    (recording,) = recordings(db)
    digest = hashlib.sha256(VIDEO).hexdigest()
    assert (response.status_code, response.get_json()) == (200, {"status": "accepted"})
    assert (recording.state, recording.source, recording.source_ref, recording.source_url) == (
        RecordingState.received, RecordingSource.jaas, f"jaas:{payload['idempotencyKey']}", None)
    assert (recording.session_id, recording.original_sha256, recording.original_size) == (
        workshop_session.id, digest, len(VIDEO))
    assert get_storage().verify(recording.original_key, size=len(VIDEO), sha256=digest).size == len(VIDEO)
    assert probes == [recording.id]
    assert link_server.hits == ["/ok.mp4"]


def test_webhook_duplicate_event_is_ignored(client, db, jaas, workshop_session, link_server, probes):
    payload = event(workshop_session, url(link_server, "/ok.mp4"))
    deliver(client, payload)

    again = deliver(client, payload)

    assert (again.status_code, again.get_json()) == (200, {"status": "duplicate"})
    assert len(recordings(db)) == 1
    assert link_server.hits == ["/ok.mp4"]


def test_webhook_with_bad_signature_is_refused(client, db, jaas, workshop_session, link_server):
    response = deliver(client, event(workshop_session, url(link_server, "/ok.mp4")), secret="not-the-secret")

    assert (response.status_code, response.get_json()) == (401, {"error": "invalid signature"})
    assert recordings(db) == []
    assert link_server.hits == []


def test_webhook_with_replayed_timestamp_is_refused(client, db, jaas, workshop_session, link_server):
    response = deliver(client, event(workshop_session, url(link_server, "/ok.mp4")), at=time.time() - 3600)

    assert response.status_code == 401
    assert recordings(db) == []
    assert link_server.hits == []


def test_webhook_without_secret_configured_refuses_everything(client, db, workshop_session, link_server):
    response = deliver(client, event(workshop_session, url(link_server, "/ok.mp4")))

    assert response.status_code == 401
    assert recordings(db) == []


def test_webhook_other_event_is_acknowledged_and_ignored(client, db, jaas, workshop_session, link_server):
    response = deliver(client, event(workshop_session, url(link_server, "/ok.mp4"), kind="PARTICIPANT_JOINED"))

    assert (response.status_code, response.get_json()) == (200, {"status": "ignored"})
    assert recordings(db) == []


def test_webhook_expired_link_fails_with_clear_message(client, db, jaas, workshop_session, link_server, probes):
    deliver(client, event(workshop_session, url(link_server, "/expired.mp4")))

    (recording,) = recordings(db)
    assert (recording.state, recording.failed_step, recording.error_message) == (
        RecordingState.failed, "downloading", EXPIRED_MESSAGE)
    assert recording.original_key is None
    assert probes == []


def test_download_that_keeps_failing_gives_up_with_plain_message(db, workshop_session, link_server):
    recording = services.create_recording(workshop_session, source=RecordingSource.jaas, source_ref="jaas:x",
                                          source_url="http://127.0.0.1:9/unreachable.mp4")
    db.session.commit()

    tasks.download_recording.call_local(recording.id)  # no retries left when called directly

    (recording,) = recordings(db)
    assert (recording.state, recording.failed_step, recording.error_message) == (
        RecordingState.failed, "downloading", "De opname kon niet worden gedownload van JaaS. Probeer het opnieuw.")
