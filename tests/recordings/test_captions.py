"""Captions: the trainer uploads a WebVTT file on the status page; the parent's watch page gets a <track>."""

from __future__ import annotations

import io

import pytest

from core.extensions import db as _db
from courses.links import issue_personal_link
from recordings import captions, publish_tasks
from recordings.models import Recording

TOKEN = "parent-link-token-" + "c" * 24
VTT = b"WEBVTT\n\n00:00.000 --> 00:01.000\nHallo allemaal\n"


@pytest.fixture
def recording(local_storage, create_transcoded_recording, auto_publish) -> Recording:
    recording = create_transcoded_recording(local_storage)
    publish_tasks.publish_recording(recording.id)
    _db.session.expire_all()
    return _db.session.get(Recording, recording.id)


@pytest.fixture
def parent(create_parent, course):
    parent = create_parent(course=course)
    issue_personal_link(parent, token=TOKEN)
    _db.session.commit()
    return parent


def _upload(client, recording: Recording, data: bytes, filename: str, language: str = "ar"):
    return client.post(f"/recordings/{recording.id}/captions", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), filename), "language": language})


def test_captions_upload_adds_a_track_to_the_watch_page(client, auth, trainer, recording, parent, local_storage):
    auth.login(trainer.email)

    response = _upload(client, recording, VTT, "arabisch.vtt")
    auth.logout()
    page = client.get(f"/p/{TOKEN}/watch/{recording.uuid}").get_data(as_text=True)
    track = client.get(f"/p/{TOKEN}/watch/{recording.uuid}/captions/ar.vtt")

    assert response.status_code == 302
    assert (f'<track kind="captions" src="/p/{TOKEN}/watch/{recording.uuid}/captions/ar.vtt" srclang="ar" '
            'label="AR" default>') in page
    assert (track.status_code, track.content_type, track.data) == (200, "text/vtt; charset=utf-8", VTT)
    info = local_storage.head(f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/captions/ar.vtt")
    assert (info.content_type, info.cache_control) == ("text/vtt", "private, max-age=60")
    _db.session.expire_all()
    assert _db.session.get(Recording, recording.id).renditions["captions/ar.vtt"] == "text/vtt"


@pytest.mark.parametrize(("data", "filename", "message"), [
    (b"1\n00:00:00,000 --> 00:00:01,000\nHallo\n", "ondertitels.srt", "Kies een bestand dat eindigt op .vtt."),
    (b"1\n00:00:00,000 --> 00:00:01,000\nHallo\n", "ondertitels.vtt",
     "Dit is geen WebVTT-bestand: de eerste regel moet met WEBVTT beginnen."),
    (b"WEBVTT\n\n" + b"x" * 100, "groot.vtt", "Dit ondertitelbestand is groter dan 1 MB."),
])
def test_captions_upload_refuses_a_bad_file_and_stores_nothing(client, auth, trainer, recording, local_storage,
                                                               monkeypatch, data, filename, message):
    # A small limit keeps the request small: the test client spools a 1 MB body to a file it never closes.
    monkeypatch.setattr(captions, "MAX_CAPTION_BYTES", 64)
    auth.login(trainer.email)

    response = _upload(client, recording, data, filename)

    assert response.status_code == 400
    assert f'<p class="error" id="file-error">{message}</p>' in response.get_data(as_text=True)
    assert local_storage.list(f"orgs/{recording.course.organisation_id}/recordings/{recording.uuid}/captions/") == []
    _db.session.expire_all()
    assert not any(n.startswith("captions/") for n in _db.session.get(Recording, recording.id).renditions)


def test_captions_form_is_shown_on_the_status_page_of_a_published_recording(client, auth, trainer, recording):
    auth.login(trainer.email)

    html = client.get(f"/recordings/{recording.id}").get_data(as_text=True)

    assert f'action="/recordings/{recording.id}/captions"' in html
    assert '<option value="ar">العربية</option>' in html
