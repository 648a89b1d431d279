"""The lobby poll (`join.json`, issue 18): one indexed read, no token minted once cached, one join click a visit.

Counted (SQL statements, token mints, attendance rows), never timed.
"""

import re
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import func, select

from core.db import utcnow
from core.jitsi import tokens
from courses import links
from sessions import scheduling
from sessions.models import AttendanceEvent, AttendanceKind
from tests.fixtures.sql import statements

SECRET = "p" * 40
JITSI = {"JITSI_BASE_URL": "https://meet.example.org", "JITSI_APP_ID": "ouderkamer", "JITSI_APP_SECRET": SECRET,
         "JITSI_TOKEN_GRACE_MINUTES": "30"}


@pytest.fixture
def token_mode(app, monkeypatch):
    """Self-hosted Jitsi with tokens for this test, and a count of the tokens actually signed."""
    for name, value in JITSI.items():
        monkeypatch.setitem(app.config, name, value)
    minted = []
    real = tokens.mint_token

    def counting(*args, **kwargs):
        minted.append(kwargs.get("user_id"))
        return real(*args, **kwargs)

    monkeypatch.setattr(tokens, "mint_token", counting)
    return minted


@pytest.fixture
def lobby(db, course, create_parent, create_workshop_session):
    """Sanne's lobby of a session starting in ten minutes (open); returns (parent, session, url builder)."""
    parent = create_parent("Sanne", course=course)
    url = links.issue_personal_link(parent, token="poll-sanne-" + "q" * 30)
    db.session.commit()
    session = create_workshop_session(starts_at=(utcnow() + timedelta(minutes=10)).replace(second=0, microsecond=0))
    token = url.rsplit("/", 1)[1]
    return parent, session, lambda tail="": f"/p/{token}/s/{session.id}{tail}"


def _clicks(db, parent) -> int:
    query = select(func.count()).select_from(AttendanceEvent).where(
        AttendanceEvent.parent_id == parent.id, AttendanceEvent.kind == AttendanceKind.join_click)
    return db.session.scalar(query)


def _tables(seen: list[str]) -> list[str]:
    return [m[1] for s in seen if (m := re.match(r"\s*SELECT\b.*?\bFROM\s+(\w+)", s, re.S | re.I))]


def test_a_poll_after_the_lobby_page_is_one_indexed_read_and_mints_no_token(db, client, token_mode, lobby):
    parent, session, url = lobby
    page = client.get(url())
    minted_by_page = list(token_mode)

    with statements(db) as seen:
        answers = [client.get(url("/join.json")) for _ in range(3)]

    bodies = [a.get_json() for a in answers]
    claims = jwt.decode(bodies[0]["setup"]["options"]["jwt"], SECRET, algorithms=["HS256"], audience="ouderkamer")
    assert page.status_code == 200 and minted_by_page == [f"parent-{parent.id}"]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len(seen) == 3 and _tables(seen) == ["parents"] * 3  # the resolver's read, nothing else
    assert token_mode == minted_by_page  # no token signed by the polls
    assert claims["room"] == session.room_name and bodies[0]["state"] == "open"
    assert bodies[0] == bodies[2]


def test_polls_without_the_page_mint_once_and_log_one_join_click(db, client, token_mode, lobby, create_parent):
    parent, session, url = lobby
    jan = create_parent("Jan", course=None, email="jan@example.org")  # not invited
    jans = links.issue_personal_link(jan, token="poll-jan-" + "j" * 30).rsplit("/", 1)[1]
    db.session.commit()

    first = client.get(url("/join.json"))
    with statements(db) as seen:
        later = [client.get(url("/join.json")).status_code for _ in range(5)]
    strangers = [client.get(f"/p/{jans}/s/{session.id}/join.json").status_code for _ in range(2)]

    assert first.status_code == 200 and later == [200] * 5
    assert len(token_mode) == 1
    assert len(seen) == 5
    assert _clicks(db, parent) == 1
    assert strangers == [404, 404]  # Sanne's pass is hers alone


def test_one_join_click_per_visit_of_the_lobby_page_however_often_it_polls(db, client, token_mode, lobby):
    parent, _session, url = lobby

    client.get(url())
    for _ in range(4):
        client.get(url("/join.json"))
    client.get(url())  # a second visit (the page opened again)
    client.get(url("/join.json"))

    assert _clicks(db, parent) == 2


def test_a_token_minted_again_for_the_same_window_comes_from_the_cache(app, token_mode, lobby):
    parent, session, _url = lobby
    from core.cache import get_cache
    from core.jitsi import get_jitsi

    claims = {"room": session.room_name, "user_id": f"parent-{parent.id}", "name": "Sanne", "email": None,
              "moderator": False, "opens_at": session.opens_at, "ends_at": session.ends_at}
    first = tokens.cached_token(get_jitsi(), get_cache(), **claims)
    again = tokens.cached_token(get_jitsi(), get_cache(), **claims)
    renamed = tokens.cached_token(get_jitsi(), get_cache(), **(claims | {"name": "Sanne B."}))

    assert first == again != renamed
    assert len(token_mode) == 2


def test_a_cancelled_session_outdates_the_pass_at_once(db, client, token_mode, lobby):
    _parent, session, url = lobby
    client.get(url("/join.json"))

    scheduling.cancel_session(session)
    db.session.commit()
    cancelled = client.get(url("/join.json"))
    with statements(db) as seen:
        again = client.get(url("/join.json"))

    assert (cancelled.status_code, cancelled.get_json()) == (410, {"state": "cancelled"})
    assert (again.status_code, len(seen)) == (410, 1)


def test_a_waiting_lobby_answers_from_its_pass_until_the_room_opens(db, client, token_mode, lobby,
                                                                     create_workshop_session):
    parent, _open, url = lobby
    later = create_workshop_session(starts_at=utcnow() + timedelta(hours=2))
    poll = url("/join.json").replace(f"/s/{_open.id}/", f"/s/{later.id}/")

    first = client.get(poll)
    with statements(db) as seen:
        again = client.get(poll)

    assert (first.status_code, again.status_code) == (409, 409)
    assert 6300 - 60 <= again.get_json()["opens_in"] <= 6300
    assert len(seen) == 1 and token_mode == [] and _clicks(db, parent) == 0



def test_a_poll_through_the_calendar_token_of_an_invite_is_one_read_too(db, client, token_mode, lobby):
    parent, session, _url = lobby
    url = f"/p/{links.parent_feed_token(parent)}/s/{session.id}/join.json"
    client.get(url)

    with statements(db) as seen:
        again = client.get(url)

    assert again.status_code == 200
    assert len(seen) == 1 and _tables(seen) == ["parents"]
