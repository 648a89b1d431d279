"""Recording consent per parent per course (issue 17): asked on the route map and in the lobby in the parent's
language, revocable, kept as history; a parent without it joins with the camera off and a notice; the trainer's
pages show who consented."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import select, text

from accounts.audit import AuditEntry
from core.db import utcnow
from core.extensions import db as _db
from courses import consent, links
from courses.models import CourseConsent

SETUP = re.compile(r'<script type="application/json" id="jitsi-setup">(.*?)</script>', re.S)
NOTICE = ("Je camera staat uit, omdat je nog geen toestemming hebt gegeven om opgenomen te worden. "
          "De trainer weet dat.")


@pytest.fixture
def recorded_session(app, create_workshop_session):
    """A recorded session whose lobby is open (it starts in ten minutes), on public Jitsi."""
    saved = {key: app.config.get(key) for key in ("JITSI_BASE_URL", "JITSI_APP_ID", "JITSI_APP_SECRET")}
    app.config.update(JITSI_BASE_URL="https://meet.example.org", JITSI_APP_ID=None, JITSI_APP_SECRET=None)
    start = (utcnow() + timedelta(minutes=10)).replace(second=0, microsecond=0)
    yield create_workshop_session(starts_at=start, recorded=True, title="Voorlezen")
    app.config.update(saved)


def _parent_with_link(create_parent, course, name: str, language: str = "nl"):
    parent = create_parent(name, course=course, language=language, email=f"{name.lower()}@example.org")
    token = links.issue_personal_link(parent, token=f"{name.lower()}-" + "t" * 40).rsplit("/", 1)[1]
    _db.session.commit()
    return parent, token


def test_a_parent_without_consent_joins_camera_off_with_a_notice_and_with_consent_camera_on(
        client, course, create_parent, recorded_session):
    _parent, token = _parent_with_link(create_parent, course, "Sanne")
    lobby = f"/p/{token}/s/{recorded_session.id}"

    html = client.get(lobby).get_data(as_text=True)
    polled = client.get(f"{lobby}/join.json").get_json()
    client.post(f"/p/{token}/consent/{course.id}", data={"choice": "yes"})
    after = client.get(f"{lobby}/join.json").get_json()
    html_after = client.get(lobby).get_data(as_text=True)

    page_setup = json.loads(SETUP.search(html).group(1))
    assert 'id="camera-off-notice"' in html and NOTICE in html
    assert page_setup["options"]["configOverwrite"]["startWithVideoMuted"] is True
    assert page_setup["camera_off"] is True
    assert (polled["setup"]["camera_off"], polled["setup"]["notice"]) == (True, NOTICE)
    assert polled["setup"]["options"]["configOverwrite"]["startWithVideoMuted"] is True
    assert "camera_off" not in after["setup"] and "notice" not in after["setup"]
    assert after["setup"]["options"]["configOverwrite"]["startWithVideoMuted"] is False
    assert 'id="camera-off-notice"' not in html_after


@pytest.mark.parametrize("language", ["nl", "ar", "tr"])
def test_consent_is_asked_given_and_withdrawn_on_the_route_map_and_in_the_lobby_in_the_parents_language(
        client, course, create_parent, recorded_session, language):
    parent, token = _parent_with_link(create_parent, course, "Amina", language)
    with force_locale(language):
        question = gettext("Opnemen tijdens de bijeenkomsten")
        yes_button = gettext("Ja, dat mag")
        thanks = gettext("Dank je. Je hebt ja gezegd. Je kunt dit altijd weer veranderen.")
        withdraw_button = gettext("Toch liever niet")
        not_recorded = gettext("Je keuze is opgeslagen: je wordt niet opgenomen en doet mee met je camera uit. "
                               "Je kunt dit altijd weer veranderen.")

    route_map = client.get(f"/p/{token}").get_data(as_text=True)
    given = client.post(f"/p/{token}/consent/{course.id}", data={"choice": "yes"}, follow_redirects=True)
    lobby = client.get(f"/p/{token}/s/{recorded_session.id}").get_data(as_text=True)
    withdrawn = client.post(f"/p/{token}/consent/{course.id}",
                            data={"choice": "no", "session_id": recorded_session.id})
    lobby_after = client.get(withdrawn.headers["Location"]).get_data(as_text=True)

    if language != "nl":
        assert question != "Opnemen tijdens de bijeenkomsten" and thanks.startswith("Dank je") is False
    assert question in route_map and yes_button in route_map
    assert thanks in given.get_data(as_text=True)
    assert question in lobby and withdraw_button in lobby
    assert withdrawn.headers["Location"] == f"/p/{token}/s/{recorded_session.id}"
    assert not_recorded in lobby_after and 'data-answer="no"' in lobby_after
    history = _db.session.scalars(select(CourseConsent).order_by(CourseConsent.id)).all()
    assert [(c.course_id, c.parent_id, c.consented, c.source) for c in history] == [
        (course.id, parent.id, True, "parent"), (course.id, parent.id, False, "parent")]
    audit = _db.session.scalars(select(AuditEntry).where(AuditEntry.action.like("consent.%"))
                                .order_by(AuditEntry.id)).all()
    assert [(a.action, a.actor_kind, a.parent_id, a.course_id) for a in audit] == [
        ("consent.given", "parent", parent.id, course.id), ("consent.withdrawn", "parent", parent.id, course.id)]


def test_a_parent_cannot_answer_for_a_course_they_are_not_in(client, course, create_course, create_parent):
    _parent, token = _parent_with_link(create_parent, course, "Sanne")
    other = create_course("Samen spelen")

    response = client.post(f"/p/{token}/consent/{other.id}", data={"choice": "yes"})

    assert response.status_code == 302
    assert _db.session.scalars(select(CourseConsent)).all() == []


def test_course_and_session_pages_show_who_consented_and_the_live_page_who_did_not(
        client, auth, trainer, course, create_parent, recorded_session):
    amina, _ = _parent_with_link(create_parent, course, "Amina")
    bram, _ = _parent_with_link(create_parent, course, "Bram")
    consent.record_consent(course.id, amina, consented=True)
    _db.session.commit()
    auth.login(trainer.email)

    course_page = client.get(f"/courses/{course.id}").get_data(as_text=True)
    session_page = client.get(f"/sessions/{recorded_session.id}").get_data(as_text=True)
    live_page = client.get(f"/sessions/{recorded_session.id}/join").get_data(as_text=True)

    cells = re.findall(r'<td class="consent" data-consented="(\w+)">', course_page)
    assert cells == ["yes", "no"]  # Amina, Bram (by name)
    assert "Niemand heeft bezwaar gemaakt." not in session_page
    assert '<ul id="without-consent"><li>Bram</li></ul>' in session_page
    assert re.findall(r'<tr data-consented="(\w+)" data-source="(\w+)">', session_page) == [
        ("yes", "parent"), ("no", "none")]
    assert '<ul id="without-consent"><li>Bram</li></ul>' in live_page
    assert live_page.index('id="without-consent"') < live_page.index('id="start-recording"')


def test_migration_moves_each_parents_latest_session_answer_to_the_course(tmp_path):
    from flask_migrate import downgrade, upgrade

    from core.app import create_app
    from tests.conftest import app_overrides

    app = create_app(app_overrides(tmp_path, f"sqlite:///{tmp_path / 'old.sqlite'}"))
    with app.app_context():
        upgrade(revision="0016")
        with _db.engine.begin() as conn:
            conn.execute(text("INSERT INTO organisations (id, name, language, retention_days, sender_name, created_at) "
                              "VALUES (1, 'O', 'nl', 60, 'O', '2026-01-01')"))
            conn.execute(text("INSERT INTO parents (id, organisation_id, name, language, consent_recording, "
                              "contact_email, contact_sms, contact_whatsapp, created_at) "
                              "VALUES (1, 1, 'P', 'nl', 0, 1, 0, 0, '2026-01-01')"))
            conn.execute(text("INSERT INTO courses (id, organisation_id, title, description, language, timezone, "
                              "retention_days, reminder_offsets, publish_automatically, created_at) "
                              "VALUES (1, 1, 'C', '', 'nl', 'Europe/Amsterdam', 60, '[]', 0, '2026-01-01')"))
            for sid in (1, 2):
                conn.execute(text(
                    "INSERT INTO workshop_session (id, course_id, title, description, kind, status, starts_at, "
                    "timezone, duration_minutes, recorded, lobby_minutes, room_name, sequence, invite_whole_course, "
                    f"created_at, updated_at) VALUES ({sid}, 1, 'S', '', 'workshop', 'scheduled', '2026-02-0{sid}', "
                    f"'Europe/Amsterdam', 60, 1, 15, 'room{sid}', 0, 1, '2026-01-01', '2026-01-01')"))
            for rid, sid, objected, at in ((1, 1, 0, "2026-02-01 10:00"), (2, 2, 1, "2026-02-02 10:00"),
                                           (3, 1, 0, "2026-02-01 11:00")):
                conn.execute(text("INSERT INTO recording_consents (id, session_id, parent_id, objected, created_at) "
                                  f"VALUES ({rid}, {sid}, 1, {objected}, '{at}')"))

        upgrade(revision="0017")
        with _db.engine.connect() as conn:
            moved = conn.execute(text("SELECT course_id, parent_id, consented, source, created_at "
                                      "FROM course_consents")).all()
        downgrade(revision="0016")
        _db.engine.dispose()

    assert [(c, p, bool(ok), s, str(at)[:16]) for c, p, ok, s, at in moved] == [
        (1, 1, False, "session", "2026-02-02 10:00")]  # the latest answer, an objection, holds for the course

