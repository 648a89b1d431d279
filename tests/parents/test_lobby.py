"""The parent's lobby and the trainer's join page: tokens in every Jitsi mode, consent, attendance, help."""

import json
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from core.db import utcnow
from core.mail import get_mail_transport
from courses import links
from courses.models import CourseConsent
from sessions import rooms, scheduling, services
from sessions.models import AttendanceEvent, AttendanceKind, RoomSample, SessionKind

SECRET = "s" * 40
TENANT = "vpaas-magic-cookie-0123abcd"
JITSI_KEYS = ("JITSI_BASE_URL", "JITSI_APP_ID", "JITSI_APP_SECRET", "JITSI_ROOM_API_URL", "JITSI_TOKEN_GRACE_MINUTES",
              "JAAS_APP_ID", "JAAS_KEY_ID", "JAAS_PRIVATE_KEY")
SETUP = re.compile(r'<script type="application/json" id="jitsi-setup">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jitsi(app):
    """Set Jitsi config keys for one test (the app is shared by the whole run); restored at teardown."""
    saved = {key: app.config.get(key) for key in JITSI_KEYS}

    def configure(**values):
        for key in JITSI_KEYS:
            app.config[key] = saved[key]
        app.config.update(values)

    yield configure
    app.config.update(saved)


def _token_mode(jitsi):
    jitsi(JITSI_BASE_URL="https://meet.example.org", JITSI_APP_ID="ouderkamer", JITSI_APP_SECRET=SECRET,
          JITSI_TOKEN_GRACE_MINUTES="30")


@pytest.fixture
def open_session(create_workshop_session):
    """A session that starts in ten minutes: its lobby (15 minutes) is open."""
    start = (utcnow() + timedelta(minutes=10)).replace(second=0, microsecond=0)
    return create_workshop_session(starts_at=start, title="Voorlezen")


@pytest.fixture
def parent_link(db, course, create_parent):
    """Sanne, enrolled in the course, with a personal link; returns (parent, lobby URL builder)."""
    parent = create_parent("Sanne", course=course)
    url = links.issue_personal_link(parent, token="sanne-token-" + "x" * 20)
    db.session.commit()
    token = url.rsplit("/", 1)[1]
    return parent, lambda session, tail="": f"/p/{token}/s/{session.id}{tail}"


def _setup(html: str) -> dict:
    found = SETUP.search(html)
    assert found, "no jitsi-setup in the page"
    return json.loads(found.group(1))


def test_lobby_public_mode_has_room_and_name_but_no_token(client, jitsi, open_session, parent_link):
    jitsi(JITSI_BASE_URL="https://meet.example.org")
    _parent, url = parent_link

    setup = _setup(client.get(url(open_session)).get_data(as_text=True))

    assert setup["domain"] == "meet.example.org"
    assert setup["script_url"] == "https://meet.example.org/external_api.js"
    assert setup["options"]["roomName"] == open_session.room_name
    assert setup["options"]["userInfo"] == {"displayName": "Sanne"}
    assert setup["options"]["configOverwrite"]["prejoinConfig"] == {"enabled": False}
    assert "jwt" not in setup["options"]


def test_lobby_token_mode_parent_token_has_exact_claims_without_moderator_or_recording(
        client, jitsi, open_session, parent_link):
    _token_mode(jitsi)
    parent, url = parent_link

    response = client.get(url(open_session))

    token = _setup(response.get_data(as_text=True))["options"]["jwt"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="ouderkamer")
    assert response.headers["Cache-Control"] == "no-store"
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert {k: claims[k] for k in ("iss", "aud", "sub", "room")} == {
        "iss": "ouderkamer", "aud": "ouderkamer", "sub": "meet.example.org", "room": open_session.room_name}
    assert claims["nbf"] == int(open_session.opens_at.timestamp()) - 60
    assert claims["exp"] == int(open_session.ends_at.timestamp()) + 30 * 60
    assert claims["context"]["user"] == {"id": f"parent-{parent.id}", "name": "Sanne", "email": "sanne@example.org",
                                         "moderator": "false"}
    features = claims["context"]["features"]
    assert (features["recording"], features["livestreaming"], features["moderation"]) == ("false",) * 3


def test_lobby_jaas_mode_parent_token_is_rs256_with_kid_and_tenant_room(
        client, jitsi, rsa_key, open_session, parent_link):
    pem = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    jitsi(JAAS_APP_ID=TENANT, JAAS_KEY_ID="key1", JAAS_PRIVATE_KEY=pem)
    _parent, url = parent_link

    setup = _setup(client.get(url(open_session)).get_data(as_text=True))

    token = setup["options"]["jwt"]
    claims = jwt.decode(token, rsa_key.public_key(), algorithms=["RS256"], audience="jitsi", issuer="chat")
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT", "kid": f"{TENANT}/key1"}
    assert (claims["sub"], claims["room"]) == (TENANT, open_session.room_name)
    assert setup["options"]["roomName"] == f"{TENANT}/{open_session.room_name}"
    assert setup["script_url"] == "https://8x8.vc/libs/external_api.min.js"
    assert claims["exp"] <= int(open_session.ends_at.timestamp()) + 60 * 60
    assert (claims["context"]["user"]["moderator"], claims["context"]["features"]["recording"]) == ("false", "false")


def test_trainer_join_token_mode_is_moderator_with_recording(client, auth, trainer, jitsi, open_session):
    _token_mode(jitsi)
    auth.login(trainer.email)

    setup = _setup(client.get(f"/sessions/{open_session.id}/join").get_data(as_text=True))

    claims = jwt.decode(setup["options"]["jwt"], SECRET, algorithms=["HS256"], audience="ouderkamer")
    assert claims["context"]["user"] == {"id": f"trainer-{trainer.id}", "name": trainer.name, "email": trainer.email,
                                         "moderator": "true"}
    assert claims["context"]["features"]["recording"] == "true"
    assert claims["exp"] == int(open_session.ends_at.timestamp()) + 30 * 60


def test_lobby_before_opening_shows_countdown_without_token(client, jitsi, create_workshop_session, parent_link):
    _token_mode(jitsi)
    session = create_workshop_session(starts_at=utcnow() + timedelta(hours=2))
    _parent, url = parent_link

    html = client.get(url(session)).get_data(as_text=True)
    answer = client.get(url(session, "/join.json"))

    assert 'data-state="waiting"' in html
    assert 'id="countdown"' in html
    assert "jitsi-setup" not in html and "jwt" not in html
    assert answer.status_code == 409
    assert answer.get_json()["state"] == "waiting"
    assert 6300 - 60 <= answer.get_json()["opens_in"] <= 6300


def test_lobby_join_json_when_open_mints_a_token_and_logs_the_join_click(db, client, jitsi, open_session, parent_link):
    _token_mode(jitsi)
    parent, url = parent_link

    body = client.get(url(open_session, "/join.json")).get_json()

    claims = jwt.decode(body["setup"]["options"]["jwt"], SECRET, algorithms=["HS256"], audience="ouderkamer")
    events = db.session.scalars(select(AttendanceEvent)).all()
    assert claims["room"] == open_session.room_name
    assert body["setup"]["app_url"].startswith(f"org.jitsi.meet://meet.example.org/{open_session.room_name}?jwt=")
    assert [(e.parent_id, e.kind) for e in events] == [(parent.id, AttendanceKind.join_click)]


def test_lobby_of_a_session_the_parent_is_not_invited_to_is_404(db, client, course, create_parent, parent_link):
    jan = create_parent("Jan", course=course, email="jan@example.org")
    start = (utcnow() + timedelta(days=1)).astimezone(ZoneInfo("Europe/Amsterdam")).replace(tzinfo=None)
    one_to_one = scheduling.schedule_session(course, title="Gesprek", starts_local=start, timezone="Europe/Amsterdam",
                                             kind=SessionKind.one_to_one, invitees=[jan])
    db.session.commit()
    _parent, url = parent_link

    assert [client.get(url(one_to_one)).status_code, client.get(f"/p/wrong/s/{one_to_one.id}").status_code] == [404, 404]


def test_attendance_events_are_recorded_and_shown_on_the_trainers_page(
        db, client, auth, trainer, open_session, parent_link):
    parent, url = parent_link

    joined = client.post(url(open_session, "/events"), json={"event": "joined", "user_id": f"parent-{parent.id}"})
    left = client.post(url(open_session, "/events"), data={"event": "left", "user_id": f"parent-{parent.id}"})
    first = db.session.scalars(select(AttendanceEvent).order_by(AttendanceEvent.id)).first()
    first.at -= timedelta(minutes=25)  # as if the parent joined 25 minutes before leaving
    db.session.commit()
    auth.login(trainer.email)
    html = client.get(f"/sessions/{open_session.id}").get_data(as_text=True)

    assert (joined.status_code, left.status_code) == (204, 204)
    assert "<tr><td>Sanne</td><td>ja</td><td>25</td></tr>" in html


def test_attendance_event_for_another_parent_is_refused(db, client, open_session, parent_link):
    _parent, url = parent_link

    response = client.post(url(open_session, "/events"), json={"event": "joined", "user_id": "parent-99999"})

    assert response.status_code == 403
    assert db.session.scalars(select(AttendanceEvent)).all() == []


def test_attendance_event_before_the_lobby_opens_is_refused(db, client, create_workshop_session, parent_link):
    session = create_workshop_session(starts_at=utcnow() + timedelta(hours=2))
    parent, url = parent_link

    response = client.post(url(session, "/events"), json={"event": "joined", "user_id": f"parent-{parent.id}"})

    assert response.status_code == 409
    assert db.session.scalars(select(AttendanceEvent)).all() == []


def test_attendance_without_events_is_no_and_zero_minutes(db, open_session, parent_link):
    parent, _url = parent_link

    rows = services.attendance(open_session)

    assert [(r.parent.id, r.attended, r.minutes) for r in rows] == [(parent.id, False, 0)]


def test_recorded_session_objection_holds_for_the_course_offered_camera_off_and_listed_first_for_the_trainer(
        db, client, auth, trainer, jitsi, create_workshop_session, parent_link):
    jitsi(JITSI_BASE_URL="https://meet.example.org")
    start = (utcnow() + timedelta(minutes=10)).replace(second=0, microsecond=0)
    session = create_workshop_session(starts_at=start, recorded=True)
    parent, url = parent_link

    client.post(url(session, "/consent"), data={"choice": "consent"})
    client.post(url(session, "/consent"), data={"choice": "object"})
    html = client.get(url(session)).get_data(as_text=True)
    auth.login(trainer.email)
    join_html = client.get(f"/sessions/{session.id}/join").get_data(as_text=True)

    log = db.session.scalars(select(CourseConsent).order_by(CourseConsent.id)).all()
    assert [(c.course_id, c.parent_id, c.consented) for c in log] == [
        (session.course_id, parent.id, True), (session.course_id, parent.id, False)]
    assert all(c.created_at is not None for c in log)
    assert "Deze bijeenkomst wordt opgenomen" in html
    assert 'id="camera-off-notice"' in html
    assert _setup(html)["options"]["configOverwrite"]["startWithVideoMuted"] is True
    assert '<ul id="without-consent"><li>Sanne</li></ul>' in join_html
    assert join_html.index('id="without-consent"') < join_html.index('id="start-recording"')


def test_help_button_mails_the_trainer_naming_parent_and_session(db, client, trainer, open_session, parent_link):
    _parent, url = parent_link

    response = client.post(url(open_session, "/help"))

    # Scheduling the session also mailed the parent an invite; only the help notice goes to the trainer.
    outbox = [m for m in get_mail_transport().outbox if m["To"] == trainer.email]
    assert response.status_code == 302
    assert len(outbox) == 1
    assert outbox[0]["Subject"] == "Sanne komt niet binnen bij Voorlezen"
    assert f"http://ouderkamer.test/sessions/{open_session.id}" in outbox[0].get_body(("plain",)).get_content()


def test_poll_room_records_prosody_participant_count(db, jitsi, prosody_stub, open_session):
    jitsi(JITSI_BASE_URL="https://meet.example.org", JITSI_ROOM_API_URL=prosody_stub.url)
    prosody_stub.rooms[open_session.room_name] = [
        {"jid": f"{open_session.room_name}@conference.meet.example.org/{name}", "email": "", "display_name": name}
        for name in ("focus", "a1", "b2", "c3")]

    sample = rooms.poll_room(open_session)
    db.session.commit()

    assert [(s.session_id, s.participants) for s in db.session.scalars(select(RoomSample))] == [(open_session.id, 3)]
    assert sample.participants == 3
    assert prosody_stub.requests == [("/room-size", {"room": open_session.room_name, "domain": "meet.example.org"})]


def test_poll_live_rooms_samples_only_open_rooms_when_configured(db, jitsi, prosody_stub, open_session,
                                                                 create_workshop_session):
    from sessions.tasks import poll_live_rooms_now

    create_workshop_session(starts_at=utcnow() + timedelta(days=2), title="Later")
    jitsi(JITSI_BASE_URL="https://meet.example.org", JITSI_ROOM_API_URL=prosody_stub.url)

    poll_live_rooms_now.call_local()

    assert [(s.session_id, s.participants) for s in db.session.scalars(select(RoomSample))] == [(open_session.id, 0)]
