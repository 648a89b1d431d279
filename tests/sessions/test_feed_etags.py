"""A feed's ETag from one indexed read (issue 10): cheap revalidation, and a tag that still sees every change."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.db import utcnow
from courses import services as courses
from courses.links import parent_feed_token, reset_feed_token
from sessions import feed_etags
from sessions.scheduling import set_invitees
from tests.fixtures.sql import count_statements


@pytest.fixture
def parent(course, create_parent):
    return create_parent("Sanne", course=course)


@pytest.fixture
def token(db, parent):
    value = parent_feed_token(parent)
    db.session.commit()
    return value


@pytest.fixture(autouse=True)
def empty_cache():
    feed_etags._cache.clear()
    yield
    feed_etags._cache.clear()


def _weekly(create_workshop_session, count: int, **kwargs):
    first = (utcnow() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    return [create_workshop_session(starts_at=first + timedelta(weeks=i), title=f"Week {i}", **kwargs)
            for i in range(count)]


def test_revalidation_costs_one_statement_however_many_sessions(db, client, create_workshop_session, token):
    _weekly(create_workshop_session, 12)
    etag = client.get(f"/c/{token}.ics").headers["ETag"]

    statements = count_statements(db, lambda: client.get(f"/c/{token}.ics", headers={"If-None-Match": etag}))

    assert statements == 1


def test_building_a_feed_costs_the_same_statements_for_2_or_12_sessions(db, client, create_workshop_session,
                                                                         token):
    _weekly(create_workshop_session, 2)
    few = count_statements(db, lambda: client.get(f"/c/{token}.ics"))
    _weekly(create_workshop_session, 10)

    many = count_statements(db, lambda: client.get(f"/c/{token}.ics"))

    assert many == few


def test_unchanged_feed_is_served_from_memory_after_one_indexed_read(db, client, create_workshop_session, token):
    _weekly(create_workshop_session, 3)
    first = client.get(f"/c/{token}.ics")

    again = []
    statements = count_statements(db, lambda: again.append(client.get(f"/c/{token}.ics")))

    assert statements == 1
    assert (again[0].status_code, again[0].data, again[0].headers["ETag"]) == (200, first.data, first.headers["ETag"])


def test_etag_changes_when_the_parent_is_chosen_for_a_session(db, client, course, create_parent,
                                                              create_workshop_session, parent, token):
    other = create_parent("Ayse", course=course, email="ayse@example.org")
    session = create_workshop_session(invitees=[other])
    before = client.get(f"/c/{token}.ics")

    set_invitees(session, [other, parent])
    db.session.commit()
    after = client.get(f"/c/{token}.ics", headers={"If-None-Match": before.headers["ETag"]})

    assert b"BEGIN:VEVENT" not in before.data
    assert after.status_code == 200 and b"BEGIN:VEVENT" in after.data


def test_etag_changes_when_the_parent_enrols_in_another_course(db, client, create_course, create_workshop_session,
                                                               parent, token):
    other = create_course("Samen spelen")
    create_workshop_session(course=other, title="Speelochtend")
    before = client.get(f"/c/{token}.ics").headers["ETag"]

    courses.enrol(other, parent)
    db.session.commit()
    after = client.get(f"/c/{token}.ics", headers={"If-None-Match": before})

    assert after.status_code == 200 and b"Speelochtend" in after.data


def test_etag_changes_when_a_session_is_deleted(db, client, create_workshop_session, token):
    first, _second = _weekly(create_workshop_session, 2)
    before = client.get(f"/c/{token}.ics").headers["ETag"]

    db.session.delete(first)
    db.session.commit()
    after = client.get(f"/c/{token}.ics", headers={"If-None-Match": before})

    assert after.status_code == 200 and after.data.count(b"BEGIN:VEVENT") == 1


def test_unknown_or_reset_token_has_no_version(db, app, parent, token):
    reset_feed_token(parent=parent)
    db.session.commit()

    assert feed_etags.feed_version(token) is None
    assert feed_etags.feed_version("not-a-token") is None
