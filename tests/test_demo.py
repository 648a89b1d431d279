"""`flask demo --json`: the newcomer's contract, idempotent."""

import json
from datetime import datetime

import pytest

from accounts.models import ApiToken, User
from courses.models import Course, Enrolment, Parent
from recordings import review
from recordings.models import Recording, RecordingState
from sessions.models import WorkshopSession
from tests.fixtures.services import need_program


def _demo(runner, *, recording: bool = False) -> dict:
    # The sample recording runs a real transcode; only the test about it pays for that.
    result = runner.invoke(args=["demo", "--json", *([] if recording else ["--no-recording"])])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _counts(db) -> dict:
    return {m.__name__: db.session.query(m).count()
            for m in (User, ApiToken, Course, Parent, Enrolment, WorkshopSession)}


def test_demo_prints_the_json_contract_with_absolute_links(runner, db):
    info = _demo(runner)

    assert info["base_url"] == "http://ouderkamer.test"
    assert set(info["organisation"]) == {"id", "name"} and info["organisation"]["name"]
    assert set(info["trainer"]) >= {"email", "password", "api_token"}
    assert info["course"]["url"] == f"http://ouderkamer.test/courses/{info['course']['id']}"
    assert [p["language"] for p in info["parents"]] == ["nl", "ar", "tr"]
    for parent in info["parents"]:
        assert set(parent) >= {"id", "name", "language", "personal_link", "calendar_feed", "trial_join_link"}


def test_demo_series_keeps_ten_oclock_across_the_change_to_summer_time(runner, db):
    sessions = _demo(runner)["course"]["sessions"]

    series = [datetime.fromisoformat(s["starts_at"]) for s in sessions if not s["trial"] and not s["past"]]
    assert len(series) == 6
    assert {(d.weekday(), d.hour, d.minute) for d in series} == {(1, 10, 0)}
    assert [d.utcoffset().total_seconds() / 3600 for d in series] in ([1, 1, 1, 2, 2, 2], [2, 2, 2, 1, 1, 1])
    assert [s["trial"] for s in sessions].count(True) == 1
    assert [s["past"] for s in sessions].count(True) == 1


def test_demo_twice_creates_no_duplicates_and_moves_only_the_trial(runner, db):
    first = _demo(runner)
    counts = _counts(db)

    second = _demo(runner)

    assert _counts(db) == counts
    assert second["trainer"]["api_token"] == first["trainer"]["api_token"]
    moved = [(a["id"], a["starts_at"] != b["starts_at"])
             for a, b in zip(first["course"]["sessions"], second["course"]["sessions"], strict=True)]
    assert [m for _id, m in moved if m] in ([], [True])  # same minute twice is possible
    assert {i for i, m in moved if m} <= {s["id"] for s in first["course"]["sessions"] if s["trial"]}


def test_demo_personal_links_open_each_parents_route_map(runner, client):
    info = _demo(runner)

    pages = [client.get(p["personal_link"].removeprefix("http://ouderkamer.test")) for p in info["parents"]]

    assert [r.status_code for r in pages] == [200, 200, 200]
    assert [p["name"] in r.get_data(as_text=True) for p, r in zip(info["parents"], pages)] == [True] * 3
    assert _demo(runner)["parents"] == info["parents"]


def test_demo_calendar_feed_and_trial_join_link_work(runner, client):
    info = _demo(runner)
    trial = next(s for s in info["course"]["sessions"] if s["trial"])

    for parent in info["parents"]:
        feed = client.get(parent["calendar_feed"].removeprefix("http://ouderkamer.test"))
        join = client.get(parent["trial_join_link"].removeprefix("http://ouderkamer.test"))
        lobby = client.get(join.headers["Location"])
        assert feed.status_code == 200
        assert feed.headers["Content-Type"] == "text/calendar; charset=utf-8"
        assert f"ouderkamer-session-{trial['id']}@ouderkamer.test" in feed.get_data(as_text=True)
        assert join.status_code == 302
        assert lobby.status_code == 200


def test_demo_api_token_works_against_the_api(runner, client):
    info = _demo(runner)

    response = client.get("/api/v1/courses", headers={"Authorization": f"Bearer {info['trainer']['api_token']}"})

    assert [c["id"] for c in response.get_json()["courses"]] == [info["course"]["id"]]


def test_demo_if_empty_keeps_existing_data(runner, trainer, db):
    result = runner.invoke(args=["demo", "--if-empty"])

    assert result.exit_code == 0
    assert "existing data kept" in result.output
    assert db.session.query(Course).count() == 0


@pytest.mark.adapter
def test_demo_recording_of_the_past_session_waits_for_review_then_reaches_the_route_map(runner, client, db):
    need_program("ffmpeg")

    first = _demo(runner, recording=True)
    second = _demo(runner, recording=True)

    past = next(s for s in first["course"]["sessions"] if s["past"])
    recording = db.session.get(Recording, first["recording"]["id"])
    route_map_url = first["parents"][0]["personal_link"].removeprefix("http://ouderkamer.test")
    before = client.get(route_map_url).get_data(as_text=True)
    assert second["recording"]["id"] == recording.id
    assert (recording.session_id, recording.state) == (past["id"], RecordingState.ready_for_review)
    assert f"/watch/{recording.uuid}" not in before
    review.publish_to_parents(recording)
    db.session.commit()
    assert f"/watch/{recording.uuid}" in client.get(route_map_url).get_data(as_text=True)
