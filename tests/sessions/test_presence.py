"""Attendance from presence: the lobby page's heartbeats, JaaS participant webhooks, and figures that name their
source; a click on the join link is never attendance."""

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select, update

from core.db import utcnow
from core.jitsi import jaas_signature
from courses import links
from sessions import presence, services
from sessions.models import AttendanceEvent, AttendanceKind, AttendanceSource
from tests.fixtures.sql import count_statements

SECRET = "whsec-presence-secret"


@pytest.fixture
def jaas(app, monkeypatch):
    """JaaS mode with a webhook secret, for one test."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    for name, value in {"JAAS_APP_ID": "vpaas-magic-cookie-abc", "JAAS_KEY_ID": "key1", "JAAS_PRIVATE_KEY": pem,
                        "JAAS_WEBHOOK_SECRET": SECRET, "JITSI_APP_ID": None, "JITSI_APP_SECRET": None}.items():
        monkeypatch.setitem(app.config, name, value)


@pytest.fixture
def live_session(create_workshop_session):
    """A session that started 50 minutes ago and ends in 10 (its lobby is open)."""
    start = (utcnow() - timedelta(minutes=50)).replace(microsecond=0)
    return create_workshop_session(starts_at=start, title="Voorlezen", allow_past=True)


@pytest.fixture
def sanne(db, course, create_parent):
    """Sanne, enrolled in the course, with a personal link; returns (parent, URL builder)."""
    parent = create_parent("Sanne", course=course)
    url = links.issue_personal_link(parent, token="sanne-presence-" + "x" * 20)
    db.session.commit()
    token = url.rsplit("/", 1)[1]
    return parent, lambda session, tail="": f"/p/{token}/s/{session.id}{tail}"


def _move(db, kind, minutes_ago, *, source=AttendanceSource.page):
    db.session.execute(update(AttendanceEvent).where(AttendanceEvent.kind == kind, AttendanceEvent.source == source)
                       .values(at=utcnow() - timedelta(minutes=minutes_ago)))
    db.session.commit()


def _session_page(client, auth, trainer, session) -> str:
    auth.login(trainer.email)
    return client.get(f"/sessions/{session.id}").get_data(as_text=True)


def _deliver(client, payload, *, secret=SECRET):
    body = json.dumps(payload).encode()
    t = int(time.time())
    return client.post("/webhooks/jaas", data=body, headers={
        "Content-Type": "application/json", "X-Jaas-Signature": f"t={t},v1={jaas_signature(secret, t, body)}"})


def _participant(session, kind, user_id, minutes_ago, key):
    return {"idempotencyKey": key, "customerId": "c1", "appId": "vpaas-magic-cookie-abc", "eventType": kind,
            "sessionId": "s1", "timestamp": int((utcnow() - timedelta(minutes=minutes_ago)).timestamp() * 1000),
            "fqn": f"vpaas-magic-cookie-abc/{session.room_name.upper()}",
            "data": {"id": user_id, "name": "x", "moderator": "false", "participantJid": "p@x/1"}}


def test_heartbeats_bound_the_minutes_of_an_interval_without_a_left(db, client, auth, trainer, live_session, sanne):
    parent, url = sanne

    joined = client.post(url(live_session, "/events"), json={"event": "joined", "user_id": f"parent-{parent.id}"})
    beats = [client.post(url(live_session, "/presence")) for _ in range(3)]
    _move(db, AttendanceKind.joined, 50)
    _move(db, AttendanceKind.heartbeat, 30)  # the last heartbeat: then the tab died without a left
    kinds = db.session.scalars(select(AttendanceEvent.kind).order_by(AttendanceEvent.id)).all()
    (row,) = services.attendance(live_session)
    html = _session_page(client, auth, trainer, live_session)

    assert (joined.status_code, [b.status_code for b in beats], beats[0].get_json()) == (204, [200] * 3, {"next_s": 60})
    assert kinds == [AttendanceKind.joined, AttendanceKind.heartbeat]  # one heartbeat row per visit, moved on
    assert (row.attended, row.minutes, row.sources) == (True, 21, {AttendanceSource.page})  # 20 + one period
    assert "<tr><td>Sanne</td><td>ja</td><td>21</td></tr>" in html
    assert "Bron: uit de videokamer." in html


def test_a_joined_without_heartbeats_or_left_counts_one_interval_at_most(db, client, live_session, sanne):
    parent, url = sanne
    client.post(url(live_session, "/events"), json={"event": "joined", "user_id": f"parent-{parent.id}"})
    _move(db, AttendanceKind.joined, 45)
    _move(db, AttendanceKind.heartbeat, 45)  # no heartbeat ever came after the joined

    (row,) = services.attendance(live_session)
    course = services.course_attendance([live_session], [parent.id])

    assert (row.attended, row.minutes) == (True, 1)
    assert course == {parent.id: (1, 1)}


def test_a_visit_that_ended_unannounced_ends_at_its_last_heartbeat_when_the_parent_joins_again():
    start = utcnow() - timedelta(hours=1)

    def at(minute, kind, source=AttendanceSource.page):
        return SimpleNamespace(kind=kind, at=start + timedelta(minutes=minute), source=source)

    J, H, L = AttendanceKind.joined, AttendanceKind.heartbeat, AttendanceKind.left
    events = [at(0, J), at(0, H), at(10, H), at(30, J), at(30, H), at(50, H), at(55, L)]

    assert presence.minutes_of(presence.intervals(events, start + timedelta(minutes=60))) == 11 + 25


def test_jaas_participant_joined_and_left_record_attendance_once_with_the_page_events(
        db, client, auth, trainer, jaas, live_session, sanne):
    parent, url = sanne
    client.post(url(live_session, "/events"), json={"event": "joined", "user_id": f"parent-{parent.id}"})
    client.post(url(live_session, "/events"), json={"event": "left", "user_id": f"parent-{parent.id}"})
    _move(db, AttendanceKind.joined, 40)
    _move(db, AttendanceKind.left, 20)
    me = f"parent-{parent.id}"

    joined = _participant(live_session, "PARTICIPANT_JOINED", me, 30, "k1")
    answers = [_deliver(client, joined).get_json(), _deliver(client, joined).get_json(),  # delivered twice
               _deliver(client, _participant(live_session, "PARTICIPANT_LEFT", me, 10, "k2")).get_json(),
               _deliver(client, _participant(live_session, "PARTICIPANT_JOINED", "trainer-1", 30, "k3")).get_json()]
    jaas = db.session.scalars(select(AttendanceEvent.kind).where(AttendanceEvent.source == AttendanceSource.jaas)
                              .order_by(AttendanceEvent.at)).all()
    (row,) = services.attendance(live_session)
    html = _session_page(client, auth, trainer, live_session)

    assert [a["status"] for a in answers] == ["recorded", "duplicate", "recorded", "ignored"]
    assert jaas == [AttendanceKind.joined, AttendanceKind.left]
    # page 40..20 minutes ago and JaaS 30..10 minutes ago: one visit of 30 minutes, not 40
    assert (row.attended, row.minutes, row.sources) == (True, 30, {AttendanceSource.page, AttendanceSource.jaas})
    assert "<tr><td>Sanne</td><td>ja</td><td>30</td></tr>" in html
    assert "Bron: uit de videokamer, van JaaS." in html


def test_jaas_participant_event_with_a_bad_signature_records_nothing(db, client, jaas, live_session, sanne):
    parent, _url = sanne

    response = _deliver(client, _participant(live_session, "PARTICIPANT_JOINED", f"parent-{parent.id}", 5, "k9"),
                        secret="not-the-secret")

    assert response.status_code == 401
    assert db.session.scalars(select(AttendanceEvent)).all() == []
    assert services.attendance(live_session)[0].attended is False


def test_a_click_without_joined_events_gives_no_attendance(db, client, auth, trainer, course, live_session, sanne):
    parent, url = sanne

    lobby = client.get(url(live_session)).get_data(as_text=True)  # opens the room: the join click is logged
    beat = client.post(url(live_session, "/presence"))  # a heartbeat before any joined writes nothing
    kinds = db.session.scalars(select(AttendanceEvent.kind)).all()
    (row,) = services.attendance(live_session)
    course_figures = services.course_attendance([live_session], [parent.id])
    html = _session_page(client, auth, trainer, live_session)
    course_page = client.get(f"/courses/{course.id}").get_data(as_text=True)

    assert "js/presence" in lobby
    assert f'data-url="{url(live_session, "/presence")}"' in lobby
    assert (beat.status_code, kinds) == (409, [AttendanceKind.join_click])
    assert (row.attended, row.minutes, course_figures) == (False, 0, {parent.id: (0, 0)})
    assert "<tr><td>Sanne</td><td>nee</td><td>0</td></tr>" in html
    assert "zonder gebeurtenis uit de kamer telt niemand als aanwezig" in html
    assert "Aanwezig: alleen wie de videokamer zelf zag binnenkomen (uit de videokamer, of van JaaS)" in course_page


def test_heartbeat_costs_the_same_statements_however_long_the_visit(db, client, live_session, sanne):
    parent, url = sanne
    client.post(url(live_session, "/events"), json={"event": "joined", "user_id": f"parent-{parent.id}"})

    first = count_statements(db, lambda: client.post(url(live_session, "/presence")))
    for _ in range(20):
        client.post(url(live_session, "/presence"))
    client.post(url(live_session, "/events"), json={"event": "left", "user_id": f"parent-{parent.id}"})
    client.post(url(live_session, "/events"), json={"event": "joined", "user_id": f"parent-{parent.id}"})
    later = count_statements(db, lambda: client.post(url(live_session, "/presence")))

    assert first == later == 2  # the parent's link (one indexed read) and one UPDATE of the heartbeat row


FAKE_API = b"""
window.JitsiMeetExternalAPI = function (domain, options) {
  var listeners = window.__jitsiListeners = {};
  window.__jitsi = true;
  options.parentNode.appendChild(document.createElement("iframe"));
  this.addListener = function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); };
  this.executeCommand = function () {};
};
window.__fire = function (name) { (window.__jitsiListeners[name] || []).forEach(function (fn) { fn({}); }); };
"""


class _FakeJitsi(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        body, kind = (FAKE_API, "text/javascript") if self.path == "/external_api.js" else (b"room", "text/html")
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        pass


@pytest.fixture
def fake_jitsi(app, monkeypatch):
    """A loopback Jitsi host serving an IFrame API whose listeners the test fires (public mode)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeJitsi)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setitem(app.config, "JITSI_BASE_URL", f"http://127.0.0.1:{server.server_port}")
    yield
    server.shutdown()
    server.server_close()


def _events(db, until):
    for _ in range(100):  # the page's posts arrive on their own; wait for them, at most ten seconds
        db.session.expire_all()
        rows = db.session.execute(select(AttendanceEvent.kind, AttendanceEvent.at).order_by(AttendanceEvent.id)).all()
        if until(rows):
            return rows
        time.sleep(0.1)
    return rows


@pytest.mark.e2e
def test_lobby_page_posts_joined_and_on_pagehide_left_and_a_last_heartbeat(
        db, live_server, page, fake_jitsi, live_session, sanne):
    _parent, url = sanne

    page.goto(live_server + url(live_session))
    page.wait_for_function("() => window.__jitsi === true", timeout=20000)
    page.evaluate("window.__fire('videoConferenceJoined')")
    joined = _events(db, lambda rows: AttendanceKind.heartbeat in [kind for kind, _at in rows])
    page.goto("about:blank")  # pagehide: lobby.js sends `left`, presence.js a last heartbeat, both by sendBeacon
    final = _events(db, lambda rows: AttendanceKind.left in [kind for kind, _at in rows]
                    and rows[2].at > joined[2].at)

    assert [kind for kind, _at in joined] == [AttendanceKind.join_click, AttendanceKind.joined,
                                              AttendanceKind.heartbeat]
    assert [kind for kind, _at in final] == [AttendanceKind.join_click, AttendanceKind.joined,
                                             AttendanceKind.heartbeat, AttendanceKind.left]
    assert final[2].at > joined[2].at  # the pagehide heartbeat moved the visit's heartbeat row on
