"""Consent at recording time (issue 17): an upload of a session where a parent present had not consented needs the
trainer's confirmation; an ingested one is held in review until a trainer confirms at Publish; the consent state is
stored with the recording and shown in the audit log."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts.audit import AuditEntry
from core.db import utcnow
from core.extensions import db as _db
from courses import consent
from recordings import pipeline, services
from recordings.models import Recording, RecordingState
from sessions.models import AttendanceEvent, AttendanceKind

S = RecordingState


@pytest.fixture
def past_session(db, course, create_parent, create_workshop_session):
    """A recorded session two hours ago where Amina (consented) and Bram (never answered) were in the room and Chris
    (no consent) only clicked the link."""
    session = create_workshop_session(starts_at=(utcnow() - timedelta(hours=2)).replace(second=0, microsecond=0),
                                      recorded=True, title="Voorlezen", allow_past=True)
    amina, bram, chris = (create_parent(name, course=course, email=f"{name.lower()}@example.org")
                          for name in ("Amina", "Bram", "Chris"))
    consent_before(session, amina)
    for parent in (amina, bram):
        _db.session.add(AttendanceEvent(session_id=session.id, parent_id=parent.id, kind=AttendanceKind.joined,
                                        at=session.starts_at + timedelta(minutes=1)))
    _db.session.add(AttendanceEvent(session_id=session.id, parent_id=chris.id, kind=AttendanceKind.join_click,
                                    at=session.starts_at))
    _db.session.commit()
    return session, amina, bram, chris


def consent_before(session, parent) -> None:
    """The parent consents for the session's course a day before it (consent counts as it stood at recording time)."""
    consent.record_consent(session.course_id, parent, consented=True).created_at = session.starts_at - timedelta(days=1)


def _recordings() -> list[Recording]:
    _db.session.expire_all()
    return list(_db.session.scalars(select(Recording).order_by(Recording.id)))


def test_upload_asks_the_trainer_to_confirm_a_present_parent_without_consent_and_goes_through_after(
        client, auth, trainer, past_session, probes):
    session, amina, bram, _chris = past_session
    auth.login(trainer.email)
    url = f"/sessions/{session.id}/recordings/upload"

    page = client.get(url).get_data(as_text=True)
    refused = client.post(url, data={"file": (io.BytesIO(b"video" * 100), "opname.mp4")})
    refused_js = client.post(f"/sessions/{session.id}/recordings/uploads", json={"filename": "a.mp4", "size": 500})
    nothing = _recordings()
    accepted = client.post(url, data={"file": (io.BytesIO(b"video" * 100), "opname.mp4"),
                                      "confirm_without_consent": "y"})
    accepted_js = client.post(f"/sessions/{session.id}/recordings/uploads",
                              json={"filename": "a.mp4", "size": 500, "confirm_without_consent": True})

    (recording,) = _recordings()
    assert '<ul id="without-consent"><li>Bram</li></ul>' in page  # Chris only clicked; Amina consented
    assert 'name="confirm_without_consent"' in page
    assert refused.status_code == 400 and "Vink dit aan om de opname toch te uploaden." in refused.get_data(as_text=True)
    assert (refused_js.status_code, refused_js.get_json()["without_consent"]) == (409, ["Bram"])
    assert nothing == []
    assert accepted.status_code == 302 and accepted_js.status_code == 201
    snapshot = recording.consent_snapshot
    assert snapshot["present"] == [{"parent_id": amina.id, "consented": True},
                                   {"parent_id": bram.id, "consented": False}]
    assert (snapshot["without_consent"], snapshot["confirmed_by"]) == ([bram.id], trainer.id)
    assert snapshot["at"] == session.ends_at.isoformat()
    assert recording.needs_consent_confirmation is False


def test_upload_where_everyone_present_consented_at_recording_time_asks_nothing(client, auth, trainer, past_session,
                                                                                  probes):
    session, _amina, bram, _chris = past_session
    consent_before(session, bram)
    _db.session.commit()
    auth.login(trainer.email)

    page = client.get(f"/sessions/{session.id}/recordings/upload").get_data(as_text=True)
    response = client.post(f"/sessions/{session.id}/recordings/upload",
                           data={"file": (io.BytesIO(b"video" * 100), "opname.mp4")})

    (recording,) = _recordings()
    assert 'id="without-consent"' not in page
    assert response.status_code == 302
    assert (recording.consent_snapshot["without_consent"], recording.needs_consent_confirmation) == ([], False)


def test_ingest_holds_the_recording_in_review_and_publish_asks_the_same_confirmation(
        client, auth, trainer, course, past_session):
    session, _amina, bram, _chris = past_session
    course.publish_automatically = True
    _db.session.commit()
    accepted = services.receive_jaas_event({
        "eventType": "RECORDING_UPLOADED", "idempotencyKey": "k-1", "fqn": f"tenant/{session.room_name}",
        "data": {"preAuthenticatedLink": "https://jaas.example.org/rec.mp4"}})
    recording = _recordings()[0] if accepted == "accepted" else None
    held = pipeline.done_state(recording, pipeline.PUBLISH)
    recording.state = S.ready_for_review  # as the publish step leaves it (the download and transcode are elsewhere)
    _db.session.commit()
    auth.login(trainer.email)

    status_page = client.get(f"/recordings/{recording.id}").get_data(as_text=True)
    refused = client.post(f"/recordings/{recording.id}/publish", follow_redirects=True)
    still = _recordings()[0].state
    client.post(f"/recordings/{recording.id}/publish", data={"confirm_without_consent": "y"})

    (published,) = _recordings()
    assert (accepted, held) == ("accepted", S.ready_for_review)
    assert '<ul id="without-consent"><li>Bram</li></ul>' in status_page
    assert "Niet iedereen die erbij was, vond opnemen goed." in refused.get_data(as_text=True)
    assert still is S.ready_for_review
    assert published.state is S.published
    assert (published.consent_snapshot["without_consent"], published.consent_snapshot["confirmed_by"]) == (
        [bram.id], trainer.id)


def test_audit_log_shows_the_consent_at_recording_time_and_the_confirmation(
        client, auth, trainer, coordinator, past_session, probes):
    session, amina, bram, _chris = past_session
    auth.login(trainer.email)
    client.post(f"/sessions/{session.id}/recordings/upload",
                data={"file": (io.BytesIO(b"video" * 100), "opname.mp4"), "confirm_without_consent": "y"})
    (recording,) = _recordings()
    auth.logout()
    auth.login(coordinator.email)

    page = client.get("/audit").get_data(as_text=True)

    entries = {e.action: e for e in _db.session.scalars(select(AuditEntry))}
    received = entries["recording.received"]
    assert (received.course_id, received.actor_id) == (session.course_id, trainer.id)
    assert received.details == {"recording": recording.id, "session": session.id, "present": [amina.id, bram.id],
                                "consented": [amina.id], "without_consent": [bram.id]}
    assert entries["recording.confirmed"].details == {"recording": recording.id, "without_consent": [bram.id]}
    assert "Opname ontvangen; toestemming op het moment van opnemen" in page
    assert "Opname bevestigd door de trainer, ook zonder toestemming van iedereen" in page
    assert f"Zonder toestemming (ouder #): {bram.id}" in page
    assert f"Aanwezig (ouder #): {amina.id}, {bram.id}" in page


def test_a_parent_who_withdrew_after_the_session_is_asked_about_too(client, auth, trainer, past_session, probes):
    session, amina, bram, _chris = past_session
    consent_before(session, bram)
    consent.record_consent(session.course_id, amina, consented=False)  # after the session
    _db.session.commit()
    auth.login(trainer.email)

    page = client.get(f"/sessions/{session.id}/recordings/upload").get_data(as_text=True)

    assert '<ul id="without-consent"><li>Amina</li></ul>' in page
