"""Review before publish: a new recording waits for its trainers, who watch it, publish it to parents (only then are
parents told), hide it again, or delete it with every object it has in storage; Retry only where it can help."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from core.db import utcnow
from core.extensions import db as _db
from core.mail import get_mail_transport
from core.sms import get_sms_transport
from courses import services as courses
from courses.links import issue_personal_link
from recordings import captions, pipeline, playback, publish_tasks, services, steps
from recordings.audit import audit_storage
from recordings.models import Recording, RecordingSource, RecordingState, WatchProgress

S = RecordingState
TOKEN = "parent-link-token-" + "r" * 24
PHONE = "+31612345678"
VTT = b"WEBVTT\n\n00:00.000 --> 00:01.000\nHallo allemaal\n"


@pytest.fixture
def parent(create_parent, course):
    parent = create_parent(course=course)
    issue_personal_link(parent, token=TOKEN)
    _db.session.commit()
    return parent


@pytest.fixture
def outbox(app):
    mail, sms = get_mail_transport(), get_sms_transport()
    mail.clear()
    sms.clear()
    return mail.outbox, sms.outbox


@pytest.fixture
def in_review(create_transcoded_recording, parent, outbox):
    """Run the publish step for a transcoded recording of the default course (review before publish, the default)."""

    def make(storage) -> Recording:
        recording = create_transcoded_recording(storage)
        publish_tasks.publish_recording(recording.id)
        _db.session.expire_all()
        return _db.session.get(Recording, recording.id)

    return make


@pytest.fixture
def trainer_in(auth, trainer):
    auth.login(trainer.email)
    return trainer


def _watch(recording: Recording) -> str:
    return f"/p/{TOKEN}/watch/{recording.uuid}"


def _fresh(recording_id: int) -> Recording | None:
    _db.session.expire_all()
    return _db.session.get(Recording, recording_id)


# --- after the pipeline: review, not parents ----------------------------------------------------------------------


def test_new_recording_waits_for_review_and_only_the_trainers_are_told(local_storage, in_review, outbox, course):
    mails, texts = outbox

    recording = in_review(local_storage)

    assert (course.publish_automatically, recording.state, recording.published_at) == (False, S.ready_for_review,
                                                                                         None)
    assert [(m["To"], m["Subject"]) for m in mails] == [
        ("trainer@example.org", "De opname van Voorlezen wacht op je controle")]
    assert f"http://ouderkamer.test/recordings/{recording.id}" in mails[0].get_body(("plain",)).get_content()
    assert texts == []


def test_course_that_publishes_automatically_tells_parents_at_once(local_storage, in_review, outbox, course):
    mails, _texts = outbox
    courses.update_course(course, publish_automatically=True)
    _db.session.commit()

    recording = in_review(local_storage)

    assert (recording.state, recording.published_at is not None) == (S.published, True)
    assert [m["To"] for m in mails] == ["sanne@example.org"]


def test_parent_gets_404_for_a_recording_in_review_and_the_trainer_watches_it(client, auth, trainer, local_storage,
                                                                             in_review):
    recording = in_review(local_storage)

    parent_pages = [client.get(_watch(recording) + s).status_code for s in ("", "/master.m3u8")]
    auth.login(trainer.email)
    trainer_pages = [client.get(f"/watch/{recording.uuid}{s}").status_code for s in ("", "/master.m3u8")]

    assert (parent_pages, trainer_pages) == ([404, 404], [200, 200])
    assert (playback.playable(recording), playback.playable_by_trainers(recording)) == (False, True)


def test_status_page_of_a_recording_in_review_plays_it_with_listen_only_mode_captions_and_publish(
        client, trainer_in, local_storage, in_review):
    recording = in_review(local_storage)
    client.post(f"/recordings/{recording.id}/captions", content_type="multipart/form-data",
                data={"language": "ar", "file": (io.BytesIO(VTT), "ar.vtt")})

    page = client.get(f"/recordings/{recording.id}").get_data(as_text=True)
    audio = client.get(f"/recordings/{recording.id}?mode=audio").get_data(as_text=True)

    assert f'data-hls-src="/watch/{recording.uuid}/master.m3u8"' in page
    assert (f'<track kind="captions" src="/watch/{recording.uuid}/captions/ar.vtt" srclang="ar" label="AR" '
            'default>') in page
    assert '<a class="button" href="?mode=audio" id="player-mode">' in page
    assert f'data-hls-src="/watch/{recording.uuid}/v_audio/index.m3u8"' in audio
    assert f'action="/recordings/{recording.id}/publish"' in page
    assert 'data-state="ready_for_review"' in page
    assert client.get(f"/watch/{recording.uuid}/captions/ar.vtt").status_code == 200


# --- Publish and Unpublish ------------------------------------------------------------------------------------------


def test_publish_sends_the_parents_messages_then_and_only_once(client, trainer_in, local_storage, in_review, outbox,
                                                                course, create_parent):
    mails, texts = outbox
    amal = courses.add_parent(name="Amal", language="ar", email="amal@example.org", phone=PHONE, contact_sms=True)
    courses.enrol(course, amal)
    _db.session.commit()
    recording = in_review(local_storage)
    mails.clear()

    published = client.post(f"/recordings/{recording.id}/publish")
    told = (sorted(m["To"] for m in mails), [t.to_e164 for t in texts])
    client.post(f"/recordings/{recording.id}/unpublish")
    client.post(f"/recordings/{recording.id}/publish")

    assert published.headers["Location"] == f"/recordings/{recording.id}"
    assert told == (["amal@example.org", "sanne@example.org"], [PHONE])
    assert (len(mails), len(texts)) == (2, 1)  # published again: nobody is told twice
    assert _fresh(recording.id).state is S.published


def test_publish_of_a_recording_not_in_review_changes_nothing(client, trainer_in, db, workshop_session_recording,
                                                              outbox):
    recording = workshop_session_recording(S.failed)

    client.post(f"/recordings/{recording.id}/publish")

    assert (_fresh(recording.id).state, outbox) == (S.failed, ([], []))


def test_unpublish_hides_the_watch_page_from_parents_at_once_but_not_from_the_trainer(
        client, auth, trainer, local_storage, in_review):
    recording = in_review(local_storage)
    auth.login(trainer.email)
    client.post(f"/recordings/{recording.id}/publish")
    auth.logout()
    before = [client.get(_watch(recording) + s).status_code for s in ("", "/master.m3u8")]
    auth.login(trainer.email)

    client.post(f"/recordings/{recording.id}/unpublish")
    trainer_pages = [client.get(f"/watch/{recording.uuid}{s}").status_code for s in ("", "/master.m3u8")]
    auth.logout()
    after = [client.get(_watch(recording) + s).status_code for s in ("", "/master.m3u8")]
    progress = client.post(f"{_watch(recording)}/progress", json={"position": 1.0, "duration": 2.0})

    assert (before, after, trainer_pages) == ([200, 200], [404, 404], [200, 200])
    assert progress.status_code == 404
    assert _fresh(recording.id).state is S.ready_for_review


def test_route_map_lists_a_recording_only_while_published(client, trainer_in, auth, local_storage, in_review,
                                                          create_workshop_session):
    recording = in_review(local_storage)
    past = (utcnow() - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    recording.session_id = create_workshop_session(starts_at=past, allow_past=True).id
    _db.session.commit()
    client.post(f"/recordings/{recording.id}/publish")
    auth.logout()
    listed = f"/watch/{recording.uuid}" in client.get(f"/p/{TOKEN}").get_data(as_text=True)
    auth.login("trainer@example.org")
    client.post(f"/recordings/{recording.id}/unpublish")
    auth.logout()

    hidden = f"/watch/{recording.uuid}" not in client.get(f"/p/{TOKEN}").get_data(as_text=True)

    assert (listed, hidden) == (True, True)


def test_another_trainer_cannot_publish_unpublish_or_delete(client, auth, create_user, local_storage, in_review):
    recording = in_review(local_storage)
    create_user("other@example.org", name="Other Trainer")
    auth.login("other@example.org")

    statuses = [client.post(f"/recordings/{recording.id}/{verb}").status_code
                for verb in ("publish", "unpublish", "delete")] + [client.get(f"/recordings/{recording.id}/delete")
                                                                   .status_code]

    assert statuses == [404, 404, 404, 404]
    assert _fresh(recording.id).state is S.ready_for_review


# --- Delete ---------------------------------------------------------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def storage(request, use_storage):
    return use_storage(request.getfixturevalue("local_storage" if request.param == "local" else "s3_storage"))


def test_delete_of_a_published_recording_removes_every_object_and_the_audit_agrees(
        app, client, trainer_in, runner, storage, in_review, parent, monkeypatch):
    monkeypatch.setitem(app.config, "RECORDING_KEEP_ORIGINAL", True)
    recording = in_review(storage)
    client.post(f"/recordings/{recording.id}/publish")
    captions.add_captions(_fresh(recording.id), language="ar", filename="ar.vtt", data=VTT)
    playback.record_progress(_fresh(recording.id), parent, position=3.0, duration=4.0)
    _db.session.commit()
    stored, watch, original, prefix = (storage.list(), _watch(recording), recording.original_key,
                                       recording.published_prefix)

    confirm = client.get(f"/recordings/{recording.id}/delete").get_data(as_text=True)
    deleted = client.post(f"/recordings/{recording.id}/delete")
    audit = runner.invoke(args=["storage", "audit"])

    assert original in stored and f"{prefix}captions/ar.vtt" in stored
    assert "Het originele bestand wordt ook gewist." in confirm
    assert "Ouders kunnen de opname niet meer bekijken" in confirm
    assert deleted.headers["Location"] == f"/courses/{recording.course_id}"
    assert (storage.list(), _fresh(recording.id), _db.session.query(WatchProgress).count()) == ([], None, 0)
    assert (audit_storage(storage).ok, audit.exit_code) == (True, 0)
    assert client.get(watch).status_code == 404


@pytest.fixture
def workshop_session_recording(db, create_workshop_session, local_storage):
    """A recording of a session in `state`, with an original in storage (as an upload leaves it)."""

    def make(state: RecordingState, *, message: str = "Het ging mis.", step: str = pipeline.PROBE) -> Recording:
        recording = services.create_recording(create_workshop_session(), source=RecordingSource.upload)
        recording.original_key = f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/original/a.mp4"
        recording.original_size = 3
        local_storage.put_bytes(recording.original_key, b"abc", content_type="application/octet-stream")
        if state is S.failed:
            pipeline.fail(recording, step, message)
        else:
            recording.state = state
        db.session.commit()
        return recording

    return make


def test_failed_upload_can_be_deleted_with_its_original(client, trainer_in, local_storage, workshop_session_recording):
    recording = workshop_session_recording(S.failed, message=str(steps.MESSAGES["not a media file"]))

    page = client.get(f"/recordings/{recording.id}").get_data(as_text=True)
    deleted = client.post(f"/recordings/{recording.id}/delete")

    assert f'href="/recordings/{recording.id}/delete"' in page
    assert deleted.headers["Location"] == f"/sessions/{recording.session_id}"
    assert (local_storage.list(), _fresh(recording.id)) == ([], None)
    assert audit_storage(local_storage).ok


@pytest.mark.parametrize("state", [S.probing, S.transcoding, S.publishing])
def test_delete_of_a_recording_being_processed_is_refused(client, trainer_in, local_storage,
                                                          workshop_session_recording, state):
    recording = workshop_session_recording(state)

    page = client.get(f"/recordings/{recording.id}").get_data(as_text=True)
    confirm = client.get(f"/recordings/{recording.id}/delete")
    deleted = client.post(f"/recordings/{recording.id}/delete")

    assert f"/recordings/{recording.id}/delete" not in page
    assert (confirm.headers["Location"], deleted.headers["Location"]) == (f"/recordings/{recording.id}",) * 2
    assert _fresh(recording.id).state is state
    assert local_storage.list() == [recording.original_key]


# --- Retry only where it helps --------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(steps.MESSAGES))
def test_failed_probe_of_a_file_that_is_no_usable_video_offers_no_retry(client, trainer_in, probes,
                                                                         workshop_session_recording, key):
    recording = workshop_session_recording(S.failed, message=str(steps.MESSAGES[key]))

    page = client.get(f"/recordings/{recording.id}").get_data(as_text=True)
    retried = client.post(f"/recordings/{recording.id}/retry")

    assert str(steps.MESSAGES[key]) in page
    assert "Opnieuw proberen" not in page
    assert f'href="/sessions/{recording.session_id}/recordings/upload"' in page
    assert retried.headers["Location"] == f"/recordings/{recording.id}"
    assert (_fresh(recording.id).state, probes) == (S.failed, [])


@pytest.mark.parametrize(("step", "message", "retryable"), [
    (pipeline.PROBE, steps.MSG_UNUSABLE, False),
    (pipeline.DOWNLOAD, steps.MSG_LINK_EXPIRED, False),
    (pipeline.DOWNLOAD, steps.MSG_LINK_REFUSED, False),
    (pipeline.PROBE, steps.MSG_STORAGE, True),
    (pipeline.DOWNLOAD, steps.MSG_DOWNLOAD, True),
    (pipeline.TRANSCODE, steps.MSG_TRANSCODE, True),
    (pipeline.TRANSCODE, steps.MSG_DISK, True),
    (pipeline.PUBLISH, steps.MSG_STORAGE, True),
])
def test_retry_is_offered_only_where_it_can_help(client, trainer_in, workshop_session_recording, step, message,
                                                 retryable):
    recording = workshop_session_recording(S.failed, step=step, message=str(message))

    page = client.get(f"/recordings/{recording.id}").get_data(as_text=True)

    assert (steps.retryable(recording), "Opnieuw proberen" in page) == (retryable, retryable)


def test_failed_probe_after_a_storage_error_is_retried(client, trainer_in, probes, workshop_session_recording):
    recording = workshop_session_recording(S.failed, message=str(steps.MSG_STORAGE))

    client.post(f"/recordings/{recording.id}/retry")

    assert (_fresh(recording.id).state, probes) == (S.received, [recording.id])
