"""One revocation cuts off every credential of a parent: after "Link intrekken" every URL the parent had answers 404.

The parent-facing routes are read from the app's URL map (every rule with a `token` or a calendar `feed_id`), so a
new route without an entry in URLS fails test_every_parent_route_is_in_the_table.
"""

from __future__ import annotations

import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from activities import answers
from activities import services as activities
from activities.models import MediaKind
from core.db import utcnow
from core.extensions import db as _db
from courses import links
from courses import services as courses
from sessions import rsvp
from sessions import scheduling as sessions
from tests.activities.helpers import make_activity, post_answer

#: endpoint -> (methods checked, which token the URL carries: "personal", "calendar" or None for the RSVP link)
URLS = {
    "feeds.feed": ("/c/{calendar}.ics", "calendar"),
    "feeds.join": ("/c/{calendar}/join/{session_id}", "calendar"),
    "feeds.join_series": ("/c/{calendar}/series/{series_id}/join", "calendar"),
    "feeds.download": ("/c/{calendar}/session/{session_id}.ics", "calendar"),
    "parents.route_map": ("/p/{personal}", "personal"),
    "parents.delete": ("/p/{personal}/delete", "personal"),
    "parents.export": ("/p/{personal}/export.json", "personal"),
    "parents.export_archive": ("/p/{personal}/export.zip", "personal"),
    "parents.my_data": ("/p/{personal}/data", "personal"),
    "parents.cancel_delete": ("/p/{personal}/delete/cancel", "personal"),
    "parents.consent": ("/p/{personal}/consent/{course_id}", "personal"),
    "responses.show": ("/p/{token}/activities/{activity_id}", "both"),
    "responses.respond": ("/p/{token}/activities/{activity_id}", "both"),
    "responses.media_file": ("/p/{token}/activities/{activity_id}/media/{media_id}/file", "both"),
    "responses.response_file": ("/p/{token}/activities/{activity_id}/responses/{response_id}/file", "both"),
    "responses.delete_response": ("/p/{token}/activities/{activity_id}/responses/{response_id}/delete", "both"),
    "lobby.show": ("/p/{token}/s/{session_id}", "both"),
    "lobby.consent": ("/p/{token}/s/{session_id}/consent", "both"),
    "lobby.event": ("/p/{token}/s/{session_id}/events", "both"),
    "lobby.cannot_get_in": ("/p/{token}/s/{session_id}/help", "both"),
    "lobby.join_json": ("/p/{token}/s/{session_id}/join.json", "both"),
    "presence.heartbeat": ("/p/{token}/s/{session_id}/presence", "both"),
    "watch.parent_watch": ("/p/{token}/watch/{recording_uuid}", "both"),
    "watch.parent_file": ("/p/{token}/watch/{recording_uuid}/master.m3u8", "both"),
    "watch.parent_progress": ("/p/{token}/watch/{recording_uuid}/progress", "both"),
    "rsvp.show": ("/r/{feed_id}/{session_id}/{code}/yes", None),
    "rsvp.record": ("/r/{feed_id}/{session_id}/{code}/yes", None),
}
#: POSTs that would change what later requests see (delete the parent or their answer): checked only after revoking.
DESTRUCTIVE = {("parents.delete", "POST"), ("responses.delete_response", "POST")}


def parent_routes(app) -> set[tuple[str, str]]:
    """(endpoint, method) of every rule reached with a parent's token or calendar link."""
    found = set()
    for rule in app.url_map.iter_rules():
        if ({"token", "feed_id"} & set(rule.arguments)) and not rule.endpoint.startswith("accounts."):
            found |= {(rule.endpoint, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def test_every_parent_route_is_in_the_table(app):
    assert {endpoint for endpoint, _ in parent_routes(app)} == set(URLS)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def world(app, client, db, course, create_workshop_session, local_storage, published):
    parent = courses.add_parent(name="Sanne", email="sanne@example.org", language="nl")
    courses.enrol(course, parent)
    personal = links.issue_personal_link(parent).rsplit("/", 1)[1]
    calendar = links.parent_feed_token(parent)
    db.session.commit()
    now_local = (utcnow() + timedelta(minutes=5)).astimezone(ZoneInfo("Europe/Amsterdam"))
    workshop_session = create_workshop_session(starts_at=utcnow() + timedelta(minutes=5))
    series = sessions.schedule_series(course, title="Reeks", first_local=now_local + timedelta(days=1),
                                      timezone="Europe/Amsterdam", count=2)
    activity = make_activity(course, kinds=("photo", "text"))
    media = activities.add_media(activity, io.BytesIO(_png()), kind=MediaKind.image)
    db.session.commit()
    answered = post_answer(client, personal, activity, data=_png(), filename="foto.png")
    assert answered.status_code in (200, 302, 303), answered.status_code
    response_id = answers.responses_of(activity, parent)[0].id
    recording = published(local_storage)
    rsvp_url = rsvp.rsvp_urls(parent, workshop_session)["yes"]
    feed_id, _session, code = rsvp_url.split("/r/", 1)[1].split("/")[:3]
    db.session.commit()
    return {"parent_id": parent.id, "course_id": course.id, "personal": personal, "calendar": calendar,
            "session_id": workshop_session.id, "series_id": series.id, "activity_id": activity.id,
            "media_id": media.id, "response_id": response_id, "recording_uuid": recording.uuid,
            "feed_id": feed_id, "code": code}


def _urls(world: dict, endpoint: str) -> list[str]:
    template, kind = URLS[endpoint]
    tokens = {"both": ["personal", "calendar"], "personal": ["personal"], "calendar": ["calendar"], None: [None]}[kind]
    values = {k: v for k, v in world.items()}
    return [template.format(**{**values, "token": world[t] if t else ""}) for t in tokens]


def _call(client, method: str, url: str):
    data = {"answer": "coming", "objected": "n", "kind": "joined", "position": "1", "client_key": "k" * 24}
    response = client.open(url, method=method, data=data if method == "POST" else None)
    response.close()  # as a server does: e.g. the data export's spooled ZIP
    return response


def test_revoking_the_link_cuts_off_every_url_the_parent_had(app, client, db, world):
    routes = sorted(parent_routes(app))
    before = {(e, m, url): _call(client, m, url).status_code
              for e, m in routes if (e, m) not in DESTRUCTIVE for url in _urls(world, e)}
    assert [key for key, status in before.items() if status == 404] == []

    parent = courses.db.session.get(courses.Parent, world["parent_id"])
    links.revoke_access(parent)
    db.session.commit()

    after = {(e, m, url): _call(client, m, url).status_code for e, m in routes for url in _urls(world, e)}
    assert {key: status for key, status in after.items() if status != 404} == {}


def test_taking_a_parent_out_of_their_last_course_cuts_off_their_links(app, client, db, world, create_course):
    parent = _db.session.get(courses.Parent, world["parent_id"])
    course = _db.session.get(courses.Course, world["course_id"])
    courses.remove_from_course(course, parent)
    db.session.commit()

    for endpoint in ("parents.route_map", "lobby.show", "feeds.feed", "watch.parent_watch"):
        for url in _urls(world, endpoint):
            assert client.get(url).status_code == 404, url


def test_a_new_link_after_revoking_gives_both_credentials_anew(app, client, db, world):
    parent = _db.session.get(courses.Parent, world["parent_id"])
    links.revoke_access(parent)
    db.session.commit()

    link = links.reissue_access(parent)
    calendar = links.parent_feed_token(parent)
    db.session.commit()

    assert client.get(link.replace("http://localhost", "")).status_code == 200
    assert client.get(f"/c/{calendar}.ics").status_code == 200
    assert calendar != world["calendar"]
    assert client.get(f"/c/{world['calendar']}.ics").status_code == 404
    assert client.get(f"/p/{world['personal']}").status_code == 404


def test_reissuing_replaces_the_calendar_token_too(app, client, db, world):
    parent = _db.session.get(courses.Parent, world["parent_id"])

    links.reissue_access(parent)
    db.session.commit()

    assert client.get(f"/c/{world['calendar']}.ics").status_code == 404
    assert client.get(f"/p/{world['calendar']}/s/{world['session_id']}").status_code == 404


def test_no_message_goes_out_with_a_dead_link_after_revoking(app, db, world):
    from sessions.calendar import join_url
    from sessions.services import invitees

    parent = _db.session.get(courses.Parent, world["parent_id"])
    links.revoke_access(parent)
    db.session.commit()

    workshop_session = _db.session.get(sessions.WorkshopSession, world["session_id"])
    assert parent not in invitees(workshop_session)
    assert links.parent_feed_token(parent) is None
    assert join_url(parent, workshop_session) is None
