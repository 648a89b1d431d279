"""Watch progress: the parent's beacons, resuming where they stopped, and the trainer's "watched" column."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.db import utcnow
from core.extensions import db as _db
from courses.links import issue_personal_link, revoke_access
from recordings import participation, playback
from recordings.models import Recording, RecordingSource, RecordingState, WatchProgress
from tests.recordings import test_playback as playback_fixtures

# The playback tests' parent with its personal link (pytest finds fixtures by module attribute).
parent = playback_fixtures.parent

TOKEN = playback_fixtures.TOKEN
OTHER_TOKEN = playback_fixtures.OTHER_TOKEN


@pytest.fixture
def create_published(db, course):
    """A published recording row (no stored objects: the beacon and the summary never read them)."""

    def make(*, course_=None, duration_s: float | None = 100.0, expires_in=timedelta(days=30)):
        now = utcnow()
        recording = Recording(course=course_ or course, source=RecordingSource.upload,
                              state=RecordingState.published, renditions={}, duration_s=duration_s,
                              published_at=now, expires_at=now + expires_in)
        db.session.add(recording)
        db.session.commit()
        return recording

    return make


def _progress_url(recording: Recording, token: str = TOKEN) -> str:
    return f"/p/{token}/watch/{recording.uuid}/progress"


def _stored(recording: Recording) -> list[tuple[int, float, float, float]]:
    _db.session.expire_all()
    rows = _db.session.scalars(select(WatchProgress).where(WatchProgress.recording_id == recording.id))
    return [(r.parent_id, r.position_s, r.furthest_s, r.duration_s) for r in rows]


def test_progress_beacon_stores_the_position_for_the_parent_of_the_link(client, parent, create_published):
    recording = create_published()

    response = client.post(_progress_url(recording), json={"position": 42.5, "duration": 100})

    assert (response.status_code, response.data) == (204, b"")
    assert _stored(recording) == [(parent.id, 42.5, 42.5, 100.0)]


def test_progress_beacon_sent_as_text_plain_updates_the_row_and_keeps_the_furthest_point(client, parent,
                                                                                         create_published):
    recording = create_published()
    client.post(_progress_url(recording), json={"position": 80, "duration": 100})

    # navigator.sendBeacon with a string body sends text/plain.
    response = client.post(_progress_url(recording), data=json.dumps({"position": 12, "duration": 100}),
                           content_type="text/plain;charset=UTF-8")

    assert response.status_code == 204
    assert _stored(recording) == [(parent.id, 12.0, 80.0, 100.0)]


@pytest.mark.parametrize("body", [
    '{"position": "12", "duration": 100}',
    '{"position": true, "duration": 100}',
    '{"position": NaN, "duration": 100}',
    '{"position": 12, "duration": Infinity}',
    '{"position": -1, "duration": 100}',
    '{"position": 150, "duration": 100}',
    '{"position": 0, "duration": 0}',
    '{"position": 1, "duration": 90000}',
    '{"position": 12}',
    "[12, 100]",
    "not json",
])
def test_progress_beacon_with_bad_numbers_is_refused(client, parent, create_published, body):
    recording = create_published()

    response = client.post(_progress_url(recording), data=body, content_type="application/json")

    assert response.status_code == 400
    assert _stored(recording) == []


def test_progress_beacon_with_an_oversized_body_is_refused(client, parent, create_published):
    recording = create_published()
    body = json.dumps({"position": 1, "duration": 100, "pad": "x" * 2000})

    response = client.post(_progress_url(recording), data=body, content_type="application/json")

    assert response.status_code == 413
    assert _stored(recording) == []


def test_progress_beacon_from_another_course_unknown_or_revoked_link_is_refused(
        client, parent, create_published, create_course, create_parent):
    recording = create_published()
    other = create_parent("Ali", course=create_course("Anders"), email="ali@example.org")
    issue_personal_link(other, token=OTHER_TOKEN)
    _db.session.commit()
    beacon = {"position": 5, "duration": 100}
    other_course = client.post(_progress_url(recording, OTHER_TOKEN), json=beacon).status_code
    unknown = client.post(_progress_url(recording, "not-a-real-token"), json=beacon).status_code
    revoke_access(parent)
    _db.session.commit()

    revoked = client.post(_progress_url(recording), json=beacon).status_code

    assert (other_course, unknown, revoked) == (404, 404, 404)
    assert _stored(recording) == []


def test_progress_beacon_for_an_expired_recording_is_refused(client, parent, create_published):
    recording = create_published(expires_in=timedelta(minutes=-1))

    response = client.post(_progress_url(recording), json={"position": 5, "duration": 100})

    assert response.status_code == 404
    assert _stored(recording) == []


def test_progress_beacon_needs_no_csrf_token_but_other_posts_still_do(app, client, auth, trainer, parent,
                                                                      create_published):
    recording = create_published()
    auth.login(trainer.email)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        beacon = client.post(_progress_url(recording), json={"position": 5, "duration": 100}).status_code
        archive = client.post(f"/courses/{recording.course_id}/archive", data={"confirmed": "1"}).status_code
    finally:
        app.config["WTF_CSRF_ENABLED"] = False

    assert (beacon, archive) == (204, 400)


def test_watch_page_starts_at_the_stored_position(client, local_storage, published, parent):
    recording = published(local_storage)
    playback.record_progress(recording, parent, position=2.25, duration=4.0)
    _db.session.commit()

    html = client.get(f"/p/{TOKEN}/watch/{recording.uuid}").get_data(as_text=True)

    assert f'data-progress-url="/p/{TOKEN}/watch/{recording.uuid}/progress" data-start="2.2"' in html


def test_watch_page_starts_from_the_beginning_after_watching_to_the_end(client, local_storage, published, parent):
    recording = published(local_storage)
    playback.record_progress(recording, parent, position=95, duration=100)
    _db.session.commit()

    html = client.get(f"/p/{TOKEN}/watch/{recording.uuid}").get_data(as_text=True)

    assert 'data-start="0.0"' in html


def test_trainer_watch_page_reports_no_progress(client, auth, trainer, local_storage, published):
    recording = published(local_storage)
    auth.login(trainer.email)

    html = client.get(f"/watch/{recording.uuid}").get_data(as_text=True)

    assert "data-progress-url" not in html
    assert "data-start" not in html


def test_progress_is_deleted_with_its_recording_or_parent(db, parent, create_published, create_parent, course):
    first, second = create_published(), create_published()
    other = create_parent("Ali", course=course, email="ali@example.org")
    for recording in (first, second):
        for who in (parent, other):
            playback.record_progress(recording, who, position=10, duration=100)
    db.session.commit()

    db.session.delete(first)
    db.session.delete(other)
    db.session.commit()

    db.session.expire_all()
    rows = db.session.execute(select(WatchProgress.recording_id, WatchProgress.parent_id)).all()
    assert rows == [(second.id, parent.id)]


def test_course_watch_summary_counts_recordings_watched_to_ninety_percent(db, course, parent, create_published,
                                                                          create_parent, create_course):
    watched, half, unwatched = create_published(), create_published(), create_published(duration_s=None)
    other_course = create_published(course_=create_course("Anders"))
    idle = create_parent("Bram", course=course, email="bram@example.org")
    playback.record_progress(watched, parent, position=90, duration=100)
    playback.record_progress(half, parent, position=50, duration=100)
    playback.record_progress(other_course, parent, position=100, duration=100)
    playback.record_progress(unwatched, idle, position=10, duration=60)  # duration from the player: 10/60
    db.session.commit()

    summary = participation.watch_summary(course, [parent.id, idle.id])

    assert summary == {parent.id: participation.WatchSummary(watched=1, total=3, minutes=2),
                       idle.id: participation.WatchSummary(watched=0, total=3, minutes=0)}


def test_course_watch_summary_is_empty_without_published_recordings(db, course, parent):
    assert participation.watch_summary(course, [parent.id]) == {}


def test_course_page_shows_watched_recordings_and_minutes_per_parent(client, auth, trainer, course, parent,
                                                                     create_published, create_parent):
    first, second = create_published(duration_s=600), create_published(duration_s=600)
    create_parent("Bram", course=course, email="bram@example.org")
    playback.record_progress(first, parent, position=600, duration=600)
    playback.record_progress(second, parent, position=300, duration=600)
    _db.session.commit()
    auth.login(trainer.email)

    html = client.get(f"/courses/{course.id}").get_data(as_text=True)

    cells = {}
    for name in ("Sanne", "Bram"):
        row = re.search(rf"<tr>\s*<td>{name}</td>.*?</tr>", html, re.S).group(0)
        cells[name] = [re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)][4]
    assert cells == {"Sanne": "1 van 2, 15 min", "Bram": "0 van 2, 0 min"}


@pytest.mark.e2e
def test_watch_page_resumes_at_the_stored_position_after_a_reload(live_server, page, local_storage, published,
                                                                  parent, hls_js):
    recording = published(local_storage)
    page.goto(live_server + f"/p/{TOKEN}/watch/{recording.uuid}")
    page.evaluate("document.querySelector('video').muted = true")
    page.get_by_role("button", name="Afspelen").click()
    _wait_until(lambda: page.evaluate("document.querySelector('video').currentTime") > 1.5)

    # Reloading fires pagehide, and the page hands its position to navigator.sendBeacon.
    page.reload()
    _wait_until(lambda: _stored(recording) != [])
    page.reload()
    # Read after the render: a pause report and the pagehide beacon may land a few milliseconds apart.
    stored = _stored(recording)[0][1]
    page.evaluate("document.querySelector('video').muted = true")
    start = float(page.locator("video").get_attribute("data-start"))
    page.get_by_role("button", name="Afspelen").click()
    # Polled every 0.2 s: from 0, playback alone could not pass stored - 0.5 (> 1 s) by the first poll.
    _wait_until(lambda: page.evaluate("document.querySelector('video').currentTime") > 0)

    assert stored > 1.5
    assert start == pytest.approx(stored, abs=0.06)
    assert page.evaluate("document.querySelector('video').currentTime") >= stored - 0.5


def _wait_until(condition, *, seconds: float = 20) -> None:
    # Polled from Python: wait_for_function evaluates a string, which the page's CSP (no unsafe-eval) refuses.
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)
