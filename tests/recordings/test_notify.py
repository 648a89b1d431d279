"""Recording ready: one message per invited parent and channel, in their language, with a working watch link."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from core.extensions import db as _db
from core.mail import get_mail_transport
from core.sms import get_sms_transport, sms_segments
from courses import services as courses
from courses.links import parent_feed_token
from recordings import publish_tasks
from recordings.models import Recording, RecordingState

PHONE = "+31612345678"

# The messages of a course that publishes automatically; with review, test_review.py.
pytestmark = pytest.mark.usefixtures("auto_publish")


@pytest.fixture
def outboxes(app):
    mail, sms = get_mail_transport(), get_sms_transport()
    mail.clear()
    sms.clear()
    return mail.outbox, sms.outbox


@pytest.fixture
def family(db, course, create_course):
    """An nl parent (e-mail), an ar parent (e-mail and SMS) in the course, and a parent of another course."""
    nl = courses.add_parent(name="Sanne", language="nl", email="sanne@example.org")
    ar = courses.add_parent(name="Amal", language="ar", email="amal@example.org", phone=PHONE, contact_sms=True)
    courses.enrol(course, nl)
    courses.enrol(course, ar)
    other = courses.add_parent(name="Olga", language="tr", email="olga@example.org", phone="+31687654321",
                               contact_sms=True)
    courses.enrol(create_course("Ander"), other)
    db.session.commit()
    return nl, ar, other


def _publish(create_transcoded_recording, storage, session) -> Recording:
    recording = create_transcoded_recording(storage)
    recording.session_id = session.id
    _db.session.commit()
    get_mail_transport().clear()  # scheduling the session sent its invites
    get_sms_transport().clear()
    publish_tasks.publish_recording(recording.id)
    _db.session.expire_all()
    return _db.session.get(Recording, recording.id)


def _link(text: str) -> str:
    return re.search(r"http://ouderkamer\.test/\S+", text).group(0)


def test_notify_sends_each_invited_parent_one_message_per_channel_in_their_language(
        app, client, local_storage, create_transcoded_recording, create_workshop_session, family, outboxes):
    nl, ar, _other = family
    mails, texts = outboxes
    session = create_workshop_session(title="Samen lezen")

    recording = _publish(create_transcoded_recording, local_storage, session)

    assert recording.state == RecordingState.published
    assert sorted((m["To"], m["Content-Language"]) for m in mails) == [
        ("amal@example.org", "ar"), ("sanne@example.org", "nl")]
    assert [t.to_e164 for t in texts] == [PHONE]
    assert sms_segments(texts[0].text) <= 2
    by_to = {m["To"]: m for m in mails}
    assert by_to["sanne@example.org"]["Subject"] == "De opname van Samen lezen staat klaar"
    assert 'lang="ar" dir="rtl"' in by_to["amal@example.org"].get_body(("html",)).get_content()
    with app.app_context():
        expected = {p.email: f"http://ouderkamer.test/p/{parent_feed_token(p)}/watch/{recording.uuid}"
                    for p in (nl, ar)}
    for to, message in by_to.items():
        assert _link(message.get_body(("plain",)).get_content()) == expected[to]
    assert _link(texts[0].text) == expected["amal@example.org"]


def test_notify_link_opens_the_watch_page_and_its_playlist(
        client, local_storage, create_transcoded_recording, create_workshop_session, family, outboxes):
    mails, _texts = outboxes
    recording = _publish(create_transcoded_recording, local_storage, create_workshop_session())
    path = urlsplit(_link(mails[0].get_body(("plain",)).get_content())).path

    page = client.get(path)
    playlist = client.get(f"{path}/master.m3u8")

    assert page.status_code == 200
    assert f'{path}/master.m3u8' in page.get_data(as_text=True)
    assert playlist.status_code == 200
    assert playlist.get_data(as_text=True).startswith("#EXTM3U")
    assert recording.uuid in path


def test_notify_is_not_sent_again_when_the_publish_task_runs_again(
        local_storage, create_transcoded_recording, create_workshop_session, family, outboxes):
    mails, texts = outboxes
    recording = _publish(create_transcoded_recording, local_storage, create_workshop_session())
    sent = (len(mails), len(texts))

    publish_tasks.publish_recording(recording.id)

    assert sent == (2, 1)
    assert (len(mails), len(texts)) == (2, 1)


def test_notify_skips_parents_of_other_courses_and_uninvited_parents(
        local_storage, create_transcoded_recording, create_workshop_session, family, outboxes):
    nl, _ar, _other = family
    mails, texts = outboxes

    _publish(create_transcoded_recording, local_storage, create_workshop_session(invitees=[nl]))

    assert [m["To"] for m in mails] == ["sanne@example.org"]
    assert texts == []


def test_notify_task_does_nothing_for_an_unpublished_recording(
        local_storage, create_transcoded_recording, family, outboxes):
    from recordings.notify import notify_recording_ready

    recording = create_transcoded_recording(local_storage)

    notify_recording_ready(recording.id)

    assert outboxes == ([], [])
