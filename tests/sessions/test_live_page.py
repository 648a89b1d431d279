"""The trainer's live page: parents' help requests stored, mailed, polled and handled (tenancy included), and in
Chromium the message with a new-tab link and Retry when the Jitsi room does not load."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from accounts import services as accounts
from core.db import utcnow
from core.mail import get_mail_transport
from sessions.models import HelpRequest
from tests.fixtures.factories import PASSWORD
from tests.fixtures.sql import statements


@pytest.fixture
def open_session(create_workshop_session):
    """A recorded session that starts in ten minutes: its lobby is open."""
    start = (utcnow() + timedelta(minutes=10)).replace(second=0, microsecond=0)
    return create_workshop_session(starts_at=start, title="Voorlezen", recorded=True)


@pytest.fixture
def parent_help(db, course, create_parent, create_link):
    """Sanne (with a personal link) and Bram; returns a function that posts "Ik kom er niet in" for a parent."""
    parents = {"Sanne": create_parent("Sanne", course=course, email="sanne@example.org"),
               "Bram": create_parent("Bram", course=course, email="bram@example.org")}
    tokens = {name: create_link(parent)[0] for name, parent in parents.items()}

    def ask(client, session, name: str = "Sanne"):
        return client.post(f"/p/{tokens[name]}/s/{session.id}/help")

    return ask


def _help_mails(trainer) -> list:
    return [m for m in get_mail_transport().outbox if m["To"] == trainer.email and "komt niet binnen" in m["Subject"]]


def test_help_request_is_stored_mailed_once_shown_and_dismissed_when_handled(db, client, auth, trainer, open_session,
                                                                             parent_help):
    parent_help(client, open_session)
    parent_help(client, open_session)  # pressed again while the first is open: no second row, no second mail
    auth.login(trainer.email)
    listed = client.get(f"/sessions/{open_session.id}/help.json").get_json()["requests"]

    handled = client.post(f"/sessions/{open_session.id}/help/handled", data={"request_id": listed[0]["id"]},
                          headers={"Accept": "application/json"})
    after = client.get(f"/sessions/{open_session.id}/help.json").get_json()["requests"]
    parent_help(client, open_session)  # still stuck after the trainer's call: a new request and a new mail

    rows = db.session.execute(select(HelpRequest.parent_id, HelpRequest.handled_at).order_by(HelpRequest.id)).all()
    assert [(r["name"], r["email"]) for r in listed] == [("Sanne", "sanne@example.org")]
    assert handled.status_code == 204
    assert after == []
    assert [handled_at is not None for _parent, handled_at in rows] == [True, False]
    assert len(_help_mails(trainer)) == 2
    assert f"http://ouderkamer.test/sessions/{open_session.id}/join" in \
        _help_mails(trainer)[0].get_body(("plain",)).get_content()


def test_live_page_polls_help_and_keeps_recording_and_retry_reachable(client, auth, trainer, open_session, app):
    auth.login(trainer.email)

    html = client.get(f"/sessions/{open_session.id}/join").get_data(as_text=True)

    assert f'data-url="/sessions/{open_session.id}/help.json"' in html
    assert f'data-timeout="{app.config["JITSI_LOAD_TIMEOUT_S"]}"' in html
    assert 'id="room-failed"' in html and 'id="room-retry"' in html and 'id="room-new-tab"' in html
    assert '<button type="button" class="button" id="start-recording" disabled>' in html  # shown, not hidden
    assert "js/trainer-room.js" in html


def test_help_poll_is_one_read_however_many_requests(db, client, auth, trainer, open_session, parent_help):
    auth.login(trainer.email)
    parent_help(client, open_session)
    with statements(db) as one:
        assert client.get(f"/sessions/{open_session.id}/help.json").status_code == 200
    parent_help(client, open_session, "Bram")
    with statements(db) as two:
        assert len(client.get(f"/sessions/{open_session.id}/help.json").get_json()["requests"]) == 2

    assert len(one) == len(two) == 2  # the logged-in user, then the session's open requests with the access check
    assert "help_requests" in one[1] and "course_trainers" in one[1]


def test_help_requests_of_another_organisation_or_course_are_not_found(db, client, auth, trainer, open_session,
                                                                       parent_help, create_user):
    parent_help(client, open_session)
    request_id = db.session.scalar(select(HelpRequest.id))
    elsewhere = accounts.create_organisation("Andere aanbieder")
    accounts.create_user("baas@elders.example", name="Baas Elders", password=PASSWORD, coordinator=True,
                         organisation=elsewhere)
    db.session.commit()
    colleague = create_user("collega@example.org", name="Collega")
    answers = {}

    for email in ("baas@elders.example", colleague.email):
        auth.login(email)
        answers[email] = (client.get(f"/sessions/{open_session.id}/help.json").status_code,
                          client.post(f"/sessions/{open_session.id}/help/handled",
                                      data={"request_id": request_id}).status_code)
        auth.logout()

    assert answers == {"baas@elders.example": (404, 404), colleague.email: (404, 403)}
    assert db.session.scalar(select(HelpRequest.handled_at)) is None


#: A stand-in for Jitsi's external_api.js: the room "joins" at once and records the commands it gets.
FAKE_API = b"""window.JitsiMeetExternalAPI = function (domain, options) {
  var handlers = {};
  window.jitsiCommands = [];
  this.addListener = function (name, fn) { (handlers[name] = handlers[name] || []).push(fn); };
  this.executeCommand = function (name) { window.jitsiCommands.push(name); };
  this.dispose = function () {};
  setTimeout(function () { (handlers.videoConferenceJoined || []).forEach(function (fn) { fn({}); }); }, 50);
};"""


@pytest.fixture
def answering_jitsi():
    """A loopback host that serves FAKE_API as /external_api.js; yields its base URL."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript")
            self.send_header("Content-Length", str(len(FAKE_API)))
            self.end_headers()
            self.wfile.write(FAKE_API)

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections and never answers (a Jitsi host behind a dropping firewall)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


@pytest.mark.e2e
def test_jitsi_unreachable_shows_the_message_new_tab_link_and_retry_and_help_arrives_live(
        app, db, browser, live_server, trainer, open_session, parent_help, silent_port, answering_jitsi, monkeypatch):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nl-NL")
    page = context.new_page()
    page.goto(live_server + "/login")
    page.get_by_label("E-mailadres").fill(trainer.email)
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    message = page.get_by_role("heading", name="De videokamer laadt niet")

    # A host that does not resolve: the script fails to load, the message comes within the 20-second limit.
    monkeypatch.setitem(app.config, "JITSI_BASE_URL", "https://jitsi.invalid")
    page.goto(f"{live_server}/sessions/{open_session.id}/join", wait_until="domcontentloaded")
    message.wait_for(timeout=20_000)
    new_tab = page.get_by_role("link", name="Open de kamer in een nieuw tabblad").get_attribute("href")
    recording_visible = page.get_by_role("button", name="Opname starten").is_visible()

    # A room that answers: no message once the time is up, and the recording buttons work.
    monkeypatch.setitem(app.config, "JITSI_BASE_URL", answering_jitsi)
    monkeypatch.setitem(app.config, "JITSI_LOAD_TIMEOUT_S", 2)
    page.goto(f"{live_server}/sessions/{open_session.id}/join", wait_until="domcontentloaded")
    page.get_by_role("button", name="Opname starten").click()
    page.wait_for_timeout(2_500)  # past the (short) limit: an answered room shows no message
    answered_message = message.is_visible()
    commands = page.evaluate("window.jitsiCommands")

    # A host that never answers: the page stops waiting after JITSI_LOAD_TIMEOUT_S (short here), and Retry waits again.
    monkeypatch.setitem(app.config, "JITSI_BASE_URL", f"http://127.0.0.1:{silent_port}")
    monkeypatch.setitem(app.config, "JITSI_LOAD_TIMEOUT_S", 4)
    page.goto(f"{live_server}/sessions/{open_session.id}/join", wait_until="domcontentloaded")
    loading_first = page.get_by_text("De videokamer wordt geladen").is_visible()
    message.wait_for(timeout=10_000)
    page.get_by_role("button", name="Opnieuw proberen").click()
    loading_after_retry = page.get_by_text("De videokamer wordt geladen").is_visible()
    message.wait_for(timeout=10_000)

    # A parent's "Ik kom er niet in" appears on the open page by polling, and "Afgehandeld" dismisses it.
    parent_help(app.test_client(), open_session)
    page.get_by_role("listitem").filter(has_text="Sanne").wait_for(timeout=10_000)
    page.get_by_role("button", name="Afgehandeld Sanne").click()
    page.get_by_text("Niemand heeft om hulp gevraagd.").wait_for(timeout=10_000)
    context.close()

    assert new_tab.startswith(f"https://jitsi.invalid/{open_session.room_name}")
    assert recording_visible
    assert (answered_message, commands) == (False, ["startRecording"])
    assert loading_first and loading_after_retry
    assert db.session.scalar(select(HelpRequest.handled_at)) is not None
