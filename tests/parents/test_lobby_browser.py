"""The lobby in Chromium: a countdown before opening, then the Jitsi IFrame API with room and token.

The Jitsi host is a loopback stub that serves a fake `external_api.js`, which records the constructor call.
"""

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from sqlalchemy import select

from core.db import utcnow
from courses import links
from sessions.models import AttendanceEvent, AttendanceKind

pytestmark = pytest.mark.e2e

SECRET = "b" * 40
FAKE_API = b"""
window.JitsiMeetExternalAPI = function (domain, options) {
  window.__jitsi = {domain: domain, roomName: options.roomName, jwt: options.jwt, userInfo: options.userInfo,
                    configOverwrite: options.configOverwrite};
  window.__jitsiListeners = {};
  var frame = document.createElement("iframe");
  frame.src = location.protocol + "//" + domain + "/" + options.roomName;
  options.parentNode.appendChild(frame);
  this.addListener = function (name, fn) { window.__jitsiListeners[name] = fn; };
  this.executeCommand = function () {};
};
"""


class _FakeJitsi(BaseHTTPRequestHandler):
    def do_GET(self):
        body, kind = (FAKE_API, "text/javascript") if self.path == "/external_api.js" else (b"room", "text/html")
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def fake_jitsi(app):
    """A loopback Jitsi host; the app's Jitsi settings point at it (token mode) until teardown."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeJitsi)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    keys = ("JITSI_BASE_URL", "JITSI_APP_ID", "JITSI_APP_SECRET")
    saved = {key: app.config.get(key) for key in keys}
    base = f"http://127.0.0.1:{server.server_port}"
    app.config.update(JITSI_BASE_URL=base, JITSI_APP_ID="ouderkamer", JITSI_APP_SECRET=SECRET)
    try:
        yield base
    finally:
        app.config.update(saved)
        server.shutdown()
        server.server_close()


def test_lobby_counts_down_then_embeds_jitsi_with_room_and_token_and_posts_joined(
        db, live_server, page, fake_jitsi, create_workshop_session, create_parent, course):
    # The lobby opens 15 minutes before the start: five seconds from now.
    session = create_workshop_session(starts_at=utcnow() + timedelta(minutes=15, seconds=5))
    parent = create_parent("Sanne", course=course)
    token = links.issue_personal_link(parent, token="sanne-browser-" + "x" * 20).rsplit("/", 1)[1]
    db.session.commit()
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    page.goto(f"{live_server}/p/{token}/s/{session.id}")
    countdown = page.locator("#countdown-value").inner_text()
    embedded_early = page.evaluate("window.__jitsi === undefined")
    page.wait_for_function("() => window.__jitsi !== undefined", timeout=20000)
    jitsi = page.evaluate("window.__jitsi")
    frames = page.locator("#jitsi iframe").count()
    waiting_hidden = page.locator("#waiting").is_hidden()
    page.locator("#room-connected").wait_for(state="visible", timeout=5000)  # the room's page answered
    failed_hidden = page.locator("#room-failed").is_hidden()
    page.evaluate("window.__jitsiListeners.videoConferenceJoined({})")
    for _ in range(50):
        db.session.expire_all()
        kinds = [e.kind for e in db.session.scalars(select(AttendanceEvent).order_by(AttendanceEvent.id))]
        if AttendanceKind.joined in kinds:
            break
        time.sleep(0.1)

    claims = jwt.decode(jitsi["jwt"], SECRET, algorithms=["HS256"], audience="ouderkamer")
    assert countdown.startswith("Nog 0:0")
    assert embedded_early is True
    assert jitsi["domain"] == fake_jitsi.removeprefix("http://")
    assert jitsi["roomName"] == session.room_name
    assert (claims["room"], claims["context"]["user"]["moderator"]) == (session.room_name, "false")
    assert jitsi["userInfo"] == {"displayName": "Sanne"}
    assert jitsi["configOverwrite"]["prejoinConfig"] == {"enabled": False}
    assert (frames, waiting_hidden, failed_hidden) == (1, True, True)
    # a joined starts the visit's heartbeat row (sessions.presence)
    assert kinds == [AttendanceKind.join_click, AttendanceKind.joined, AttendanceKind.heartbeat]
    assert [e for e in errors if "Content Security Policy" in e] == []
