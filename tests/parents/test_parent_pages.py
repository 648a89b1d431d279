"""The parent's pages around the route map (issue 19): the lobby's states as served, own photos as thumbnails,
the favicon."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from activities.models import ActivityResponse, MediaState, ResponseKind, new_uuid
from activities.services import response_folder
from core.db import utcnow
from core.extensions import db as _db
from tests.activities.helpers import make_activity

pytestmark = pytest.mark.unit


@pytest.fixture
def lobby_url(create_parent, create_link, course):
    token, _ = create_link(create_parent("Sanne", course=course))
    return lambda session: f"/p/{token}/s/{session.id}"


def _hidden(html: str, element_id: str) -> bool:
    tag = re.search(rf'<[^>]*id="{element_id}"[^>]*>', html).group(0)
    return " hidden" in tag


def test_lobby_days_ahead_says_date_time_and_in_days_without_a_countdown(client, lobby_url, create_workshop_session):
    session = create_workshop_session(starts_at=(utcnow() + timedelta(days=3, hours=1)).replace(second=0))

    html = client.get(lobby_url(session)).get_data(as_text=True)

    assert re.search(r"De kamer gaat open op \w+dag \d+ \w+ \d{4} om \d\d:\d\d\. <span class=\"when\">"
                     r"\(over 3 dagen\)</span>", html)
    assert _hidden(html, "countdown") is True
    assert 'data-connect-timeout="20"' in html


def test_lobby_within_the_hour_shows_the_countdown(client, lobby_url, create_workshop_session):
    session = create_workshop_session(starts_at=utcnow() + timedelta(minutes=45))

    html = client.get(lobby_url(session)).get_data(as_text=True)

    assert _hidden(html, "countdown") is False
    assert "(over 30 minuten)" in html


def test_lobby_ended_says_the_recording_follows(client, lobby_url, create_workshop_session):
    session = create_workshop_session(starts_at=utcnow() - timedelta(days=2), recorded=True, allow_past=True)

    html = client.get(lobby_url(session)).get_data(as_text=True)

    assert "Deze bijeenkomst is afgelopen. De opname komt later op je cursuspagina." in " ".join(html.split())
    assert 'id="help-button"' not in html


def test_lobby_failure_offers_retry_the_browser_and_the_trainers_phone(client, runner, lobby_url,
                                                                       create_workshop_session, trainer):
    result = runner.invoke(args=["trainers", "set-phone", trainer.email, "06 12345678"])  # Dutch, no +31
    session = create_workshop_session(starts_at=utcnow() + timedelta(days=1))

    html = client.get(lobby_url(session)).get_data(as_text=True)
    failed = html[html.index('id="room-failed"'):html.index('id="jitsi"')]

    assert result.output == f"{trainer.email}: +31612345678\n"
    assert _hidden(html, "room-failed") is True  # until lobby.js gives up connecting
    assert 'id="room-retry"' in failed and 'id="room-browser"' in failed
    assert 'href="tel:+31612345678"' in failed and 'href="https://wa.me/31612345678"' in failed
    assert '<section class="help-bar"' in html and 'id="help-button"' in html


def test_lobby_without_a_trainers_phone_offers_no_call(client, lobby_url, create_workshop_session):
    html = client.get(lobby_url(create_workshop_session())).get_data(as_text=True)

    assert "tel:" not in html and "wa.me" not in html


def test_own_photo_is_shown_as_a_screen_sized_thumbnail_made_on_first_view(client, db, course, create_parent,
                                                                          create_link, local_storage):
    parent = create_parent("Sanne", course=course)
    token, _ = create_link(parent)
    activity = make_activity(course)
    photo = io.BytesIO()
    Image.new("RGB", (1536, 2048), (200, 120, 40)).save(photo, "JPEG", quality=95)
    response = ActivityResponse(activity_id=activity.id, parent_id=parent.id, kind=ResponseKind.photo,
                                client_key="photo-" + "t" * 20, state=MediaState.ready, uuid=new_uuid())
    response.media_key = local_storage.put_bytes(response_folder(activity, parent, response.uuid) + "photo.jpg",
                                                 photo.getvalue(), content_type="image/jpeg").key
    _db.session.add(response)
    _db.session.commit()
    base = f"/p/{token}/activities/{activity.id}/responses/{response.id}"

    page = client.get(f"/p/{token}/activities/{activity.id}").get_data(as_text=True)
    first = client.get(f"{base}/thumb")
    thumb_key = _db.session.scalars(select(ActivityResponse.poster_key)).one()
    second = client.get(f"{base}/thumb")
    with local_storage.open(thumb_key) as fh:
        size = Image.open(fh).size

    assert f'src="{base}/thumb"' in page
    assert (first.status_code, second.status_code) == (302, 302)
    assert thumb_key == response_folder(activity, parent, response.uuid) + "thumb.jpg"
    assert max(size) == 720 and local_storage.head(thumb_key).size <= 150 * 1024
    assert local_storage.list(response_folder(activity, parent, response.uuid)) == [response.media_key, thumb_key]


def test_favicon_is_linked_and_served(client):
    home = client.get("/").get_data(as_text=True)
    icon = client.get("/favicon.ico")
    data = icon.get_data()
    icon.close()  # the file handle, as the server closes it after sending

    assert re.search(r'<link rel="icon" href="/static/favicon\.svg[^"]*" type="image/svg\+xml">', home)
    assert (icon.status_code, icon.mimetype) == (200, "image/vnd.microsoft.icon")
    assert data[:4] == b"\x00\x00\x01\x00"
